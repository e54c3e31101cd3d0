// Quantile bands and the readout of the Distributions view (src/model/distributions.ts).
import { describe, expect, it } from "vitest";
import type { Distribution } from "../../src/api/types";
import { alignRow, bandPairs, bandRows, bandYRange, medianRow, quantileTipRows } from "../../src/model/distributions";
import { heatColor } from "../../src/model/heat-colors";

describe("distributions", () => {
  it("pairs symmetric quantiles outermost first", () => {
    const p = bandPairs([0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1]);
    expect(p.median).toBe(5);
    expect(p.pairs).toEqual([[0, 10], [1, 9], [2, 8], [3, 7], [4, 6]]);
  });
  it("skips unpaired quantiles", () => {
    expect(bandPairs([0.1, 0.5, 0.8]).pairs).toEqual([]);
  });
  it("colors heatmap counts on a log ramp", () => {
    expect(heatColor(0, 100, false)[3]).toBe(0);
    const a = heatColor(1, 100, false), b = heatColor(100, 100, false);
    expect(b[3]).toBe(255);
    expect(a[3]).toBeLessThan(b[3]);
    expect(heatColor(5, 0, true)[3]).toBe(0);
  });
});

const f64 = (xs: number[]) => Float64Array.from(xs);
const DIST: Distribution = {
  run: "a", tag: "t", count: 2, reduced: false, probs: [0, 0.05, 0.5, 0.95, 1], steps: f64([3, 5]), stepEnds: f64([3, 5]),
  min: f64([-1, 0]), max: f64([9, 10]), mean: f64([4, 5]),
  quantiles: [f64([-1, 0]), f64([0, 1]), f64([4, 6]), f64([8, 9]), f64([9, 10])], edges: [], counts: [],
};

describe("distribution bands and readout", () => {
  it("the rows of a band (min and max where the quantile is missing) and the median", () => {
    expect(bandRows(DIST, [0.05, 0.95])).toEqual({ lo: DIST.quantiles[1], hi: DIST.quantiles[3] });
    expect(bandRows(DIST, [0.25, 0.75])).toEqual({ lo: DIST.min, hi: DIST.max });
    expect(medianRow(DIST)).toBe(DIST.quantiles[2]);
    expect(medianRow({ ...DIST, probs: [0, 1] })).toBe(DIST.mean);
  });
  it("the shared y range over the drawn band and medians", () => {
    expect(bandYRange([DIST], "p90", false)).toEqual([-0.45, 9.45]);
    expect(bandYRange([DIST], "none", true)).toEqual([1, 10]);
  });
  it("a row on the union of steps: null where not drawn", () => {
    expect(alignRow([1, 3, 4, 5], DIST.steps, f64([2, -3]), false)).toEqual([null, 2, null, -3]);
    expect(alignRow([3, 5], DIST.steps, f64([NaN, -3]), true)).toEqual([null, null]);
  });
  it("the tooltip's quantiles at a step, none outside", () => {
    expect(quantileTipRows([{ color: "#f00", dist: DIST }], 5.2)).toEqual([
      { color: "#f00", label: "a", value: 6, text: "median 6", note: "min 0 · p5 1 · p95 9 · max 10 · mean 5" },
    ]);
    expect(quantileTipRows([{ color: "#f00", dist: DIST }], 7)).toEqual([]);
  });
});
