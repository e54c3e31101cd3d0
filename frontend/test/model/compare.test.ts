// What the drill-down compares a step with (src/model/compare.ts).
import { describe, expect, it } from "vitest";
import type { Evaluation } from "../../src/api/types";
import { comparedColumns, type CompareContext, finiteStats } from "../../src/model/compare";
import type { RunMeta } from "../../src/model/settings";

const EVALS: Evaluation[] = [
  { first_step: 0, last_step: 9, count: 10, train_step: 100, epoch: 0 },
  { first_step: 10, last_step: 19, count: 10, train_step: 200, epoch: 1 },
];
const meta = (run: string, extra: Partial<RunMeta> = {}): RunMeta => ({
  info: { run, tags: [], source: "index", evaluations: EVALS }, role: null, train_run: null, axis: "train", placed: false, first: 0, ...extra,
});
const METAS: Record<string, RunMeta> = {
  "a/train": meta("a/train", { first: 5 }), "b/train": meta("b/train", { first: 50 }),
  "a/validation": meta("a/validation", { placed: true, role: "validation", train_run: "a/train" }),
  "b/validation": meta("b/validation", { placed: true, role: "validation", train_run: "b/train" }),
  old: meta("old", { axis: "val" }), older: meta("older", { axis: "val" }),
};
const ctx = (plotted: string[], relative = false): CompareContext => ({
  plotted, meta: (r) => METAS[r], relative, stepOffset: (r) => (relative ? METAS[r].first : 0),
});

describe("what a step is compared with", () => {
  it("a training step: the same step of other training runs, the evaluation after it of placed runs", () => {
    const cols = comparedColumns("a/train", 150, ctx(["a/train", "b/train", "a/validation", "old"]));
    expect(cols.map((c) => [c.run, c.step, c.label])).toEqual([
      ["a/train", 150, "step 150"], ["b/train", 150, "step 150"], ["a/validation", null, "evaluation after it (epoch 2, at step 200)"],
    ]);
    expect(cols[2].evaluation).toBe(EVALS[1]);
    expect(comparedColumns("a/train", 150, ctx(["a/train", "b/train"], true))[1].step).toBe(195);
  });
  it("a placed validation batch: the same batch of other placed runs, the last training step before it", () => {
    const cols = comparedColumns("a/validation", 12, ctx(["a/validation", "b/validation", "a/train"]));
    expect(cols.map((c) => [c.run, c.step, c.label])).toEqual([
      ["a/validation", 12, "validation batch 12 (3 of 10)"], ["b/validation", 12, "validation batch 12 (same batch)"],
      ["a/train", 199, "step 199 (last before this evaluation)"],
    ]);
  });
  it("a batch on the validation axis: the same batch of the other runs on that axis; an unknown run alone", () => {
    expect(comparedColumns("old", 7, ctx(["old", "older", "a/train"])).map((c) => c.label)).toEqual(["validation batch 7", "validation batch 7"]);
    expect(comparedColumns("gone", 7, ctx(["gone", "a/train"]))).toEqual([{ run: "gone", step: 7, label: "step 7" }]);
  });
});

describe("an evaluation's summary", () => {
  it("mean, min and max of the finite values", () => {
    expect(finiteStats([1, NaN, 3, Infinity])).toEqual({ mean: 2, min: 1, max: 3, n: 2 });
    const none = finiteStats([NaN]);
    expect([none.mean, none.min, none.max, none.n]).toEqual([NaN, NaN, NaN, 0]);
  });
});
