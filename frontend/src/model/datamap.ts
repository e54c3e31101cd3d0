// The Data Map of per-sample training dynamics (Swayamdipta 2020: confidence against
// variability), as data: the colour scales (AUM diverging, negative red; forgetting events
// sequential), the order points are drawn in, the point under the pointer, the binned map's cells
// when there are too many samples for points, and what a point, a cell and a presentation list
// say. Pure (test/model/datamap.test.ts).
import type { DataMapGrid, DynamicsPoints, Presentations } from "../api/types";
import { fmtNum, fmtShort } from "./format";
import { rampColor } from "./heat-colors";
import { quantileSorted } from "./ranges";
import type { TipRow } from "./tip-rows";

/** (run, output) of each run with per-sample dynamics among `plotted` (in their order, training
 * runs before validation runs), one per output ("" for a model's only one). */
export function dynamicsMembers(plotted: readonly string[], meta: (run: string) => { role: string | null; info: { dynamics?: readonly string[] } } | undefined): { run: string; output: string }[] {
  const outputs = (r: string) => meta(r)?.info.dynamics ?? [];
  const val = (r: string) => (meta(r)?.role === "validation" ? 1 : 0);
  return plotted.filter((r) => outputs(r).length).map((r, i) => ({ r, i })).sort((a, b) => val(a.r) - val(b.r) || a.i - b.i)
    .flatMap(({ r }) => outputs(r).map((output) => ({ run: r, output })));
}

/** What colours the points (and cells): their AUM or their forgetting events. */
export type MapColor = "aum" | "forgetting";

/** The axes' spans: confidence (a mean probability) on y, variability (the std of a probability,
 * at most 0.5) on x. */
export const CONFIDENCE_SPAN: [number, number] = [0, 1];
export const VARIABILITY_SPAN: [number, number] = [0, 0.5];

/** The colour scales of a map: AUM from -aum to +aum, forgetting events from 0 to forgetting. */
export interface MapScales {
  aum: number;
  forgetting: number;
}

/** The AUM scale, symmetric around 0: the 95th percentile of |AUM| over the finite values (a
 * few extreme margins do not wash the others out), at least 1e-3; 1 without a value. */
export function aumScale(values: ArrayLike<number>): number {
  const abs: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) abs.push(Math.abs(values[i]));
  if (!abs.length) return 1;
  abs.sort((a, b) => a - b);
  return Math.max(1e-3, quantileSorted(abs, 0.95));
}

/** The forgetting scale: the largest finite count, at least 1. */
export function forgettingScale(values: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]) && values[i] > m) m = values[i];
  return m;
}

export function mapScales(aum: ArrayLike<number>, forgetting: ArrayLike<number>): MapScales {
  return { aum: aumScale(aum), forgetting: forgettingScale(forgetting) };
}

/** One scale for several maps (the largest of each), so that a colour means one value in all. */
export function mergeScales(scales: readonly MapScales[]): MapScales {
  return { aum: Math.max(1e-3, ...scales.map((s) => s.aum)), forgetting: Math.max(1, ...scales.map((s) => s.forgetting)) };
}

/** The scales of a binned map (its cells' means). */
export function gridScales(grid: DataMapGrid): MapScales {
  const flat = (rows: Float64Array[]) => rows.flatMap((r) => Array.from(r));
  return mapScales(flat(grid.aum), flat(grid.forgetting));
}

const lerp = (a: number[], b: number[], t: number): [number, number, number] =>
  [Math.round(a[0] + (b[0] - a[0]) * t), Math.round(a[1] + (b[1] - a[1]) * t), Math.round(a[2] + (b[2] - a[2]) * t)];

/** The diverging AUM colour: red for negative (likely mislabelled), blue for positive, a neutral
 * grey at 0; saturated at ±scale. RGB bytes; NaN: grey. */
export function aumColor(v: number, scale: number, dark: boolean): [number, number, number] {
  const mid = dark ? [150, 150, 150] : [200, 200, 200];
  if (Number.isNaN(v)) return mid as [number, number, number];
  const t = Math.max(-1, Math.min(1, v / (scale > 0 ? scale : 1)));
  const red = dark ? [255, 90, 80] : [200, 20, 30];
  const blue = dark ? [90, 160, 255] : [30, 80, 190];
  return t < 0 ? lerp(mid, red, -t) : lerp(mid, blue, t);
}

