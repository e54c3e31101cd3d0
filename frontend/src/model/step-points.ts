// What is read off the layers of a Steps chart at a point: the step under an x, the x of a step,
// the points a click may mean, and the tooltip's value of every layer at the hovered x (exact
// where known, else the nearest drawn point, marked ≈). Pure (test/model/step-points.test.ts).
import type { Axis } from "./axes";
import { columnAt, columnsNear } from "./envelope";
import { fmtNum, fmtStep, fmtTip } from "./format";
import { nearestIndex, wallToStep } from "./series";
import type { RunMeta } from "./settings";
import { EvalLayer, isStepsAxis, Layer, RunLayer, XPlacement, xOfPoint } from "./step-layers";
import type { TipRow } from "./tip-rows";

/** The step of a run at a wall-time x (its nearest loaded point); NaN without points. */
function wallStep(l: RunLayer, x: number, place: XPlacement): number {
  const w0 = place.mode === "relwall" ? place.wall0(l.run) ?? 0 : 0;
  return wallToStep(l.series.walls, l.series.steps, x + w0);
}

/** The step of a run under x. */
export function stepUnder(l: RunLayer, x: number, place: XPlacement): number {
  if (place.mode === "step") return Math.round(x);
  if (place.mode === "relstep") return Math.round(x) + place.stepOffset(l.run);
  return wallStep(l, x, place);
}

/** An x of a chart as a step of the view (wall-time axes map through a run's points). */
export function viewStepAt(layers: readonly Layer[], x: number, place: XPlacement): number {
  if (isStepsAxis(place.mode)) return Math.round(x);
  const l = layers.find((q): q is RunLayer => q.kind === "run" && q.series.walls.length > 0);
  return l ? wallStep(l, x, place) : NaN;
}

/** x of a run's step on a chart of `axis` (a placed validation step: its evaluation's); null
 * when the run is not on that axis or the step not drawn. */
export function stepX(layers: readonly Layer[], meta: RunMeta | undefined, axis: Axis, place: XPlacement, run: string, step: number): number | null {
  if (!meta || (axis === "val") !== (meta.axis === "val")) return null;
  if (meta.placed) {
    const l = layers.find((q): q is EvalLayer => q.kind === "eval" && q.run === run);
    if (!l) return null;
    const i = l.bands.findIndex((b) => b.steps.includes(step));
    return i >= 0 ? l.xs[i] : null;
  }
  if (place.mode === "step") return step;
  if (place.mode === "relstep") return step - place.stepOffset(run);
  const l = layers.find((q): q is RunLayer => q.kind === "run" && q.run === run)
    ?? layers.find((q): q is RunLayer => q.kind === "run");
  if (!l || !l.series.steps.length) return null;
  const i = nearestIndex(l.series.steps, step);
  return xOfPoint(place, l.run, l.series.steps[i], l.series.walls[i]);
}

/** A point of a layer, in data units, with the step it opens. */
export interface LayerPoint {
  run: string;
  x: number;
  y: number;
  step: number;
}

/** The points a click at x may mean: of a run, its line points within `near` (at least the
 * nearest two), the extremes of its columns within `slack` and its non-finite markers (±Inf at
 * an edge, NaN at the top); of a group, its first member's step at the nearest x; of a placed
 * validation run, every batch of every evaluation. */
export function pointsNear(layers: readonly Layer[], x: number, near: number, slack: number, place: XPlacement): LayerPoint[] {
  const out: LayerPoint[] = [];
  const add = (run: string, px: number, y: number, step: number) => out.push({ run, x: px, y, step });
  for (const l of layers) {
    if (l.kind === "run") {
      const env = l.envelope;
      const i = nearestIndex(env.lineX, x);
      let a = i, b = i;
      while (a > 0 && (a > i - 1 || env.lineX[a - 1] >= x - near)) a--;
      while (b >= 0 && b < env.lineX.length - 1 && (b < i + 1 || env.lineX[b + 1] <= x + near)) b++;
      for (let j = Math.max(0, a); j <= b && j < env.lineX.length; j++) add(l.run, env.lineX[j], env.lineY[j], env.lineStep[j]);
      if (l.series.reduced) {
        for (const c of columnsNear(env, x, slack)) {
          add(l.run, env.hiX[c], env.hi[c], env.hiStep[c]);
          add(l.run, env.loX[c], env.lo[c], env.loStep[c]);
        }
      }
      for (const m of env.markers) add(l.run, m.x, m.kind === "-inf" ? -Infinity : m.kind === "inf" ? Infinity : NaN, m.step);
    } else if (l.kind === "group") {
      // a group opens its members' step (they are compared side by side there)
      const s = l.series[0];
      if (!s || !s.steps.length) continue;
      const i = nearestIndex(l.summary.x, x);
      if (i < 0) continue;
      const j = nearestIndex(Array.from(s.steps, (v, k) => xOfPoint(place, s.run, v, s.walls[k])), l.summary.x[i]);
      for (const v of [l.summary.mean[i], l.summary.lo[i], l.summary.hi[i]]) add(s.run, l.summary.x[i], v, s.steps[j]);
    } else {
      l.bands.forEach((b, i) => b.steps.forEach((st, k) => add(l.run, l.xs[i], b.values[k], st)));
    }
  }
  return out;
}

