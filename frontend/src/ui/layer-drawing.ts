// How the layers of a Steps chart (model/step-layers.ts) are drawn: the chart's uPlot options,
// the layers' lines as uPlot series, and on the canvas what a series cannot show: M4 envelopes,
// min…max bands of groups and evaluations, non-finite markers, carets for values beyond the y
// range, and the marked sample's steps; a constant chart says its values in words. Painting is
// in device pixels; `yPos` maps a value to a canvas y (clamped as the chart needs).
import uPlot from "uplot";
import type { EvalBand } from "../model/axes";
import { withAlpha } from "../model/colors";
import type { Envelope, Marker } from "../model/envelope";
import type { Aggregate } from "../model/groups";
import type { Axis } from "../model/axes";
import { fmtNum } from "../model/format";
import type { Theme, XMode } from "../model/settings";
import { beyondRange, constantLevels, Layer } from "../model/step-layers";
import { baseAxes } from "./chart-axes";
import { clipToPlot, selectingCursor } from "./chart-kit";
import { clear, h, swatch } from "./dom";

type YPos = (v: number) => number;

/** The uPlot options of a Steps chart: its axes (one tick per level on a constant chart), scales
 * (x from `xRange`, y from `yRange`), the layers' series, and hooks: painting under the lines,
 * then `draw`, the drag (`select`) and the cursor. */
export function layerPlotOptions(o: {
  axis: Axis; mode: XMode; theme: Theme; log: boolean; smoothing: number; compact: boolean; seriesLayer: readonly (Layer | null)[];
  width: number; height: number; layers: () => readonly Layer[]; xRange: () => [number, number] | null; yRange: () => [number, number];
  hooks: { draw: (u: uPlot) => void; select: (u: uPlot) => void; cursor: (u: uPlot) => void };
}): uPlot.Options {
  const { axis, mode, log } = o;
  const xLabel = axis === "val" ? "validation batch" : mode === "relstep" ? "steps since the run's start"
    : mode === "relwall" ? "time since the run's start" : "";
  const axes = baseAxes(o.theme, mode, xLabel);
  if (o.compact) axes[1] = { ...axes[1], splits: () => constantLevels(o.layers()) };
  const logRange = (): [number, number] => { const [lo, hi] = o.yRange(); return lo > 0 && hi > lo ? [lo, hi] : [0.1, 10]; };
  return {
    width: o.width, height: o.height,
    legend: { show: false },
    padding: [10, mode === "wall" ? 30 : 14, 0, 0],
    cursor: selectingCursor(axis),
    scales: {
      x: { time: mode === "wall", range: (_u, mn, mx) => o.xRange() ?? [mn, mx] },
      y: log ? { distr: 3, log: 10, range: logRange } : { range: o.yRange },
    },
    axes,
    series: layerSeries(o.seriesLayer, o.smoothing > 0, o.theme.bg),
    hooks: {
      drawAxes: [(u) => paintUnderLines(u, o.layers(), { log, floor: o.yRange()[0], faint: o.smoothing > 0 })],
      draw: [o.hooks.draw],
      setSelect: [o.hooks.select],
      setCursor: [o.hooks.cursor],
    },
  };
}

/** A constant chart (`layers` given) says its values in words (the plot is only as tall as a
 * strip); else a message saying so is cleared. */
export function showConstants(msgEl: HTMLElement, layers: readonly Layer[] | null): void {
  if (!layers) {
    if (msgEl.dataset.kind === "constant") { msgEl.textContent = ""; delete msgEl.dataset.kind; }
    return;
  }
  clear(msgEl);
  msgEl.dataset.kind = "constant";
  msgEl.append("constant: ");
  layers.forEach((l, i) => {
    if (l.kind === "run") msgEl.append(i ? " · " : "", swatch(l.color), h("span", { text: `${fmtNum(l.envelope.yMin)} ` }), h("span", { class: "tbb-muted", text: l.run }));
  });
}

/** Under the lines: M4 envelopes of reduced runs, group bands, evaluation bands (values ≤ 0 at
 * `floor` on a log scale). */
export function paintUnderLines(u: uPlot, layers: readonly Layer[], o: { log: boolean; floor: number; faint: boolean }): void {
  const c = clipToPlot(u);
  const yPos = (v: number) => u.valToPos(o.log && !(v > 0) ? o.floor : Math.max(Math.min(v, 1e300), -1e300), "y", true);
  for (const l of layers) {
    if (l.kind === "run" && l.series.reduced) paintEnvelope(u, c, l.envelope, l.color, o.faint, yPos);
    else if (l.kind === "group") paintGroupBand(u, c, l.summary, l.color, yPos);
    else if (l.kind === "eval") paintEvalBands(u, c, l.bands, l.xs, l.color, yPos);
  }
  c.restore();
}

