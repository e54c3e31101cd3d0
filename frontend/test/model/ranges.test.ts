// The shared view (zoom, pan, clamp, wheel, keys) and y ranges (src/model/ranges.ts).
import { describe, expect, it } from "vitest";
import {
  clampRange, keyRange, padRange, panRange, quantileSorted, robustYRange, wheelRange, windowAround, yRange, zoomRange,
} from "../../src/model/ranges";

function yRangeOf(ys: number[]): [number, number] {
  return padRange(Math.min(...ys), Math.max(...ys), false);
}

describe("view ranges", () => {
  const full = { start: 0, end: 1000 };
  it("zooms around a center and clamps", () => {
    expect(zoomRange(full, full, 0.5, 500)).toEqual({ start: 250, end: 750 });
    expect(zoomRange(full, full, 0.5, 0)).toEqual({ start: 0, end: 500 });
    expect(zoomRange({ start: 0, end: 500 }, full, 4)).toEqual(full);
  });
  it("keeps a minimum span", () => {
    const r = zoomRange({ start: 10, end: 12 }, full, 0.1, 11);
    expect(r.end - r.start).toBeGreaterThanOrEqual(8);
  });
  it("pans and clamps", () => {
    expect(panRange({ start: 0, end: 100 }, full, 0.5)).toEqual({ start: 50, end: 150 });
    expect(panRange({ start: 0, end: 100 }, full, -0.5)).toEqual({ start: 0, end: 100 });
    expect(panRange({ start: 900, end: 1000 }, full, 1)).toEqual({ start: 900, end: 1000 });
  });
  it("clamps to integers", () => {
    expect(clampRange({ start: 1.5, end: 9.2 }, full)).toEqual({ start: 1, end: 10 });
  });
  it("centers a window on a step", () => {
    const w = windowAround(41000, { start: 0, end: 200000 }, 0.02);
    expect(w.start).toBeLessThan(41000);
    expect(w.end).toBeGreaterThan(41000);
    expect(w.end - w.start).toBe(4000);
    expect(windowAround(5, full, 0.02, 100)).toEqual({ start: 0, end: 100 });
  });
});

describe("yRange", () => {
  it("pads the finite extent", () => {
    expect(yRange([0], [10], [1], false)).toEqual([-0.5, 10.5]);
  });
  it("uses the smallest positive value on a log scale", () => {
    const [lo, hi] = yRange([-5], [100], [0.02], true);
    expect(lo).toBeCloseTo(0.01, 12);
    expect(hi).toBe(100);
    expect(yRange([3], [3], [3], true)).toEqual([1, 10]);
  });
  it("widens a flat line and survives no data", () => {
    expect(yRange([2], [2], [2], false)).toEqual([1.8, 2.2]);
    expect(yRange([NaN], [NaN], [NaN], false)).toEqual([0, 1]);
  });
});

describe("robustYRange (ignore outliers)", () => {
  it("ignores warm-up and the largest spikes, never reaches beyond the data", () => {
    const ys = Array.from({ length: 1000 }, (_, i) => 0.3 + 0.01 * Math.sin(i));
    ys[0] = 7.1; ys[1] = 5.6; // warm-up
    ys[500] = 50; // a spike
    const [lo, hi] = robustYRange([ys], Math.min(...ys), Math.max(...ys), false);
    expect(hi).toBeLessThan(1);
    expect(lo).toBeGreaterThan(0.2);
    // the plain range would be set by the spike
    expect(yRangeOf(ys)[1]).toBeGreaterThan(50);
  });
  it("is each run's own 1..99% range, united: a quiet run does not hide a noisy one", () => {
    const quiet = Array.from({ length: 1000 }, (_, i) => 0.01 + 0.001 * Math.sin(i));
    const noisy = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 2 : 0.3));
    const [, hi] = robustYRange([quiet, noisy], 0.009, 2, false);
    expect(hi).toBeGreaterThan(2); // the noisy run's 10% at 2 is inside its 1..99%
  });
  it("is the data's own range when the widened 1..99% span covers it", () => {
    const ys = Array.from({ length: 100 }, (_, i) => i);
    const [lo, hi] = robustYRange([ys], 0, 99, false);
    // 1st..99th percentile 0.99..98.01, widened by 10% of the span: beyond 0..99, so 0..99 padded 5%
    expect(lo).toBeCloseTo(-4.95, 9);
    expect(hi).toBeCloseTo(103.95, 9);
  });
  it("falls back to min..max for few points, and works in log space", () => {
    expect(robustYRange([[1, 2, 3]], 1, 3, false)).toEqual(padRange(1, 3, false));
    const ys = Array.from({ length: 200 }, (_, i) => Math.pow(10, -3 + (i % 10) / 10));
    ys[5] = 1e3;
    const [lo, hi] = robustYRange([ys], 1e-3, 1e3, true);
    // log10 values -3..-2.1 (+ one at 3): 1..99% -3..-2.1, widened -3.09..-2.01 but not below
    // the data's -3: whole decades 1e-3..1e-2, the spike at 1e3 left out
    expect(lo).toBe(1e-3);
    expect(hi).toBeCloseTo(0.01, 15);
  });
  it("quantileSorted interpolates like numpy's linear method", () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.05)).toBeCloseTo(1.15, 12);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

describe("wheel and keys", () => {
  const full = { start: 0, end: 1000 }, cur = { start: 400, end: 600 };
  it("a vertical wheel zooms around the pointer, a horizontal one (or shift) pans", () => {
    expect(wheelRange(cur, full, { deltaX: 0, deltaY: -1, shiftKey: false }, 500)).toEqual(zoomRange(cur, full, 1 / 1.3, 500));
    expect(wheelRange(cur, full, { deltaX: 0, deltaY: 1, shiftKey: false }, 400)).toEqual(zoomRange(cur, full, 1.3, 400));
    expect(wheelRange(cur, full, { deltaX: 5, deltaY: 1, shiftKey: false }, 0)).toEqual({ start: 430, end: 630 });
    expect(wheelRange(cur, full, { deltaX: 0, deltaY: -1, shiftKey: true }, 0)).toEqual({ start: 370, end: 570 });
  });
  it("+ and - zoom, arrows pan, other keys do nothing", () => {
    expect(keyRange("+", cur, full)).toEqual({ start: 450, end: 550 });
    expect(keyRange("_", cur, full)).toEqual({ start: 300, end: 700 });
    expect(keyRange("ArrowLeft", cur, full)).toEqual({ start: 360, end: 560 });
    expect(keyRange("x", cur, full)).toBeNull();
  });
});
