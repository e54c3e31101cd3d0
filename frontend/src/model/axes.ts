// Which x axis a run is drawn on, and validation on the training axis: pure functions
// (test/model/axes.test.ts).
//
// A validation run whose data says when each evaluation ran (`evaluations`, each with the
// `train_step` at which it ran) is drawn on the training axis: each evaluation at its
// train_step, its batches as one vertical band (min…max) with their mean. A validation run
// without that information is never overlaid on training steps: it gets its own "validation
// batch" axis.
import type { Evaluation, RunInfo } from "../api/types";

export type Axis = "train" | "val";

/** The run's role: the server's, else from its directory name (`…/train`, `…/validation`). */
export function roleOf(run: RunInfo, names: readonly string[]): { role: "train" | "validation" | null; train_run: string | null } {
  if (run.role !== undefined) return { role: run.role ?? null, train_run: run.train_run ?? null };
  const i = run.run.lastIndexOf("/");
  const leaf = run.run.slice(i + 1), parent = i >= 0 ? run.run.slice(0, i) : "";
  if (leaf === "train") return { role: "train", train_run: null };
  if (leaf !== "validation") return { role: null, train_run: null };
  const train = parent ? `${parent}/train` : "train";
  return { role: "validation", train_run: names.includes(train) ? train : null };
}

/** A validation run with evaluations that say when they ran: drawn on the training axis. */
export function isPlaced(run: RunInfo, role: string | null): boolean {
  return role === "validation" && Array.isArray(run.evaluations) && run.evaluations.length > 0;
}

export function axisOf(run: RunInfo, role: string | null): Axis {
  return role === "validation" && !isPlaced(run, role) ? "val" : "train";
}

/** The evaluation holding a validation step (each runs from its first_step to the next one's). */
export function evaluationOf(evals: readonly Evaluation[], step: number): Evaluation | null {
  let out: Evaluation | null = null;
  for (const e of evals) if (e.first_step <= step) out = e;
  return out;
}

/** The evaluation that followed training step `step`: the first that ran after it (train_step,
 * the number of training batches done, is > step). */
export function evaluationAfter(evals: readonly Evaluation[], step: number): Evaluation | null {
  let best: Evaluation | null = null;
  for (const e of evals) if (e.train_step > step && (!best || e.train_step < best.train_step)) best = e;
  return best;
}

/** The last step of an evaluation: its own, else the step before the next one's first. */
export function lastStepOf(evals: readonly Evaluation[], e: Evaluation): number {
  if (e.last_step !== null && e.last_step !== undefined) return e.last_step;
  const next = evals.find((x) => x.first_step > e.first_step);
  return next ? next.first_step - 1 : Number.MAX_SAFE_INTEGER;
}

export interface EvalBand {
  evaluation: Evaluation;
  /** the training step at which it ran */
  trainStep: number;
  /** finite batches seen, their mean, min and max (with steps), mean wall time */
  n: number;
  mean: number;
  min: number;
  max: number;
  minStep: number;
  maxStep: number;
  wall: number;
  nonFinite: number;
  /** validation steps and values of its batches (for hover and clicks) */
  steps: number[];
  values: number[];
}

/**
 * One band per evaluation from a validation series (steps in order): the points of each
 * evaluation's step range. Evaluations without a point in the series are left out.
 */
export function evaluationBands(
  evals: readonly Evaluation[],
  steps: ArrayLike<number>,
  values: ArrayLike<number>,
  walls: ArrayLike<number>,
): EvalBand[] {
  const out: EvalBand[] = [];
  let i = 0;
  const sorted = [...evals].sort((a, b) => a.first_step - b.first_step);
  for (const e of sorted) {
    const last = lastStepOf(sorted, e);
    while (i < steps.length && steps[i] < e.first_step) i++;
    const b: EvalBand = {
      evaluation: e, trainStep: e.train_step, n: 0, mean: NaN, min: Infinity, max: -Infinity,
      minStep: NaN, maxStep: NaN, wall: NaN, nonFinite: 0, steps: [], values: [],
    };
    let sum = 0, wsum = 0, wn = 0;
    for (; i < steps.length && steps[i] <= last; i++) {
      const v = values[i];
      b.steps.push(steps[i]);
      b.values.push(v);
      if (Number.isFinite(walls[i])) { wsum += walls[i]; wn++; }
      if (!Number.isFinite(v)) { b.nonFinite++; continue; }
      b.n++;
      sum += v;
      if (v < b.min) { b.min = v; b.minStep = steps[i]; }
      if (v > b.max) { b.max = v; b.maxStep = steps[i]; }
    }
    if (!b.steps.length) continue;
    if (b.n) b.mean = sum / b.n;
    else { b.min = NaN; b.max = NaN; }
    b.wall = wn ? wsum / wn : NaN;
    out.push(b);
  }
  return out;
}

/** The validation step range holding the evaluations whose train_step lies in [lo, hi]. */
export function evaluationStepRange(evals: readonly Evaluation[], lo: number, hi: number): { start: number; end: number } | null {
  let start = Infinity, end = -Infinity;
  const sorted = [...evals].sort((a, b) => a.first_step - b.first_step);
  for (const e of sorted) {
    if (e.train_step < lo || e.train_step > hi) continue;
    start = Math.min(start, e.first_step);
    end = Math.max(end, Math.min(lastStepOf(sorted, e), Number.MAX_SAFE_INTEGER));
  }
  return start <= end ? { start, end } : null;
}

/**
 * The same batch of the same evaluation in another validation run: the evaluation with the same
 * epoch (else the same position in the list), at the same offset from its first step.
 */
export function pairedValidationStep(
  from: readonly Evaluation[], to: readonly Evaluation[], step: number,
): number | null {
  const e = evaluationOf(from, step);
  if (!e) return null;
  const sf = [...from].sort((a, b) => a.first_step - b.first_step);
  const st = [...to].sort((a, b) => a.first_step - b.first_step);
  const k = sf.indexOf(e);
  const t = e.epoch !== null ? st.find((x) => x.epoch === e.epoch) ?? null : st[k] ?? null;
  if (!t) return null;
  const s = t.first_step + (step - e.first_step);
  return s <= lastStepOf(st, t) ? s : null;
}