/** Over the lines, a little beyond the plot's top and bottom: non-finite markers, carets for
 * values beyond the y range (none below on a log scale), the marked sample's steps. */
export function paintOverLines(
  u: uPlot, layers: readonly Layer[], o: { yRange: [number, number]; log: boolean; bad: string; marks: { xs: number[]; color: string } | null },
): void {
  const { left, top, width, height } = u.bbox;
  const c = u.ctx;
  const px = uPlot.pxRatio;
  c.save();
  c.beginPath();
  c.rect(left, top - 6 * px, width, height + 12 * px);
  c.clip();
  for (const l of layers) if (l.kind === "run") paintNonFinite(u, c, l.envelope.markers, l.color, o.bad);
  for (const l of layers) {
    const { above, below } = beyondRange(l, o.yRange[0], o.yRange[1]);
    paintCarets(u, c, above, "top", l.color);
    if (!o.log) paintCarets(u, c, below, "bottom", l.color);
  }
  if (o.marks) paintMarkedSteps(u, c, o.marks.xs, o.marks.color);
  c.restore();
}

/** uPlot's series of the layers (`seriesLayer[i]` draws series i; 0 is x): each run's line
 * (faint under its smoothed line, when smoothing), each group's mean, each evaluation's mean. */
function layerSeries(seriesLayer: readonly (Layer | null)[], smoothing: boolean, background: string): uPlot.Series[] {
  const series: uPlot.Series[] = [{ label: "x" }];
  const smoothed = new Set<Layer>();
  for (const l of seriesLayer.slice(1)) {
    if (!l) continue;
    if (l.kind === "run") {
      const isSmooth = smoothed.has(l);
      if (!isSmooth && l.smoothed) smoothed.add(l);
      series.push(isSmooth
        ? { label: `${l.run} (smoothed)`, stroke: l.color, width: 2, spanGaps: true, points: { show: false } }
        : { label: l.run, stroke: smoothing ? withAlpha(l.color, 0.45) : l.color, width: 1.25, spanGaps: true, points: { show: false } });
    } else if (l.kind === "group") {
      series.push({ label: `${l.name} (mean)`, stroke: l.color, width: 2, spanGaps: true, points: { show: false } });
    } else {
      series.push({
        label: `${l.run} (evaluation mean)`, stroke: l.color, width: 1.5, dash: [5, 3], spanGaps: true,
        points: { show: true, size: 7, fill: l.color, stroke: background, width: 1.5 },
      });
    }
  }
  return series;
}

/** A reduced run: each pixel column shaded from its min to its max, and outlined through every
 * column's max and every column's min (a lone spike stays a crisp line at any zoom). */
function paintEnvelope(u: uPlot, c: CanvasRenderingContext2D, e: Envelope, color: string, faint: boolean, yPos: YPos): void {
  const px = uPlot.pxRatio;
  const minW = Math.max(1, px);
  const n = e.x0.length;
  const xa = new Float64Array(n), xb = new Float64Array(n), ya = new Float64Array(n), yb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xa[i] = u.valToPos(e.x0[i], "x", true);
    xb[i] = u.valToPos(e.x1[i], "x", true);
    ya[i] = yPos(e.hi[i]);
    yb[i] = yPos(e.lo[i]);
  }
  c.fillStyle = withAlpha(color, faint ? 0.18 : 0.3);
  for (let i = 0; i < n; i++) {
    let x0 = xa[i], w = xb[i] - xa[i], y0 = ya[i], hh = yb[i] - ya[i];
    if (w < minW) { x0 -= (minW - w) / 2; w = minW; }
    if (hh < minW) { y0 -= (minW - hh) / 2; hh = minW; }
    c.fillRect(x0, y0, w, hh);
  }
  c.strokeStyle = withAlpha(color, faint ? 0.35 : 0.6);
  c.lineWidth = px;
  for (const ys of [ya, yb]) {
    c.beginPath();
    for (let i = 0; i < n; i++) {
      const xm = (xa[i] + xb[i]) / 2;
      if (i === 0) c.moveTo(xm, ys[i]);
      else c.lineTo(xm, ys[i]);
    }
    c.stroke();
  }
}

