// What the drill-down compares a run's step with (pure; test/model/compare.test.ts): the same step
// of every other plotted run on the same axis; for a training step, the evaluation that followed
// it in each validation run placed on the training axis; for a validation batch, the same batch
// of the same evaluation in other validation runs and the last training step before that
// evaluation. And the summary of an evaluation's batches.
import type { Evaluation } from "../api/types";
import { evaluationAfter, evaluationOf, pairedValidationStep } from "./axes";
import { fmtStep } from "./format";
import type { RunMeta } from "./settings";

/** One column of the comparison: a run at a step, or a validation run's whole evaluation. */
export interface Column {
  run: string;
  step: number | null;
  label: string;
  evaluation?: Evaluation;
}

export interface CompareContext {
  /** the plotted runs */
  plotted: readonly string[];
  meta(run: string): RunMeta | undefined;
  /** steps since each run's start (the relative step axis) */
  relative: boolean;
  stepOffset(run: string): number;
}

/** The columns to show for a run's step: itself first, then what it is compared with. */
export function comparedColumns(run: string, step: number, context: CompareContext): Column[] {
  const m = context.meta(run);
  const cols: Column[] = [{ run, step, label: `step ${fmtStep(step)}` }];
  if (!m) return cols;
  const others = context.plotted.filter((r) => r !== run);
  const rel = context.relative;
  const same = (q: string) => (rel ? step - context.stepOffset(run) + context.stepOffset(q) : step);
  if (m.axis === "val") {
    cols[0].label = `validation batch ${fmtStep(step)}`;
    for (const q of others) if (context.meta(q)?.axis === "val") cols.push({ run: q, step: same(q), label: `validation batch ${fmtStep(same(q))}` });
    return cols;
  }
  if (m.placed) {
    const evals = m.info.evaluations ?? [];
    const e = evaluationOf(evals, step);
    if (e) cols[0].label = `validation batch ${fmtStep(step)} (${step - e.first_step + 1} of ${e.count})`;
    for (const q of others) {
      const mq = context.meta(q);
      if (!mq) continue;
      if (mq.placed) {
        const s = pairedValidationStep(evals, mq.info.evaluations ?? [], step);
        if (s !== null) cols.push({ run: q, step: s, label: `validation batch ${fmtStep(s)} (same batch)` });
      } else if (mq.axis === "train" && e) {
        const s = e.train_step - 1 - (rel ? context.stepOffset(run) - context.stepOffset(q) : 0);
        cols.push({ run: q, step: s, label: `step ${fmtStep(s)} (last before this evaluation)` });
      }
    }
    return cols;
  }
  for (const q of others) {
    const mq = context.meta(q);
    if (!mq || mq.axis !== "train") continue;
    if (mq.placed) {
      // a placed run's step offset is its train run's: `same` is a step of that train run
      const e = evaluationAfter(mq.info.evaluations ?? [], same(q));
      if (e) cols.push({ run: q, step: null, evaluation: e, label: `evaluation after it (${e.epoch !== null ? `epoch ${e.epoch + 1}, ` : ""}at step ${fmtStep(e.train_step)})` });
    } else cols.push({ run: q, step: same(q), label: `step ${fmtStep(same(q))}` });
  }
  return cols;
}

export interface FiniteStats {
  mean: number;
  min: number;
  max: number;
  /** how many finite values */
  n: number;
}

/** Mean, min and max of the finite values (NaN for each when there is none). */
export function finiteStats(values: ArrayLike<number>): FiniteStats {
  let sum = 0, n = 0, mn = Infinity, mx = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) { sum += v; n++; mn = Math.min(mn, v); mx = Math.max(mx, v); }
  }
  return { mean: n ? sum / n : NaN, min: n ? mn : NaN, max: n ? mx : NaN, n };
}
