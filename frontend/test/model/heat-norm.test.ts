import { describe, expect, it } from "vitest";
import { heatColor } from "../../src/model/heat-colors";
import { heatNormOf, heatRgba, heatScale } from "../../src/model/heat-norm";

const grid = [[[0, 1, 9], [100, 10, 0]], [[3, 0, 0]]];

describe("heatScale", () => {
  it("log: the default, as the heatmaps always drew (log count up to the largest bin)", () => {
    const s = heatScale(grid, "log")!;
    expect(s.label).toBe("samples per bin (log): ");
    expect(s.high).toBe("100");
    for (const c of [1, 3, 10, 100]) {
      const t = s.t(c, grid[0][0]);
      const [r, g, b, a] = heatColor(c, 100, false);
      expect(heatRgba(t, false)).toBe(`rgba(${r},${g},${b},${(a / 255).toFixed(3)})`);
    }
    expect(s.t(0, grid[0][0])).toBe(0);
  });
  it("step: each column on its own scale, its largest bin at the top", () => {
    const s = heatScale(grid, "step")!;
    expect(s.t(9, grid[0][0])).toBe(1);
    expect(s.t(1, grid[0][0])).toBeCloseTo(1 / 9);
    expect(s.t(10, grid[0][1])).toBeCloseTo(0.1);
    expect(s.t(3, grid[1][0])).toBe(1);
  });
  it("quantile: the rank among the non-empty bins of all runs, evenly spread", () => {
    const s = heatScale(grid, "quantile")!;
    const ts = [1, 3, 9, 10, 100].map((c) => s.t(c, []));
    expect(ts).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(s.low).toBe("1");
    expect(s.after).toContain("median bin 9");
  });
  it("is null when every bin is empty; an unknown setting is log", () => {
    expect(heatScale([[[0, 0]]], "log")).toBeNull();
    expect(heatNormOf("quantile")).toBe("quantile");
    expect(heatNormOf("nope")).toBe("log");
  });
});
