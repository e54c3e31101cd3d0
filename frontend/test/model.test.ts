import { describe, expect, it } from "vitest";
import type { Evaluation, RunInfo, StepDist } from "../src/api";
import { parseAnomalies, parseStep } from "../src/api";
import {
  axisOf, evaluationAfter, evaluationBands, evaluationOf, evaluationStepRange, isPlaced, pairedValidationStep, roleOf,
} from "../src/axes";
import { resolveDark, runColorIndex, runColors, TB_PALETTE, themeFromSettings, withAlpha } from "../src/colors";
import { aggregate, groupOf, groupRuns } from "../src/groups";
import { binAt, canLogX, cdfAt, cdfPoints, nonPositiveCount, quantileLabel, sharedRange } from "../src/hist";
import { keySource, keyTag, orderTags, seriesKey, splitTags, tagPrefix, tagRank, tagSections } from "../src/tags";

describe("run colours (TensorBoard's palette and order)", () => {
  it("follows TensorBoard's run list, then names", () => {
    // TensorBoard lists runs by start time: zeta started first
    const idx = runColorIndex(["alpha", "beta", "zeta", "new"], ["zeta", "alpha", "gone", "beta"]);
    expect(idx).toEqual({ zeta: 0, alpha: 1, beta: 3, new: 4 });
    expect(runColorIndex(["b", "a"], null)).toEqual({ a: 0, b: 1 });
  });
  it("uses the light or dark hex, wraps after 7, and a valid override wins", () => {
    const runs = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    const light = runColors(runs, runs, {}, false);
    expect(light.r0).toBe("#425066");
    expect(light.r1).toBe("#12b5cb");
    expect(light.r7).toBe("#425066"); // 7 mod 7
    expect(runColors(runs, runs, {}, true).r0).toBe("#8e98a3");
    const o = runColors(runs, runs, { r1: "#ABCDEF", r2: "red" }, false);
    expect(o.r1).toBe("#abcdef");
    expect(o.r2).toBe(TB_PALETTE[2].light);
  });
  it("is the same for the same runs, whatever order they come in", () => {
    expect(runColors(["a", "b", "c"], ["c", "a", "b"], {}, false)).toEqual(runColors(["c", "b", "a"], ["c", "a", "b"], {}, false));
  });
  it("withAlpha", () => {
    expect(withAlpha("#ff8000", 0.5)).toBe("rgba(255,128,0,0.5)");
    expect(withAlpha("red", 0.5)).toBe("red");
  });
});

describe("theme (TensorBoard's setting)", () => {
  it("reads _tb_global_settings", () => {
    expect(themeFromSettings('{"theme":"dark","scalarSmoothing":0.6}')).toBe("dark");
    expect(themeFromSettings('{"theme":"light"}')).toBe("light");
    expect(themeFromSettings('{"theme":"browser_default"}')).toBeNull();
    expect(themeFromSettings("{not json")).toBeNull();
    expect(themeFromSettings(null)).toBeNull();
  });
  it("TensorBoard's page wins, then its stored choice, then the browser", () => {
    expect(resolveDark(true, "light", false)).toBe(true);
    expect(resolveDark(false, "dark", true)).toBe(false);
    expect(resolveDark(null, "dark", false)).toBe(true);
    expect(resolveDark(null, "light", true)).toBe(false);
    expect(resolveDark(null, null, true)).toBe(true);
  });
});

describe("tags: order, sections, series keys", () => {
  it("loss first, then metrics, then optimizer tags", () => {
    expect(tagRank("loss")).toBe(0);
    expect(tagRank("val/loss")).toBe(0);
    expect(tagRank("accuracy")).toBe(1);
    expect(tagRank("learning_rate")).toBe(2);
    expect(tagRank("grad_norm")).toBe(2);
    expect(tagRank("optimizer/beta_1")).toBe(2);
    expect(tagRank("learning_rate/adam")).toBe(2);
    expect(tagRank("grad_norm/sgd")).toBe(2);
    expect(orderTags(["learning_rate", "accuracy", "grad_norm", "loss", "aux_loss", "auc"]))
      .toEqual(["loss", "aux_loss", "accuracy", "auc", "grad_norm", "learning_rate"]);
    expect(orderTags(["m10", "m9"])).toEqual(["m9", "m10"]);
  });
  it("sections: pinned, ungrouped, then prefixes with more than one tag", () => {
    const keys = ["per_sample_loss/a", "per_sample_loss/b", "loss", "accuracy", "x/only", "learning_rate"];
    const s = tagSections(keys, (k) => k, ["accuracy"], true);
    expect(s.map((x) => [x.key, x.items])).toEqual([
      ["pinned", ["accuracy"]],
      ["", ["loss", "x/only", "learning_rate"]],
      ["per_sample_loss", ["per_sample_loss/a", "per_sample_loss/b"]],
    ]);
    expect(tagSections(keys, (k) => k, [], false)[0].items[0]).toBe("loss");
    expect(tagPrefix("a/b/c")).toBe("a");
    expect(tagPrefix("loss")).toBe("");
  });
  it("splits a tag by source only where a run has it from two writers", () => {
    const runs = [
      { tags: [{ tag: "loss", kind: "scalar", source: "tb_batch" }, { tag: "loss", kind: "scalar", source: "scalars" }, { tag: "acc", kind: "scalar", source: "tb_batch" }] },
      { tags: [{ tag: "acc", kind: "scalar", source: "simple_value" }] },
    ];
    expect([...splitTags(runs)]).toEqual(["loss"]);
    const k = seriesKey("loss", "scalars", true);
    expect(keyTag(k)).toBe("loss");
    expect(keySource(k)).toBe("scalars");
    expect(seriesKey("acc", "tb_batch", false)).toBe("acc");
    expect(keySource("acc")).toBeUndefined();
  });
});

