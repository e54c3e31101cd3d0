// The y range that ignores outliers but keeps the pinned steps (src/model/clipping.ts).
import { describe, expect, it } from "vitest";
import type { Series } from "../../src/api/types";
import { includeValues, pinnedValues, pinnedYRange } from "../../src/model/clipping";
import { layersYRange, runLayer, type XPlacement } from "../../src/model/step-layers";

const place: XPlacement = { mode: "step", stepOffset: () => 0, wall0: () => 0 };
const series = (run: string, steps: number[], values: number[], reduced = false): Series => ({
  run, tag: "loss", start: steps[0], end: steps[steps.length - 1], count: steps.length, reduced, method: reduced ? "m4" : "raw",
  steps: Float64Array.from(steps), values: Float64Array.from(values), walls: Float64Array.from(steps), sampled: null,
});

// 100 steps of a loss near 0.3, one spike of 5 at step 764 (the demo's)
const steps = Array.from({ length: 100 }, (_, i) => 714 + i);
const values = steps.map((s, i) => (s === 764 ? 5 : 0.3 + 0.01 * Math.sin(i)));
const layer = runLayer(series("lr_0.08/train", steps, values), 400, "#f00", 0, place);

describe("pinned steps in the y range", () => {
  it("ignoring outliers clips the spike; pinned, the range holds it", () => {
    const robust = layersYRange([layer], { log: false, outliers: true, yZoom: null });
    expect(robust[1]).toBeLessThan(1);
    const pinned = pinnedYRange(robust, [layer], [{ run: "lr_0.08/train", steps: [764] }], false);
    expect(pinned[0]).toBe(robust[0]);
    expect(pinned[1]).toBeGreaterThan(5);
    expect(pinned[1]).toBeLessThan(5.3); // 5% of the new span above it
  });
  it("another run's pin, a step not drawn or no pin change nothing", () => {
    const robust = layersYRange([layer], { log: false, outliers: true, yZoom: null });
    expect(pinnedYRange(robust, [layer], [{ run: "other", steps: [764] }], false)).toEqual(robust);
    expect(pinnedYRange(robust, [layer], [{ run: "lr_0.08/train", steps: [5000] }], false)).toEqual(robust);
    expect(pinnedYRange(robust, [layer], [], false)).toBe(robust);
  });
  it("a reduced series pins the column extreme drawn at that step", () => {
    const many = Array.from({ length: 10000 }, (_, i) => i);
    const red = runLayer(series("r", many, many.map((s) => (s === 4321 ? -9 : 1 + (s % 7) * 0.01)), true), 100, "#00f", 0, place);
    expect(pinnedValues([red], [{ run: "r", steps: [4321] }])).toContain(-9);
  });
  it("widens to values outside, on a log scale by whole decades; NaN ignored", () => {
    expect(includeValues([0, 1], [0.5, NaN], false)).toEqual([0, 1]);
    expect(includeValues([0, 1], [-1], false)).toEqual([-1.1, 1]);
    expect(includeValues([0.1, 1], [30, -1], true)).toEqual([0.1, 100]);
    expect(includeValues([0.1, 1], [0.002], true)[0]).toBeCloseTo(0.001);
  });
});
