// Quantiles of a distribution series (the Distributions view): which quantile pair a band
// setting draws and its rows, the y range the runs share, a row on the shared step array, the
// tooltip's quantiles at a step, and the symmetric pairs around the median. Pure
// (test/model/distributions.test.ts).
import type { Distribution } from "../api/types";
import { fmtStep, fmtTip } from "./format";
import { quantileLabel } from "./histograms";
import { padRange } from "./ranges";
import type { TipRow } from "./tip-rows";

/** The quantile band around each run's median in the Distributions view. */
export type BandSetting = "iqr" | "p90" | "p98" | "minmax" | "none";

/** The quantile pair of a band setting (probabilities), null for none/min…max. */
export const BAND_PROBS: Record<BandSetting, [number, number] | null> = {
  iqr: [0.25, 0.75], p90: [0.05, 0.95], p98: [0.01, 0.99], minmax: [0, 1], none: null,
};

/** The row of probability p in a distribution's quantiles, -1 when it has none. */
export function probIndex(d: Pick<Distribution, "probs">, p: number): number {
  return d.probs.findIndex((q) => Math.abs(q - p) < 1e-9);
}

/** Pairs of quantile indices symmetric around the median (outermost first) and the median's index. */
export function bandPairs(probs: readonly number[]): { pairs: [number, number][]; median: number } {
  const pairs: [number, number][] = [];
  let median = -1;
  for (let i = 0; i < probs.length; i++) if (Math.abs(probs[i] - 0.5) < 1e-9) median = i;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] >= 0.5) break;
    let best = -1;
    for (let j = probs.length - 1; j > i; j--) {
      if (Math.abs(probs[i] + probs[j] - 1) < 1e-6) { best = j; break; }
    }
    if (best > 0) pairs.push([i, best]);
  }
  return { pairs, median };
}

/** The low and high quantile rows a band draws (min and max where the response has none). */
export function bandRows(d: Distribution, band: [number, number]): { lo: Float64Array; hi: Float64Array } {
  const a = probIndex(d, band[0]), b = probIndex(d, band[1]);
  return { lo: a >= 0 ? d.quantiles[a] : d.min, hi: b >= 0 ? d.quantiles[b] : d.max };
}

/** The median row (the mean where the response has no median). */
export function medianRow(d: Distribution): Float64Array {
  const m = probIndex(d, 0.5);
  return m >= 0 ? d.quantiles[m] : d.mean;
}

/** The y range the runs share: the drawn band's extent (min…max when no band), and their medians,
 * padded (positive values only on a log scale). */
export function bandYRange(ds: readonly Distribution[], band: BandSetting, log: boolean): [number, number] {
  const probs = BAND_PROBS[band] ?? [0, 1];
  let lo = Infinity, hi = -Infinity;
  for (const d of ds) {
    const rows = bandRows(d, probs);
    for (const row of [rows.lo, rows.hi, medianRow(d)]) for (const v of row) {
      if (!Number.isFinite(v) || (log && !(v > 0))) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return padRange(lo, hi, log);
}

/** A row of a distribution on the x array `xs` (the sorted union of every run's steps): its
 * value at each of its steps, null elsewhere and where it is not drawn (non-finite, ≤ 0 on a
 * log scale). */
export function alignRow(xs: readonly number[], steps: ArrayLike<number>, row: ArrayLike<number>, log: boolean): (number | null)[] {
  const out: (number | null)[] = new Array(xs.length).fill(null);
  let j = 0;
  for (let i = 0; i < steps.length; i++) {
    while (xs[j] < steps[i]) j++;
    const v = row[i];
    out[j] = Number.isFinite(v) && (!log || v > 0) ? v : null;
  }
  return out;
}

/** Every run's quantiles at step x (its pixel column's when reduced): the median, the quantiles
 * it has of min, 5, 25, 75, 95% and max, and its mean. */
export function quantileTipRows(runs: readonly { color: string; dist: Distribution }[], x: number): TipRow[] {
  const rows: TipRow[] = [];
  for (const { dist: d, color } of runs) {
    let i = -1;
    for (let k = 0; k < d.steps.length; k++) if (d.steps[k] <= x + 0.5) i = k; else break;
    if (i < 0 || x > d.stepEnds[i] + 1) continue;
    const q = (p: number) => { const j = probIndex(d, p); return j >= 0 ? d.quantiles[j][i] : NaN; };
    const med = q(0.5);
    const parts = [0, 0.05, 0.25, 0.75, 0.95, 1].filter((p) => probIndex(d, p) >= 0)
      .map((p) => `${quantileLabel(p)} ${fmtTip(q(p))}`);
    rows.push({
      color, label: d.run, value: med, text: `median ${fmtTip(med)}`,
      note: `${parts.join(" · ")} · mean ${fmtTip(d.mean[i])}${d.reduced ? ` (steps ${fmtStep(d.steps[i])}–${fmtStep(d.stepEnds[i])})` : ""}`,
    });
  }
  return rows;
}
