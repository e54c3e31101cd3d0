// What the anomalies panel says (docs/http_api.md, `anomalies`): an entry's kind in words (its
// label and title), a validation entry's evaluation, each run's counts per kind, which runs are
// validation runs and the order of the runs' rows. Pure (test/model/anomalies.test.ts).
import type { Anomalies, Anomaly, KindCounts } from "../api/types";
import { fmtNum, fmtStep } from "./format";
import { isNonFinite } from "./sorting";

export interface KindLabel {
  /** what the entry shows after its step: a score, `1 sample 39%`, `grad`, `lr`, `NAN` */
  text: string;
  /** what it means, in a sentence */
  title: string;
  /** a non-finite value */
  bad: boolean;
}

const sigma = (score: number | null) => fmtNum(+(score ?? 0).toFixed(1));

/** Whether an entry is of the batch as a whole: kind `spike` with a batch score of at least the
 * request's threshold. Other `spike` entries are a series' spikes whose kind no per-sample losses
 * decide (a run without them, a step without them, another writer's series). */
export function isWholeBatch(a: Anomaly, threshold: number): boolean {
  return a.kind === "spike" && a.batch_score !== null && a.batch_score !== undefined && a.batch_score >= threshold;
}

/** An entry's kind in words; `threshold` is its response's. */
export function kindLabel(a: Anomaly, threshold: number): KindLabel {
  const s = sigma(a.score);
  switch (a.kind) {
    case "spike": {
      const stretch = a.first_step !== undefined && a.last_step !== undefined && a.first_step !== a.last_step
        ? `; one event over steps ${fmtStep(a.first_step)}–${fmtStep(a.last_step)}, this its highest-scoring step` : "";
      return {
        text: s, bad: false,
        title: isWholeBatch(a, threshold)
          ? `the batch as a whole: its per-sample loss median/upper quartile rose ${s} robust σ${stretch}`
          : `a spike of the series: ${s} robust σ from the median of the points on each side (no per-sample losses decide its kind)${stretch}`,
      };
    }
    case "samples": {
      const share = a.share !== null && a.share !== undefined && Number.isFinite(a.share) ? Math.round(a.share * 100) : null;
      return {
        text: share !== null ? `1 sample ${share}%` : "samples", bad: false,
        title: `a few samples carry the batch's loss: the loss rose ${s} robust σ while its per-sample median and upper quartile did not`
          + (share !== null ? `, and one sample holds ${share}% of it` : "") + "; the drill-down lists them",
      };
    }
    case "gradient":
      return { text: "grad", bad: false, title: `the gradient norm rose ${s} robust σ; the loss shows nothing at this step` };
    case "learning_rate":
      return { text: "lr", bad: false, title: `the learning rate itself jumped (${s} robust σ)` };
    default:
      return isNonFinite(a.kind)
        ? { text: a.kind.toUpperCase(), bad: true, title: `a non-finite value (${fmtNum(a.value)})` }
        : { text: a.kind, bad: false, title: "" };
  }
}

/** An entry's tag and place: `loss @ 764`, or for a validation run's entry its evaluation:
 * `val loss · eval at step 585 (epoch 13), batch 11` (epoch 1-based, as the drill-down says). */
export function entryWhat(a: Anomaly, validation: boolean): string {
  const e = a.evaluation;
  if (!e) return `${validation ? "val " : ""}${a.tag} @ ${fmtStep(a.step)}`;
  const epoch = e.epoch !== null ? ` (epoch ${e.epoch + 1})` : "";
  return `val ${a.tag} · eval at step ${fmtStep(e.train_step)}${epoch}, batch ${e.batch}`;
}

/** A validation run: by the tab's run meta where it knows a role, else by an entry with an
 * evaluation, else by the run's directory name. */
export function isValidationRun(run: string, role: string | null | undefined, res?: Anomalies | string): boolean {
  if (role) return role === "validation";
  if (res && typeof res !== "string" && res.anomalies.some((a) => a.evaluation)) return true;
  return run === "validation" || run.endsWith("/validation");
}

export interface RunCounts extends Omit<KindCounts, "spike"> {
  /** steps whose batch as a whole is off */
  whole: number;
  /** the other `spike` steps: series' spikes no per-sample losses decide */
  spikes: number;
  points: number;
  series: number;
}

/** A run's counts (of one tag, or of all): the response's per-run `counts` (steps, each once)
 * where it has them and no tag is chosen, else the sum over its series. Its `spike` steps are
 * split into whole-batch ones and the others by their listed entries (exact unless the list
 * was cut by its limit). */
export function runCounts(res: Anomalies, tag: string): RunCounts {
  const ser = res.series.filter((s) => !tag || s.tag === tag);
  let base: KindCounts;
  if (!tag && res.counts) base = res.counts;
  else {
    base = { spike: 0, samples: 0, gradient: 0, learning_rate: 0, nan: 0, inf: 0, "-inf": 0 };
    for (const s of ser) for (const k of Object.keys(base) as (keyof KindCounts)[]) base[k] += s[k];
  }
  const { spike, ...rest } = base;
  let spikes = spike;
  if (res.batch_scored) {
    const other = new Set(res.anomalies.filter((a) => a.kind === "spike" && (!tag || a.tag === tag) && !isWholeBatch(a, res.threshold)).map((a) => a.step));
    spikes = Math.min(spike, other.size);
  }
  return { ...rest, whole: spike - spikes, spikes, points: ser.reduce((a, s) => a + s.points, 0), series: ser.length };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A run's row: `0 whole-batch · 11 samples` (a run whose kinds no per-sample losses decide:
 * `3 spikes`), then the other kinds and NaN/Inf where there are any. */
export function countText(c: RunCounts, batchScored: boolean): string {
  const parts = batchScored ? [`${c.whole} whole-batch`] : [];
  if (!batchScored || c.spikes) parts.push(plural(c.spikes, "spike"));
  if (c.samples) parts.push(plural(c.samples, "sample"));
  if (c.gradient) parts.push(`${c.gradient} grad`);
  if (c.learning_rate) parts.push(`${c.learning_rate} lr`);
  const nonfinite = c.nan + c.inf + c["-inf"];
  if (nonfinite) parts.push(`${nonfinite} NaN/Inf`);
  return parts.join(" · ");
}

export interface RunRow {
  run: string;
  validation: boolean;
  /** its whole-batch count; null while loading or failed */
  whole: number | null;
}

/** The runs' rows: training runs, then validation runs, each by whole-batch count (highest
 * first; not yet known last), then name. */
export function orderRuns<T extends RunRow>(rows: readonly T[]): { train: T[]; validation: T[] } {
  const sorted = [...rows].sort((a, b) => (b.whole ?? -1) - (a.whole ?? -1) || (a.run < b.run ? -1 : a.run > b.run ? 1 : 0));
  return { train: sorted.filter((r) => !r.validation), validation: sorted.filter((r) => r.validation) };
}
