// The layers of a Steps chart without drawing (src/model/step-layers.ts): members, requests,
// layers, plotted lines, ranges.
import { describe, expect, it } from "vitest";
import type { Evaluation, RunInfo, Series, TagInfo } from "../../src/api/types";
import type { RunMeta } from "../../src/model/settings";
import {
  beyondRange, chartMembers, constantLevels, evalLayer, groupLayer, isConstant, layerRequests, layersXRange, layersYRange, plotData,
  runLayer, type XPlacement,
} from "../../src/model/step-layers";

const EVALS: Evaluation[] = [
  { first_step: 0, last_step: 2, count: 3, train_step: 10, epoch: 0 },
  { first_step: 3, last_step: 5, count: 3, train_step: 20, epoch: 1 },
];

const info = (run: string, extra: Partial<RunInfo> = {}): RunInfo => ({ run, tags: [], source: "index", ...extra });
const meta = (run: string, extra: Partial<RunMeta> = {}): RunMeta => ({ info: info(run), role: null, train_run: null, axis: "train", placed: false, first: 0, ...extra });
const tag = (first: number, last: number, count = last - first + 1): TagInfo => ({ tag: "loss", kind: "scalar", count, first_step: first, last_step: last });
const series = (run: string, steps: number[], values: number[], extra: Partial<Series> = {}): Series => ({
  run, tag: "loss", start: steps[0], end: steps[steps.length - 1], count: steps.length, reduced: false, method: "raw",
  steps: Float64Array.from(steps), values: Float64Array.from(values), walls: Float64Array.from(steps, (s) => 1000 + s), sampled: null, ...extra,
});
const place = (mode: XPlacement["mode"], offsets: Record<string, number> = {}): XPlacement => ({
  mode, stepOffset: (r) => (mode === "relstep" ? offsets[r] ?? 0 : 0), wall0: () => 1000,
});

describe("which runs a chart draws", () => {
  it("runs with points of the tag; placed validation runs on the training axis, own-axis ones on theirs", () => {
    const metas: Record<string, RunMeta> = {
      train: meta("train"), placed: meta("placed", { placed: true }), val: meta("val", { axis: "val" }), empty: meta("empty"),
    };
    const points = (r: string) => (r === "empty" ? 0 : 5);
    const plotted = ["train", "placed", "val", "empty", "unknown"];
    expect(chartMembers(plotted, "train", (r) => metas[r], points)).toEqual({ runs: ["train"], placed: ["placed"] });
    expect(chartMembers(plotted, "val", (r) => metas[r], points)).toEqual({ runs: ["val"], placed: [] });
  });
});

describe("the requests of a chart", () => {
  const plan = {
    runs: ["a", "b"], placed: [] as string[], groups: null, view: null, width: 400, place: place("step"),
    tagInfo: (r: string) => (r === "a" ? tag(0, 99) : tag(50, 149)), evaluations: () => EVALS, fullRange: () => ({ start: 0, end: 149 }),
  };
  it("each run over its own steps, or the view's, and nothing outside the view", () => {
    expect(layerRequests(plan)).toEqual([
      { kind: "run", request: { run: "a", start: 0, end: 99, width: 400 } },
      { kind: "run", request: { run: "b", start: 50, end: 149, width: 400 } },
    ]);
    expect(layerRequests({ ...plan, view: { start: 120, end: 130 } })).toEqual([{ kind: "run", request: { run: "b", start: 120, end: 130, width: 400 } }]);
  });
  it("a group: its members on one grid over the view (or the group's range)", () => {
    expect(layerRequests({ ...plan, groups: [{ name: "g", runs: ["a", "b"] }] })).toEqual([{
      kind: "group", name: "g", runs: ["a", "b"], range: { start: 0, end: 149 },
      requests: [{ run: "a", start: 0, end: 149, width: 400 }, { run: "b", start: 0, end: 149, width: 400 }],
    }]);
  });
  it("a placed run: the evaluations in the view, raw up to 4 points a column", () => {
    const placed = { ...plan, runs: [], placed: ["v"], tagInfo: () => tag(0, 5, 6000) };
    expect(layerRequests({ ...placed, view: { start: 15, end: 25 } })).toEqual([{ kind: "eval", request: { run: "v", start: 3, end: 5, width: 1501 } }]);
    expect(layerRequests({ ...placed, view: { start: 30, end: 40 } })).toEqual([]);
  });
});

describe("layers and what they draw", () => {
  it("a run: its envelope on the x axis, smoothed when asked", () => {
    const l = runLayer(series("a", [10, 11, 12], [1, 2, 3]), 100, "#f00", 0.5, place("relstep", { a: 10 }));
    expect(l.envelope.lineX).toEqual([0, 1, 2]);
    expect(l.smoothed).toHaveLength(3);
    expect(runLayer(series("a", [10], [1]), 100, "#f00", 0, place("relwall")).envelope.lineX).toEqual([10]);
  });
  it("a group: mean and min…max of its members; none without a member", () => {
    const g = groupLayer("g", ["a", "b"], [series("a", [0, 1], [1, 3]), series("b", [0, 1], [3, 5])], { start: 0, end: 1 }, 100, "#0f0", place("step"))!;
    expect([g.summary.mean, g.summary.lo, g.summary.hi]).toEqual([[2, 4], [1, 3], [3, 5]]);
    expect(groupLayer("g", ["a"], [], { start: 0, end: 1 }, 100, "#0f0", place("step"))).toBeNull();
  });
  it("an evaluation layer: a band per evaluation at its training step", () => {
    const l = evalLayer(series("v", [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]), meta("v", { info: info("v", { evaluations: EVALS }), placed: true }), "#00f", place("step"));
    expect(l.xs).toEqual([10, 20]);
    expect(l.bands.map((b) => b.mean)).toEqual([2, 5]);
  });
  it("the lines uPlot draws: runs, smoothed lines, group means, evaluation means", () => {
    const run = runLayer(series("a", [0, 1], [1, -1]), 100, "#f00", 0.5, place("step"));
    const { data, seriesLayer } = plotData([run], true);
    expect(data).toEqual([[0, 1], [1, null], [1, null]]);
    expect(seriesLayer).toEqual([null, run, run]);
    expect(plotData([], false).data).toEqual([[]]);
  });
  it("the y range: a y zoom wins; a constant chart is its levels; the x range of the view or the data", () => {
    const flat = runLayer(series("a", [0, 1], [2, 2]), 100, "#f00", 0, place("step"));
    expect(isConstant([flat])).toBe(true);
    expect(constantLevels([flat])).toEqual([2]);
    expect(layersYRange([flat], { log: false, outliers: true, yZoom: [0, 1] })).toEqual([0, 1]);
    expect(layersYRange([flat], { log: false, outliers: true, yZoom: null })).toEqual([1.8, 2.2]);
    expect(layersXRange([flat], "step", { start: 5, end: 5 })).toEqual([4.5, 5.5]);
    expect(layersXRange([flat], "wall", null)).toEqual([0, 1]); // the data's extent, in the layer's x
  });
  it("values beyond the y range, for the carets", () => {
    const l = runLayer(series("a", [0, 1, 2], [5, 0, -5]), 100, "#f00", 0, place("step"));
    expect(beyondRange(l, -1, 1)).toEqual({ above: [0], below: [2] });
  });
});
