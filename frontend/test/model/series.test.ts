// Smoothing, aligning and nearest-point lookups of drawn series (src/model/series.ts).
import { describe, expect, it } from "vitest";
import { alignSeries, nearestCandidate, nearestIndex, smooth, wallToStep } from "../../src/model/series";

describe("smooth", () => {
  it("is the identity at weight 0", () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });
  it("debiases the first value (TensorBoard's EMA)", () => {
    const s = smooth([10, 10, 10], 0.9);
    for (const v of s) expect(v).toBeCloseTo(10, 10);
  });
  it("moves toward new values and passes non-finite through", () => {
    const s = smooth([0, NaN, 10], 0.5);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeNaN();
    // two finite values: last = 0.5*0.5*0 ... = (0*0.5 + 0.5*10) = 5, debias 1-0.25 = 0.75
    expect(s[2]).toBeCloseTo(5 / 0.75, 10);
  });
});

describe("alignSeries", () => {
  it("joins x values and fills gaps with null", () => {
    const d = alignSeries([{ x: [0, 2, 4], y: [1, 2, 3] }, { x: [1, 2], y: [9, 8] }]);
    expect(d[0]).toEqual([0, 1, 2, 4]);
    expect(d[1]).toEqual([1, null, 2, 3]);
    expect(d[2]).toEqual([null, 9, 8, null]);
  });
  it("handles no points", () => {
    expect(alignSeries([{ x: [], y: [] }])).toEqual([[], []]);
  });
});

describe("nearestIndex / wallToStep", () => {
  it("finds the nearest element", () => {
    expect(nearestIndex([0, 10, 20], 4)).toBe(0);
    expect(nearestIndex([0, 10, 20], 6)).toBe(1);
    expect(nearestIndex([0, 10, 20], 100)).toBe(2);
    expect(nearestIndex([], 1)).toBe(-1);
  });
  it("interpolates wall time to steps", () => {
    const walls = [100, 110, 120], steps = [0, 100, 200];
    expect(wallToStep(walls, steps, 105)).toBe(50);
    expect(wallToStep(walls, steps, 50)).toBe(0);
    expect(wallToStep(walls, steps, 500)).toBe(200);
    expect(wallToStep([], [], 1)).toBeNaN();
  });
});

describe("click target", () => {
  it("picks the nearest point, weighing y less", () => {
    const c = nearestCandidate([{ px: 0, py: 0, id: 1 }, { px: 10, py: 100, id: 2 }, { px: NaN, py: 0, id: 3 }], 9, 90);
    expect(c?.id).toBe(2);
    expect(nearestCandidate([], 0, 0)).toBeNull();
  });
});