/** The key of a run's step in a map of exact values. */
export const exactKey = (run: string, step: number) => `${run}\u0000${step}`;

export interface HoverContext {
  place: XPlacement;
  /** exact values fetched for steps under the cursor (exactKey) */
  exact: ReadonlyMap<string, number>;
  /** the width the layers were loaded for: a run's points are this far apart at most */
  loadedWidth: number;
  /** x units of 12 pixels: how far a group's or evaluation's x may be from the cursor */
  pxSlack: number;
  /** every digit of the values (Shift held), else 5 significant ones */
  allDigits?: boolean;
}

/** Every run's (group's, evaluation's) value at x. */
export function tipRowsAt(layers: readonly Layer[], x: number, hover: HoverContext): TipRow[] {
  const rows: TipRow[] = [];
  const { place, exact, loadedWidth, pxSlack } = hover;
  const fmt = hover.allDigits ? fmtNum : fmtTip;
  for (const l of layers) {
    if (l.kind === "run") {
      const step = stepUnder(l, x, place);
      const s = l.series;
      const tol = (s.end - s.start + 1) / Math.max(1, loadedWidth);
      if (!Number.isFinite(step) || step < s.start - tol || step > s.end + tol) continue;
      const e = l.envelope;
      let value = NaN, isExact = false, at = step;
      const k = exactKey(l.run, step);
      if (exact.has(k)) { value = exact.get(k)!; isExact = true; }
      else {
        const i = nearestIndex(e.lineStep, step);
        if (i >= 0) { value = e.lineY[i]; at = e.lineStep[i]; isExact = !s.reduced || at === step; }
        for (const m of e.markers) if (m.step === step) { value = m.kind === "nan" ? NaN : m.kind === "inf" ? Infinity : -Infinity; isExact = true; }
      }
      let note = place.mode === "step" ? "" : `step ${fmtStep(at)}`;
      if (s.reduced) {
        const c = columnAt(e, x, 0);
        if (c >= 0) note = `${note ? note + " · " : ""}col ${fmt(e.lo[c])}…${fmt(e.hi[c])}`;
      }
      rows.push({ color: l.color, label: l.run, value, text: (isExact ? "" : "≈ ") + fmt(value), note, bad: !Number.isFinite(value) });
    } else if (l.kind === "group") {
      const a = l.summary;
      const i = nearestIndex(a.x, x);
      if (i < 0 || Math.abs(a.x[i] - x) > Math.max(pxSlack, 1)) continue;
      rows.push({
        color: l.color, label: `${l.name} (${l.runs.length} runs)`, value: a.mean[i],
        text: (a.exact ? "" : "≈ ") + fmt(a.mean[i]), note: `${fmt(a.lo[i])}…${fmt(a.hi[i])} · n=${a.n[i]}`,
      });
    } else {
      const i = nearestIndex(l.xs, x);
      if (i < 0 || Math.abs(l.xs[i] - x) > pxSlack) continue;
      const b = l.bands[i];
      const ep = b.evaluation.epoch;
      rows.push({
        color: l.color, label: l.run, value: b.mean, text: `mean ${fmt(b.mean)}`,
        note: `${fmt(b.min)}…${fmt(b.max)} · ${b.n} batches${ep !== null ? ` · after epoch ${ep + 1}` : ""}`,
      });
    }
  }
  return rows;
}