/** The forgetting colour: the heatmaps' ramp from 0 to `max` events. RGB bytes. */
export function forgettingColor(v: number, max: number, dark: boolean): [number, number, number] {
  return rampColor(Number.isFinite(v) ? v / (max > 0 ? max : 1) : 0, dark);
}

/** The colour of a value in a mode. RGB bytes. */
export function mapColor(mode: MapColor, aum: number, forgetting: number, s: MapScales, dark: boolean): [number, number, number] {
  return mode === "aum" ? aumColor(aum, s.aum, dark) : forgettingColor(forgetting, s.forgetting, dark);
}

export const css = ([r, g, b]: readonly number[], a = 1): string => (a >= 1 ? `rgb(${r},${g},${b})` : `rgba(${r},${g},${b},${a})`);

/** The points that have a place on the map (finite confidence and variability), in the order
 * they are drawn: the most telling last, on top (by AUM: the most negative last; by
 * forgetting: the most forgotten last). */
export function drawOrder(p: DynamicsPoints, mode: MapColor): number[] {
  const idx: number[] = [];
  for (let i = 0; i < p.confidence.length; i++) if (Number.isFinite(p.confidence[i]) && Number.isFinite(p.variability[i])) idx.push(i);
  const key = (i: number) => {
    const v = mode === "aum" ? -p.aum[i] : p.forgetting[i];
    return Number.isFinite(v) ? v : -Infinity;
  };
  return idx.sort((a, b) => key(a) - key(b) || a - b);
}

/** The points within `maxDist` of (x, y) among `order` (positions in one unit, e.g. CSS
 * pixels), nearest first; of equals, the one drawn last (on top) first. */
export function pointsNear(xs: ArrayLike<number>, ys: ArrayLike<number>, order: readonly number[], x: number, y: number, maxDist: number): number[] {
  const near: { i: number; d: number; k: number }[] = [];
  order.forEach((i, k) => {
    const dx = xs[i] - x, dy = ys[i] - y, d = dx * dx + dy * dy;
    if (d <= maxDist * maxDist) near.push({ i, d, k });
  });
  return near.sort((a, b) => a.d - b.d || b.k - a.k).map((n) => n.i);
}

/** The point nearest to (x, y) (see pointsNear), -1 for none. */
export function nearestPoint(xs: ArrayLike<number>, ys: ArrayLike<number>, order: readonly number[], x: number, y: number, maxDist: number): number {
  return pointsNear(xs, ys, order, x, y, maxDist)[0] ?? -1;
}

/** A cell of the binned map: its bins, count, means and fill. */
export interface MapCell {
  /** variability bin (x) and confidence bin (y) */
  i: number;
  j: number;
  count: number;
  aum: number;
  forgetting: number;
  fill: string;
}

/** The non-empty cells of a binned map, coloured by the mode's mean (opacity by log count: a
 * cell of one sample is faint, the fullest opaque). */
export function mapCells(grid: DataMapGrid, mode: MapColor, s: MapScales, dark: boolean): MapCell[] {
  let most = 0;
  for (const row of grid.count) for (const c of row) if (c > most) most = c;
  const out: MapCell[] = [];
  grid.count.forEach((row, i) => row.forEach((count, j) => {
    if (!(count > 0)) return;
    const aum = grid.aum[i]?.[j] ?? NaN, forgetting = grid.forgetting[i]?.[j] ?? NaN;
    const alpha = 0.25 + 0.75 * Math.log1p(count) / Math.log1p(most);
    out.push({ i, j, count, aum, forgetting, fill: css(mapColor(mode, aum, forgetting, s, dark), Math.round(alpha * 100) / 100) });
  }));
  return out;
}

