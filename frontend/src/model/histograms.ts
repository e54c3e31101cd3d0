// Drill-down distributions of several runs at one step on shared axes, and their quantile table:
// pure functions (test/model/histograms.test.ts).
import type { StepDist } from "../api/types";
import { fmtNum } from "./format";

/** The x range that holds every run's finite values at the step (for a log axis: the smallest
 * positive value among mins, quantiles and bin edges, up to the largest max). */
export function sharedRange(ds: readonly StepDist[], log: boolean): [number, number] | null {
  let lo = Infinity, hi = -Infinity;
  for (const d of ds) {
    const vals = [d.min, d.max, ...d.quantiles, ...d.bin_edges];
    for (const v of vals) {
      if (!Number.isFinite(v) || (log && !(v > 0))) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(lo <= hi)) return null;
  if (lo === hi) return log ? [lo / 2, hi * 2] : [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** Whether a log x axis can show these distributions (some positive value). */
export function canLogX(ds: readonly StepDist[]): boolean {
  return sharedRange(ds, true) !== null;
}

/** Count of values at or below 0 in a histogram (approximate: whole bins whose upper edge is
 * <= 0) — what a log axis cannot show. */
export function nonPositiveCount(d: StepDist): number {
  let n = 0;
  for (let i = 0; i < d.histogram.length; i++) if (d.bin_edges[i + 1] <= 0) n += d.histogram[i] || 0;
  return n;
}

/**
 * The empirical CDF from the exact quantiles: points (q_p, p), nondecreasing in both; duplicate
 * values keep the highest p (a step of the CDF).
 */
export function cdfPoints(d: StepDist): { x: number[]; p: number[] } {
  const x: number[] = [], p: number[] = [];
  d.quantile_probs.forEach((pr, i) => {
    const q = d.quantiles[i];
    if (!Number.isFinite(q)) return;
    if (x.length && q === x[x.length - 1]) { p[p.length - 1] = Math.max(p[p.length - 1], pr); return; }
    if (x.length && q < x[x.length - 1]) return;
    x.push(q);
    p.push(pr);
  });
  return { x, p };
}

/** The CDF at x by linear interpolation between the quantile points (0 before, 1 after). */
export function cdfAt(c: { x: number[]; p: number[] }, x: number): number {
  const n = c.x.length;
  if (!n) return NaN;
  if (x < c.x[0]) return 0;
  if (x >= c.x[n - 1]) return 1;
  let i = 0;
  while (i < n - 1 && c.x[i + 1] <= x) i++;
  const x0 = c.x[i], x1 = c.x[i + 1];
  return x1 > x0 ? c.p[i] + ((x - x0) / (x1 - x0)) * (c.p[i + 1] - c.p[i]) : c.p[i + 1];
}

/** The bin of a step's histogram holding x, with its count; null outside. */
export function binAt(d: StepDist, x: number): { lo: number; hi: number; count: number } | null {
  const e = d.bin_edges;
  for (let i = 0; i < d.histogram.length; i++) {
    const last = i === d.histogram.length - 1;
    if (x >= e[i] && (x < e[i + 1] || (last && x <= e[i + 1]))) return { lo: e[i], hi: e[i + 1], count: d.histogram[i] };
  }
  return null;
}

/** A quantile's row label: min, p1, p99.9, max. */
export function quantileLabel(p: number): string {
  return p === 0 ? "min" : p === 1 ? "max" : p === 0.5 ? "median" : `p${+(p * 100).toFixed(2)}`;
}

/** The rows of the quantile table of several runs' distributions at a step: count, mean ± std,
 * the non-finite counts (when any run has some; flagged where non-zero), then every quantile
 * any run has ("–" where a run lacks it). */
export function quantileTableRows(ds: readonly StepDist[]): { label: string; cells: { text: string; bad: boolean }[] }[] {
  const cell = (text: string, bad = false) => ({ text, bad });
  const rows = [
    { label: "count", cells: ds.map((d) => cell(fmtNum(d.count))) },
    { label: "mean ± std", cells: ds.map((d) => cell(`${fmtNum(d.mean)} ± ${fmtNum(d.std)}`)) },
  ];
  const nonFinite = (d: StepDist) => d.nan_count + d.posinf_count + d.neginf_count;
  if (ds.some((d) => nonFinite(d) > 0)) {
    rows.push({ label: "NaN/+Inf/-Inf", cells: ds.map((d) => cell(`${d.nan_count}/${d.posinf_count}/${d.neginf_count}`, nonFinite(d) > 0)) });
  }
  const probs = [...new Set(ds.flatMap((d) => d.quantile_probs))].sort((a, b) => a - b);
  for (const p of probs) {
    rows.push({ label: quantileLabel(p), cells: ds.map((d) => {
      const i = d.quantile_probs.indexOf(p);
      return cell(i >= 0 ? fmtNum(d.quantiles[i]) : "–");
    }) });
  }
  return rows;
}
