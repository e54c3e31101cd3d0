// How a histogram-over-steps heatmap maps bin counts to colours, a setting of the Distributions
// view: "log" (log count from 1 to the largest bin of all runs: the default), "step" (each step
// scaled to its own largest bin: the shape of every step shows, also where few samples are) or
// "quantile" (a bin's rank among all non-empty bins: the ramp's colours spread evenly over the
// data, where a log scale leaves most bins at its dark end). Pure (test/model/heat-norm.test.ts).
import { fmtNum } from "./format";
import { rampColor } from "./heat-colors";

export type HeatNorm = "log" | "step" | "quantile";

export const HEAT_NORMS: readonly HeatNorm[] = ["log", "step", "quantile"];

export interface HeatScale {
  norm: HeatNorm;
  /** where a count of a column falls on the ramp, in [0, 1]; 0: not drawn */
  t(count: number, column: readonly number[]): number;
  /** the colour legend's words: before the bar, its ends, after it */
  label: string;
  low: string;
  high: string;
  after: string;
}

/** A stored setting, or "log" when it is not one. */
export function heatNormOf(v: unknown): HeatNorm {
  return HEAT_NORMS.includes(v as HeatNorm) ? (v as HeatNorm) : "log";
}

/** The scale of the heatmaps of all runs of a card (`grids[run][column][bin]`), null when every bin is empty. */
export function heatScale(grids: readonly (readonly (readonly number[])[])[], norm: HeatNorm): HeatScale | null {
  const all: number[] = [];
  for (const g of grids) for (const col of g) for (const c of col) if (c > 0) all.push(c);
  if (!all.length) return null;
  let max = 0;
  for (const c of all) if (c > max) max = c;
  const n = (v: number) => fmtNum(+v.toPrecision(3));
  if (norm === "step") {
    const colMax = new WeakMap<readonly number[], number>();
    return {
      norm, label: "share of the step's largest bin: ", low: "0", high: "1", after: " (each step on its own scale)",
      t: (c, col) => {
        if (!(c > 0)) return 0;
        let m = colMax.get(col);
        if (m === undefined) { m = Math.max(0, ...col); colMax.set(col, m); }
        return m > 0 ? c / m : 0;
      },
    };
  }
  if (norm === "quantile") {
    const sorted = Float64Array.from(all).sort();
    const k = sorted.length;
    return {
      norm, label: "bin count by rank: ", low: n(sorted[0]), high: n(max), after: ` (middle: median bin ${n(sorted[k >> 1])})`,
      // the share of non-empty bins at or below c
      t: (c) => (c > 0 ? upperBound(sorted, c) / k : 0),
    };
  }
  return {
    norm, label: "samples per bin (log): ", low: "1", high: n(max), after: ` (middle ≈ ${fmtNum(Math.round(Math.expm1(0.5 * Math.log1p(max))))})`,
    t: (c) => (c > 0 ? Math.min(1, Math.log1p(c) / Math.log1p(max)) : 0),
  };
}

/** The heatmaps' colour at t (the sequential ramp, more opaque further along), as CSS. */
export function heatRgba(t: number, dark: boolean): string {
  const [r, g, b] = rampColor(t, dark);
  return `rgba(${r},${g},${b},${(Math.round(90 + 165 * t) / 255).toFixed(3)})`;
}

/** How many of the sorted values are ≤ v. */
function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
