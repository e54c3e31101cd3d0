// Outlier clipping that never hides what the user navigated to: the y range that ignores
// outliers is widened to the values of "pinned" steps (the drill-down's step, a marked sample's
// steps), so a spike opened from the anomaly list is drawn, not clipped to a caret.
// Pure (test/model/clipping.test.ts).
import type { Layer } from "./step-layers";

/** Steps of one run the y range must show. */
export interface Pin {
  run: string;
  steps: readonly number[];
}

/** The finite values drawn at the pinned steps: a run's line point or column extreme at that
 * step (a reduced series' step that is not drawn has no value here), a placed validation run's
 * batch. Groups are left alone (their members' steps are not drawn one by one). */
export function pinnedValues(layers: readonly Layer[], pins: readonly Pin[]): number[] {
  const out: number[] = [];
  for (const pin of pins) {
    if (!pin.steps.length) continue;
    const want = new Set(pin.steps);
    for (const l of layers) {
      if (l.kind === "group" || l.run !== pin.run) continue;
      if (l.kind === "run") {
        const e = l.envelope;
        e.lineStep.forEach((s, i) => want.has(s) && out.push(e.lineY[i]));
        e.hiStep.forEach((s, i) => want.has(s) && out.push(e.hi[i]));
        e.loStep.forEach((s, i) => want.has(s) && out.push(e.lo[i]));
      } else {
        for (const b of l.bands) b.steps.forEach((s, k) => want.has(s) && out.push(b.values[k]));
      }
    }
  }
  return out.filter((v) => Number.isFinite(v));
}

/** `range` widened to hold `values`, the side that grew padded by 5% of the new span (a log
 * scale: to whole decades, values ≤ 0 left out). Unchanged when every value is inside. */
export function includeValues(range: [number, number], values: readonly number[], log: boolean): [number, number] {
  let [lo, hi] = range;
  let vlo = Infinity, vhi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < vlo) vlo = v;
    if (v > vhi) vhi = v;
  }
  if (vlo >= lo && vhi <= hi) return range;
  if (log) {
    if (vlo < lo) lo = Math.pow(10, Math.floor(Math.log10(vlo)));
    if (vhi > hi) hi = Math.pow(10, Math.ceil(Math.log10(vhi)));
    return [lo, hi > lo ? hi : lo * 10];
  }
  const span = Math.max(vhi, hi) - Math.min(vlo, lo);
  if (vlo < lo) lo = vlo - 0.05 * span;
  if (vhi > hi) hi = vhi + 0.05 * span;
  return [lo, hi];
}

/** The y range with the pinned steps' values in it. */
export function pinnedYRange(range: [number, number], layers: readonly Layer[], pins: readonly Pin[], log: boolean): [number, number] {
  return pins.length ? includeValues(range, pinnedValues(layers, pins), log) : range;
}
