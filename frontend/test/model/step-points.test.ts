// What is read off a Steps chart's layers at a point (src/model/step-points.ts).
import { describe, expect, it } from "vitest";
import type { Series } from "../../src/api/types";
import type { RunMeta } from "../../src/model/settings";
import { groupLayer, runLayer, type XPlacement } from "../../src/model/step-layers";
import { exactKey, pointsNear, stepUnder, stepX, tipRowsAt, viewStepAt } from "../../src/model/step-points";

const series = (run: string, steps: number[], values: number[], reduced = false): Series => ({
  run, tag: "loss", start: steps[0], end: steps[steps.length - 1], count: steps.length, reduced, method: reduced ? "m4" : "raw",
  steps: Float64Array.from(steps), values: Float64Array.from(values), walls: Float64Array.from(steps, (s) => 1000 + 2 * s), sampled: null,
});
const place = (mode: XPlacement["mode"]): XPlacement => ({ mode, stepOffset: () => (mode === "relstep" ? 100 : 0), wall0: () => 1000 });
const meta = (extra: Partial<RunMeta> = {}): RunMeta => ({
  info: { run: "a", tags: [], source: "index" }, role: null, train_run: null, axis: "train", placed: false, first: 100, ...extra,
});

describe("steps and x", () => {
  const wall = runLayer(series("a", [100, 101, 102], [1, 2, 3]), 100, "#f00", 0, place("relwall"));
  it("the step under an x, on each x axis", () => {
    const l = runLayer(series("a", [100, 101, 102], [1, 2, 3]), 100, "#f00", 0, place("step"));
    expect(stepUnder(l, 101.4, place("step"))).toBe(101);
    expect(stepUnder(l, 1.4, place("relstep"))).toBe(101);
    expect(stepUnder(wall, 204, place("relwall"))).toBe(102);
    expect(viewStepAt([wall], 202, place("relwall"))).toBe(101);
    expect(viewStepAt([], 3.6, place("step"))).toBe(4);
    expect(viewStepAt([], 3, place("wall"))).toBeNaN();
  });
  it("the x of a step: none off the chart's axis", () => {
    expect(stepX([], meta(), "train", place("relstep"), "a", 150)).toBe(50);
    expect(stepX([], meta({ axis: "val" }), "train", place("step"), "a", 150)).toBeNull();
    expect(stepX([wall], meta(), "train", place("relwall"), "a", 101)).toBe(202);
  });
});

describe("points and values at the pointer", () => {
  const raw = runLayer(series("a", [0, 1, 2, 3], [1, NaN, 3, 4]), 100, "#f00", 0, place("step"));
  it("a click may mean the nearest line points and the non-finite markers", () => {
    const pts = pointsNear([raw], 2, 0.5, 0.5, place("step"));
    expect(pts.map((p) => p.step)).toEqual([0, 2, 3, 1]);
    expect(pts[pts.length - 1].y).toBeNaN();
  });
  it("tooltip rows: exact where fetched, ≈ for the nearest drawn point of reduced data", () => {
    const hover = { place: place("step"), exact: new Map<string, number>(), loadedWidth: 100, pxSlack: 1 };
    expect(tipRowsAt([raw], 2, hover)).toEqual([{ color: "#f00", label: "a", value: 3, text: "3", note: "", bad: false }]);
    expect(tipRowsAt([raw], 1, hover)[0]).toMatchObject({ text: "NaN", bad: true });
    const reduced = runLayer(series("b", [0, 5, 9], [1, 7, 2], true), 3, "#0f0", 0, place("step"));
    expect(tipRowsAt([reduced], 4, hover)[0].text).toBe("≈ 7");
    const exact = new Map([[exactKey("b", 4), 6.5]]);
    expect(tipRowsAt([reduced], 4, { ...hover, exact })[0].text).toBe("6.5");
    expect(tipRowsAt([raw], 50, hover)).toEqual([]);
    const long = runLayer(series("c", [0, 1], [2.3025851, 0.123456789]), 100, "#f00", 0, place("step"));
    expect(tipRowsAt([long], 0, hover)[0].text).toBe("2.3026");
    expect(tipRowsAt([long], 0, { ...hover, allDigits: true })[0].text).toBe("2.302585");
  });
  it("a group's row: its mean, min…max and member count", () => {
    const g = groupLayer("g", ["a", "b"], [series("a", [0], [1]), series("b", [0], [3])], { start: 0, end: 0 }, 10, "#00f", place("step"))!;
    expect(tipRowsAt([g], 0, { place: place("step"), exact: new Map(), loadedWidth: 10, pxSlack: 1 })).toEqual([
      { color: "#00f", label: "g (2 runs)", value: 2, text: "2", note: "1…3 · n=2" },
    ]);
  });
});
