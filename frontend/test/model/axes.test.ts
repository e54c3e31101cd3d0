// Which axis a run is drawn on, and evaluations on the training axis (src/model/axes.ts).
import { describe, expect, it } from "vitest";
import type { Evaluation, RunInfo } from "../../src/api/types";
import {
  axisOf, evaluationAfter, evaluationBands, evaluationOf, evaluationStepRange, isPlaced, pairedValidationStep, roleOf,
} from "../../src/model/axes";

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
