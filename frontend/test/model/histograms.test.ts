// Distributions of several runs at one step (src/model/histograms.ts).
import { describe, expect, it } from "vitest";
import type { StepDist } from "../../src/api/types";
import {
  binAt, canLogX, cdfAt, cdfPoints, nonPositiveCount, quantileLabel, quantileTableRows, sharedRange,
} from "../../src/model/histograms";

const dist = (p: Partial<StepDist>): StepDist => ({
  count: 4, nan_count: 0, posinf_count: 0, neginf_count: 0, min: 0, max: 4, mean: 2, std: 1,
  quantile_probs: [0, 0.5, 1], quantiles: [0, 2, 4], bin_edges: [0, 2, 4], histogram: [1, 3], ...p,
});

describe("drill-down distributions on shared axes", () => {
  it("shared x range over every run, log only over positive values", () => {
    const a = dist({});
    const b = dist({ min: 1e-7, max: 44.7, quantiles: [1e-7, 2e-6, 44.7], bin_edges: [1e-7, 22, 44.7] });
    expect(sharedRange([a, b], false)).toEqual([0, 44.7]);
    expect(sharedRange([a, b], true)).toEqual([1e-7, 44.7]);
    expect(canLogX([a])).toBe(true);
    expect(canLogX([dist({ min: -1, max: 0, quantiles: [-1, -0.5, 0], bin_edges: [-1, -0.5, 0] })])).toBe(false);
  });
  it("CDF from the exact quantiles", () => {
    const c = cdfPoints(dist({ quantile_probs: [0, 0.25, 0.5, 0.75, 1], quantiles: [0, 0, 1, 3, 4] }));
    expect(c).toEqual({ x: [0, 1, 3, 4], p: [0.25, 0.5, 0.75, 1] });
    expect(cdfAt(c, -1)).toBe(0);
    expect(cdfAt(c, 2)).toBeCloseTo(0.625, 12);
    expect(cdfAt(c, 4)).toBe(1);
  });
  it("the bin under the cursor, and what a log axis leaves out", () => {
    const d = dist({ bin_edges: [-2, 0, 2, 4], histogram: [2, 3, 4] });
    expect(binAt(d, 1)).toEqual({ lo: 0, hi: 2, count: 3 });
    expect(binAt(d, 4)).toEqual({ lo: 2, hi: 4, count: 4 });
    expect(binAt(d, 5)).toBeNull();
    expect(nonPositiveCount(d)).toBe(2);
    expect([quantileLabel(0), quantileLabel(0.01), quantileLabel(0.5), quantileLabel(1)]).toEqual(["min", "p1", "median", "max"]);
  });
});

describe("drill-down quantile table", () => {
  it("count, mean ± std, non-finite counts when any, every quantile of any run", () => {
    const rows = quantileTableRows([dist({}), dist({ nan_count: 2, quantile_probs: [0.5], quantiles: [3] })]);
    expect(rows.map((r) => r.label)).toEqual(["count", "mean ± std", "NaN/+Inf/-Inf", "min", "median", "max"]);
    expect(rows[2].cells).toEqual([{ text: "0/0/0", bad: false }, { text: "2/0/0", bad: true }]);
    expect(rows[3].cells.map((c) => c.text)).toEqual(["0", "–"]);
    expect(rows[4].cells.map((c) => c.text)).toEqual(["2", "3"]);
    expect(quantileTableRows([dist({})]).map((r) => r.label)).not.toContain("NaN/+Inf/-Inf");
  });
});