/** A group: the area between its members' min and max. */
function paintGroupBand(u: uPlot, c: CanvasRenderingContext2D, a: Aggregate, color: string, yPos: YPos): void {
  if (!a.x.length) return;
  c.fillStyle = withAlpha(color, 0.22);
  c.beginPath();
  for (let i = 0; i < a.x.length; i++) {
    const x = u.valToPos(a.x[i], "x", true), y = yPos(a.hi[i]);
    if (i === 0) c.moveTo(x, y); else c.lineTo(x, y);
  }
  for (let i = a.x.length - 1; i >= 0; i--) c.lineTo(u.valToPos(a.x[i], "x", true), yPos(a.lo[i]));
  c.closePath();
  c.fill();
}

/** A placed validation run: per evaluation a narrow bar from its batches' min to max, capped. */
function paintEvalBands(u: uPlot, c: CanvasRenderingContext2D, bands: readonly EvalBand[], xs: readonly number[], color: string, yPos: YPos): void {
  const px = uPlot.pxRatio;
  const minW = Math.max(1, px);
  c.fillStyle = withAlpha(color, 0.35);
  c.strokeStyle = color;
  c.lineWidth = px;
  bands.forEach((b, i) => {
    if (!(b.n > 0)) return;
    const x = u.valToPos(xs[i], "x", true);
    const y0 = yPos(b.max), y1 = yPos(b.min);
    const w = 5 * px;
    c.fillRect(x - w / 2, y0, w, Math.max(minW, y1 - y0));
    c.beginPath();
    c.moveTo(x - w / 2, y0); c.lineTo(x + w / 2, y0);
    c.moveTo(x - w / 2, y1); c.lineTo(x + w / 2, y1);
    c.stroke();
  });
}

/** Non-finite values: +Inf a triangle down from the top, -Inf up from the bottom, NaN a square at
 * the top; filled in `bad`, outlined in the run's colour. */
function paintNonFinite(u: uPlot, c: CanvasRenderingContext2D, markers: readonly Marker[], color: string, bad: string): void {
  const { left, top, width, height } = u.bbox;
  const px = uPlot.pxRatio;
  const s = 5 * px;
  for (const m of markers) {
    const x = u.valToPos(m.x, "x", true);
    if (x < left - 1 || x > left + width + 1) continue;
    c.fillStyle = bad;
    c.strokeStyle = color;
    c.lineWidth = px;
    c.beginPath();
    if (m.kind === "-inf") {
      const y = top + height;
      c.moveTo(x - s, y - s * 1.6); c.lineTo(x + s, y - s * 1.6); c.lineTo(x, y);
    } else if (m.kind === "inf") {
      c.moveTo(x - s, top + s * 1.6); c.lineTo(x + s, top + s * 1.6); c.lineTo(x, top);
    } else {
      c.rect(x - s * 0.7, top, s * 1.4, s * 1.4);
    }
    c.closePath();
    c.fill();
    c.stroke();
  }
}

/** Small triangles on an edge at each x (at most one per 4 px), pointing at it: values beyond
 * the y range. */
function paintCarets(u: uPlot, c: CanvasRenderingContext2D, xs: readonly number[], edge: "top" | "bottom", color: string): void {
  const { top, height } = u.bbox;
  const px = uPlot.pxRatio;
  const tip = edge === "top" ? top : top + height, base = edge === "top" ? top + 5 * px : top + height - 5 * px;
  c.fillStyle = color;
  let last = -Infinity;
  for (const x of xs) {
    const xp = u.valToPos(x, "x", true);
    if (xp - last < 4 * px) continue;
    last = xp;
    c.beginPath();
    c.moveTo(xp - 3 * px, base); c.lineTo(xp + 3 * px, base); c.lineTo(xp, tip);
    c.closePath();
    c.fill();
  }
}

/** The marked sample's steps (their xs): a faint full-height line each and a mark on the bottom
 * edge (at most one per 3 px), in its run's colour. */
function paintMarkedSteps(u: uPlot, c: CanvasRenderingContext2D, xs: readonly number[], color: string): void {
  const { left, top, width, height } = u.bbox;
  const px = uPlot.pxRatio;
  c.lineWidth = px;
  c.strokeStyle = withAlpha(color, 0.45);
  c.fillStyle = color;
  let last = -Infinity;
  for (const x of xs) {
    const xp = u.valToPos(x, "x", true);
    if (xp < left || xp > left + width) continue;
    c.beginPath();
    c.moveTo(Math.round(xp) + 0.5, top);
    c.lineTo(Math.round(xp) + 0.5, top + height);
    c.stroke();
    if (xp - last < 3 * px) continue;
    last = xp;
    c.beginPath();
    c.moveTo(xp - 4 * px, top + height - 7 * px); c.lineTo(xp + 4 * px, top + height - 7 * px); c.lineTo(xp, top + height);
    c.closePath();
    c.fill();
  }
}