const EVALS: Evaluation[] = [
  { first_step: 0, last_step: 37, count: 38, train_step: 45, epoch: 0 },
  { first_step: 38, last_step: 75, count: 38, train_step: 90, epoch: 1 },
  { first_step: 76, last_step: null, count: 38, train_step: 135, epoch: 2 },
];

const run = (name: string, extra: Partial<RunInfo> = {}): RunInfo => ({ run: name, tags: [], source: "index", ...extra });

describe("axes: validation on the training axis", () => {
  it("roles from the server, else from the directory name", () => {
    const names = ["a/train", "a/validation", "b/validation", "c"];
    expect(roleOf(run("a/validation"), names)).toEqual({ role: "validation", train_run: "a/train" });
    expect(roleOf(run("b/validation"), names)).toEqual({ role: "validation", train_run: null });
    expect(roleOf(run("c"), names)).toEqual({ role: null, train_run: null });
    expect(roleOf(run("x/validation", { role: null }), names).role).toBeNull();
  });
  it("a validation run is placed only with evaluations; without, it gets its own axis", () => {
    const placed = run("a/validation", { role: "validation", evaluations: EVALS });
    const old = run("a/validation", { role: "validation", evaluations: [] });
    const older = run("a/validation", { role: "validation" });
    expect([isPlaced(placed, "validation"), axisOf(placed, "validation")]).toEqual([true, "train"]);
    expect([isPlaced(old, "validation"), axisOf(old, "validation")]).toEqual([false, "val"]);
    expect(axisOf(older, "validation")).toBe("val");
    expect(axisOf(run("a/train"), "train")).toBe("train");
  });
  it("finds the evaluation of a step and the one after a training step", () => {
    expect(evaluationOf(EVALS, 40)!.epoch).toBe(1);
    expect(evaluationOf(EVALS, 200)!.epoch).toBe(2);
    // train_step 45 = 45 batches done: it followed steps 0..44
    expect(evaluationAfter(EVALS, 44)!.epoch).toBe(0);
    expect(evaluationAfter(EVALS, 45)!.epoch).toBe(1);
    expect(evaluationAfter(EVALS, 135)).toBeNull();
  });
  it("bands: min, max and mean of each evaluation's batches, at its train step", () => {
    const steps = [0, 1, 2, 38, 39, 76, 77, 78];
    const values = [1, 3, NaN, 2, 4, 5, 5, 8];
    const walls = [10, 11, 12, 20, 21, 30, 31, 32];
    const b = evaluationBands(EVALS, steps, values, walls);
    expect(b.map((x) => x.trainStep)).toEqual([45, 90, 135]);
    expect(b.map((x) => [x.n, x.mean, x.min, x.max, x.nonFinite])).toEqual([[2, 2, 1, 3, 1], [2, 3, 2, 4, 0], [3, 6, 5, 8, 0]]);
    expect(b[0].wall).toBe(11);
    expect(b[2].maxStep).toBe(78);
    expect(evaluationBands(EVALS, [38], [1], [0]).map((x) => x.evaluation.epoch)).toEqual([1]);
  });
  it("the validation steps of the evaluations placed in a training range", () => {
    expect(evaluationStepRange(EVALS, 50, 140)).toEqual({ start: 38, end: Number.MAX_SAFE_INTEGER });
    expect(evaluationStepRange(EVALS, 0, 89)).toEqual({ start: 0, end: 37 });
    expect(evaluationStepRange(EVALS, 136, 200)).toBeNull();
  });
  it("pairs a validation batch with the same batch of the same epoch in another run", () => {
    const other: Evaluation[] = [
      { first_step: 0, last_step: 9, count: 10, train_step: 100, epoch: 1 },
      { first_step: 10, last_step: 19, count: 10, train_step: 200, epoch: 2 },
    ];
    expect(pairedValidationStep(EVALS, other, 41)).toBe(3);
    expect(pairedValidationStep(EVALS, other, 80)).toBe(14);
    expect(pairedValidationStep(EVALS, other, 2)).toBeNull(); // epoch 0 is not in the other run
    expect(pairedValidationStep(EVALS, other, 75)).toBeNull(); // batch 38 of 10
  });
});

