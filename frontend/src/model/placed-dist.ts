// A validation run placed on the training axis, in the Distributions view: its distribution's
// columns (validation batches) merged per evaluation into one column at the training step that
// evaluation followed, as the Steps view draws it (axes.ts). Without this its batches would sit at
// their own numbers (0…299) on the training step axis. Pure (test/model/placed-dist.test.ts).
import type { Distribution, Evaluation } from "../api/types";
import { evaluationOf } from "./axes";

export interface PlacedDist {
  /** one column per evaluation, at its train_step (less the run's offset) */
  dist: Distribution;
  /** per column: its evaluation and the validation steps merged into it */
  evals: { evaluation: Evaluation; first: number; last: number }[];
}

/** Merges a placed validation run's columns per evaluation (the server's reduction rule: low
 * quantiles the min, high ones the max, the median the mean, the mean weighted by counts). */
export function placeDistribution(d: Distribution, evals: readonly Evaluation[], offset: number): PlacedDist {
  const groups: { evaluation: Evaluation; cols: number[] }[] = [];
  for (let j = 0; j < d.steps.length; j++) {
    const e = evaluationOf(evals, d.steps[j]);
    if (!e) continue;
    const g = groups[groups.length - 1];
    if (g && g.evaluation === e) g.cols.push(j);
    else groups.push({ evaluation: e, cols: [j] });
  }
  const n = groups.length;
  const steps = new Float64Array(n), min = new Float64Array(n), max = new Float64Array(n), mean = new Float64Array(n);
  const quantiles = d.probs.map(() => new Float64Array(n));
  const counts: number[][] = [];
  const out: PlacedDist["evals"] = [];
  groups.forEach(({ evaluation, cols }, i) => {
    steps[i] = evaluation.train_step - offset;
    min[i] = Math.min(...cols.map((j) => d.min[j]));
    max[i] = Math.max(...cols.map((j) => d.max[j]));
    const w = cols.map((j) => (d.counts[j] ?? []).reduce((a, b) => a + b, 0) || 1);
    mean[i] = cols.reduce((a, j, k) => a + d.mean[j] * w[k], 0) / w.reduce((a, b) => a + b, 0);
    d.probs.forEach((p, q) => {
      const vs = cols.map((j) => d.quantiles[q][j]);
      quantiles[q][i] = p < 0.5 ? Math.min(...vs) : p > 0.5 ? Math.max(...vs) : vs.reduce((a, b) => a + b, 0) / vs.length;
    });
    const bins = d.counts[cols[0]]?.length ?? 0;
    counts.push(Array.from({ length: bins }, (_, b) => cols.reduce((a, j) => a + (d.counts[j]?.[b] ?? 0), 0)));
    out.push({ evaluation, first: d.steps[cols[0]], last: d.stepEnds[cols[cols.length - 1]] });
  });
  return { dist: { ...d, steps, stepEnds: steps.slice(), min, max, mean, quantiles, counts }, evals: out };
}
