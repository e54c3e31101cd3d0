import { describe, expect, it } from "vitest";
import { bandPairs } from "../../src/model/distributions";
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
