// A placed validation run's distribution, merged per evaluation at its training step
// (src/model/placed-dist.ts).
import { describe, expect, it } from "vitest";
import type { Distribution, Evaluation } from "../../src/api/types";
import { placeDistribution } from "../../src/model/placed-dist";

const f64 = (xs: number[]) => Float64Array.from(xs);
// two evaluations of 3 and 2 batches (validation steps 0-2 and 3-4), after training steps 45 and 90
const EVALS: Evaluation[] = [
  { first_step: 0, last_step: 2, count: 3, train_step: 45, epoch: 0 },
  { first_step: 3, last_step: 4, count: 2, train_step: 90, epoch: 1 },
];
const DIST: Distribution = {
  run: "v", tag: "t", count: 5, reduced: false, probs: [0, 0.25, 0.5, 0.75, 1],
  steps: f64([0, 1, 2, 3, 4]), stepEnds: f64([0, 1, 2, 3, 4]),
  min: f64([0, -1, 1, 5, 6]), max: f64([3, 4, 2, 7, 9]), mean: f64([1, 2, 1.5, 6, 7]),
  quantiles: [f64([0, -1, 1, 5, 6]), f64([1, 0, 1, 5, 6]), f64([1, 2, 1.5, 6, 8]), f64([2, 3, 2, 7, 8]), f64([3, 4, 2, 7, 9])],
  edges: [0, 5, 10], counts: [[1, 0], [2, 0], [1, 0], [0, 1], [0, 3]],
};

describe("placeDistribution", () => {
  it("puts each evaluation at the training step it followed, never at its batch numbers", () => {
    const { dist, evals } = placeDistribution(DIST, EVALS, 0);
    expect(Array.from(dist.steps)).toEqual([45, 90]);
    expect(Array.from(dist.stepEnds)).toEqual([45, 90]);
    expect(evals.map((e) => [e.evaluation.train_step, e.first, e.last])).toEqual([[45, 0, 2], [90, 3, 4]]);
  });
  it("merges its batches: low quantiles their min, high ones their max, the median the mean", () => {
    const { dist } = placeDistribution(DIST, EVALS, 0);
    expect(Array.from(dist.min)).toEqual([-1, 5]);
    expect(Array.from(dist.max)).toEqual([4, 9]);
    expect(Array.from(dist.quantiles[1])).toEqual([0, 5]);
    expect(Array.from(dist.quantiles[2])).toEqual([1.5, 7]);
    expect(Array.from(dist.quantiles[3])).toEqual([3, 8]);
    // mean weighted by each batch's count: (1*1 + 2*2 + 1.5*1) / 4, (6*1 + 7*3) / 4
    expect(Array.from(dist.mean)).toEqual([6.5 / 4, 27 / 4]);
    expect(dist.counts).toEqual([[4, 0], [0, 4]]);
  });
  it("subtracts the training run's offset (relative steps) and skips batches before any evaluation", () => {
    const { dist } = placeDistribution({ ...DIST }, [EVALS[1]], 40);
    expect(Array.from(dist.steps)).toEqual([50]);
  });
});