describe("run groups", () => {
  it("by path prefix: a directory, Keras' train/validation one level up", () => {
    expect(groupOf("exp/seed_1", "prefix", null)).toBe("exp/*");
    expect(groupOf("exp/seed_1/train", "prefix", null)).toBe("exp/*/train");
    expect(groupOf("lr_0.08/validation", "prefix", null)).toBe("*/validation");
    expect(groupOf("run_01", "prefix", null)).toBe("*");
  });
  it("by regex: the captured groups; runs that do not match stay alone", () => {
    const re = /lr_([^/]+)\/(train|validation)/;
    expect(groupOf("s1/lr_0.1/train", "regex", re)).toBe("0.1/train");
    expect(groupOf("other", "regex", re)).toBeNull();
    expect(groupOf("abc", "regex", /b/)).toBe("b");
    expect(groupRuns(["a/1", "b/1", "a/2", "z"], "regex", /^(a|b)\//)).toEqual([
      { name: "a", runs: ["a/1", "a/2"] }, { name: "b", runs: ["b/1"] }, { name: "z", runs: ["z"] },
    ]);
  });
  it("aggregates raw members per step exactly", () => {
    const a = aggregate([
      { steps: [0, 1, 2], values: [1, 2, 3], reduced: false },
      { steps: [1, 2, 3], values: [4, NaN, 6], reduced: false },
    ], 0, 3, 100);
    expect(a.exact).toBe(true);
    expect(a.x).toEqual([0, 1, 2, 3]);
    expect(a.mean).toEqual([1, 3, 3, 6]);
    expect(a.lo).toEqual([1, 2, 3, 6]);
    expect(a.hi).toEqual([1, 4, 3, 6]);
    expect(a.n).toEqual([1, 2, 1, 1]);
  });
  it("aggregates reduced members per pixel column: exact min/max, estimated mean", () => {
    // 2 columns over steps 0..9; member A column 0 holds 1..5, member B column 0 holds 10 and 30
    const a = aggregate([
      { steps: [0, 2, 4, 5, 9], values: [1, 5, 3, 7, 7], reduced: true },
      { steps: [1, 3, 6], values: [10, 30, 2], reduced: true },
    ], 0, 9, 2);
    expect(a.exact).toBe(false);
    expect(a.lo).toEqual([1, 2]);
    expect(a.hi).toEqual([30, 7]);
    expect(a.mean).toEqual([(3 + 20) / 2, (7 + 2) / 2]);
    expect(a.x).toEqual([(2 + 2) / 2, (7 + 6) / 2]);
  });
});

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

describe("API: new fields", () => {
  it("parses anomalies with scores, jumps and counts", () => {
    const a = parseAnomalies({
      run: "r", threshold: 6, min_jump: 0.2, warmup: 25, window: 25,
      series: [{ tag: "loss", source: "tb_batch", points: 10, spread: 1, spike: 1, nan: 1, inf: 0, "-inf": 0 }],
      anomalies: [{ tag: "loss", source: "tb_batch", step: 3, value: "NaN", kind: "nan", score: null, jump: null, level: null },
        { tag: "loss", step: 5, value: 9, kind: "spike", score: 23.5, jump: 8, level: 1 }],
    });
    expect(a.anomalies.map((x) => [x.run, x.kind, x.score, x.jump])).toEqual([["r", "nan", null, null], ["r", "spike", 23.5, 8]]);
    expect(a.anomalies[0].value).toBeNaN();
    expect(a.series[0].spike).toBe(1);
  });
  it("parses a step's evaluation", () => {
    const s = parseStep({ run: "v", step: 3, found: true, scalars: {}, distributions: {}, prev_step: 2, next_step: 4,
      evaluation: { first_step: 0, last_step: 37, count: 38, train_step: 45, epoch: 0 } });
    expect(s.evaluation!.train_step).toBe(45);
    expect(parseStep({ run: "v", step: 3, found: false }).evaluation).toBeNull();
  });
});
