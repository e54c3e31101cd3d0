import { describe, expect, it } from "vitest";
import { pointAt, rangeStats, sortRows } from "../../src/model/range-stats";

describe("pointAt", () => {
  const steps = [0, 2, 4, 6], values = [1, 2, 3, 4], walls = [10, 11, 12, 13];
  it("finds the point recorded at exactly the step", () => {
    expect(pointAt(steps, values, walls, 4)).toEqual({ step: 4, value: 3, wall: 12 });
    expect(pointAt(steps, values, walls, 0)).toEqual({ step: 0, value: 1, wall: 10 });
    expect(pointAt(steps, values, walls, 6)).toEqual({ step: 6, value: 4, wall: 13 });
  });
  it("is null for a step without a point", () => {
    expect(pointAt(steps, values, walls, 3)).toBeNull();
    expect(pointAt([], [], [], 0)).toBeNull();
  });
});

describe("rangeStats", () => {
  it("is min, max, mean and last − first of the finite values in the inclusive range", () => {
    const steps = [0, 1, 2, 3, 4, 5], values = [9, 2, NaN, 5, Infinity, 1];
    const s = rangeStats(steps, values, 1, 5)!;
    expect(s).toEqual({ min: 1, max: 5, mean: (2 + 5 + 1) / 3, change: 1 - 2, n: 3 });
  });
  it("equals a direct computation over random data", () => {
    const steps = Array.from({ length: 500 }, (_, i) => i * 3);
    const values = steps.map((s) => Math.sin(s / 17) * 3 + s / 100);
    const inRange = values.filter((_, i) => steps[i] >= 100 && steps[i] <= 900);
    const s = rangeStats(steps, values, 100, 900)!;
    expect(s.min).toBe(Math.min(...inRange));
    expect(s.max).toBe(Math.max(...inRange));
    expect(s.mean).toBeCloseTo(inRange.reduce((a, b) => a + b, 0) / inRange.length, 12);
    expect(s.change).toBe(inRange[inRange.length - 1] - inRange[0]);
    expect(s.n).toBe(inRange.length);
  });
  it("is null when no finite value is in the range", () => {
    expect(rangeStats([0, 1], [NaN, 2], 5, 9)).toBeNull();
    expect(rangeStats([0, 1], [NaN, 2], 0, 0)).toBeNull();
  });
});

describe("sortRows", () => {
  const rows = [{ n: "b", v: 2 }, { n: "a", v: NaN }, { n: "c", v: 1 }, { n: "d", v: null as number | null }];
  it("sorts numbers both ways, missing values last either way", () => {
    expect(sortRows(rows, (r) => r.v, 1).map((r) => r.n)).toEqual(["c", "b", "a", "d"]);
    expect(sortRows(rows, (r) => r.v, -1).map((r) => r.n)).toEqual(["b", "c", "a", "d"]);
  });
  it("sorts text", () => {
    expect(sortRows(rows, (r) => r.n, -1).map((r) => r.n)).toEqual(["d", "c", "b", "a"]);
  });
});