/** The cell of the binned map holding (variability, confidence), or null outside it. */
export function cellAt(grid: DataMapGrid, variability: number, confidence: number): { i: number; j: number } | null {
  const bin = (edges: number[], v: number) => {
    const n = edges.length - 1;
    if (n < 1 || !(v >= edges[0] && v <= edges[n])) return -1;
    return Math.min(n - 1, Math.floor((v - edges[0]) / (edges[n] - edges[0]) * n));
  };
  const i = bin(grid.variability, variability), j = bin(grid.confidence, confidence);
  return i >= 0 && j >= 0 ? { i, j } : null;
}

/** "3 → 8" (given label → prediction), "–" for what is not known. */
export function labelArrow(label: number | null | undefined, predicted: number | null | undefined): string {
  const v = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : fmtNum(x));
  return `${v(label)} → ${v(predicted)}`;
}

/** The label and the prediction are both known and differ. */
export function isWrong(label: number | null | undefined, predicted: number | null | undefined): boolean {
  return label !== null && label !== undefined && predicted !== null && predicted !== undefined
    && Number.isFinite(label) && Number.isFinite(predicted) && label !== predicted;
}

/** A sample's identity as the hover shows it: its id when recorded, else its whole fingerprint. */
export function identityText(fingerprint: string, id: number | null | undefined): string {
  return id !== null && id !== undefined && Number.isFinite(id) ? `id ${id} · ${fingerprint}` : fingerprint;
}

/** A point's label and prediction (null where the run sent none). */
export function pointLabels(p: DynamicsPoints, i: number): { label: number | null; predicted: number | null } {
  const at = (a: Float64Array | null) => (a && Number.isFinite(a[i]) ? a[i] : null);
  return { label: at(p.label), predicted: at(p.predicted) };
}

/** The rows of a point's tooltip, in this order (their `value`s keep it when sorted). */
export function pointTipRows(p: DynamicsPoints, i: number, color: string): TipRow[] {
  const { label, predicted } = pointLabels(p, i);
  const rows: [string, string, boolean?][] = [
    ["label → prediction", labelArrow(label, predicted), isWrong(label, predicted)],
    ["AUM", fmtShort(p.aum[i]), p.aum[i] < 0],
    ["confidence", fmtShort(p.confidence[i])],
    ["variability", fmtShort(p.variability[i])],
    ["forgetting", fmtNum(p.forgetting[i])],
  ];
  return rows.map(([label, text, bad], k) => ({ color: k === 0 ? color : "transparent", label, text, bad: !!bad, value: rows.length - k }));
}

/** The rows of a binned cell's tooltip, in this order. */
export function cellTipRows(c: MapCell): TipRow[] {
  const rows: [string, string][] = [["samples", fmtNum(c.count)], ["mean AUM", fmtShort(c.aum)], ["mean forgetting", fmtShort(c.forgetting)]];
  return rows.map(([label, text], k) => ({ color: k === 0 ? c.fill : "transparent", label, text, bad: k === 1 && c.aum < 0, value: rows.length - k }));
}

/** The title of a cell's tooltip: its confidence and variability ranges. */
export function cellTitle(grid: DataMapGrid, c: MapCell): string {
  const r = (e: number[], k: number) => `${fmtShort(e[k])}–${fmtShort(e[k + 1])}`;
  return `confidence ${r(grid.confidence, c.j)} · variability ${r(grid.variability, c.i)}`;
}

/** What a sample's presentation list says above it: how often it was seen, classified right,
 * forgotten (a correct presentation followed by a wrong one). */
export function presentationsSummary(p: Presentations): string {
  const n = p.step.length;
  let right = 0, known = 0, forgotten = 0;
  p.correct.forEach((c, k) => {
    if (c === null) return;
    known++;
    if (c) right++;
    if (!c && k > 0 && p.correct[k - 1] === true) forgotten++;
  });
  const seen = `${n} presentation${n === 1 ? "" : "s"}`;
  return known ? `${seen}, ${right} classified correctly, forgotten ${forgotten} time${forgotten === 1 ? "" : "s"}` : seen;
}

/** The count line of a map: how many samples, drawn as points or binned. */
export function mapNote(count: number, points: boolean, bins: number): string {
  const n = count.toLocaleString("en-US");
  return points ? `${n} samples` : `${n} samples in ${bins}×${bins} cells (too many to draw one by one)`;
}
