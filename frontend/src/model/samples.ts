// The samples behind a step, and per-class losses: pure functions (test/model/samples.test.ts).
// What a recorded sample row says (its identity, label → prediction per output), how much of the
// batch loss the listed samples carry, and the colour scale and cells of the class × step heatmap.
import type { HardSample, PerClass } from "../api/types";
import { fmtNum } from "./format";
import { rampColor } from "./heat-colors";
import { quantileSorted } from "./ranges";

/** The outputs of a samples layout: "" for a model's single output, else each output's name
 * (fields `label/<output>`), in field order. */
export function outputsOf(fields: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const m = /^label(?:\/(.+))?$/.exec(f);
    if (m) out.push(m[1] ?? "");
  }
  return out;
}

export interface Prediction {
  output: string;
  /** a classification output (label and predicted are classes, with probabilities) */
  classes: boolean;
  label: number;
  predicted: number;
  /** of the predicted class, and of the label's class (NaN for regression) */
  probability: number;
  labelProbability: number;
}

/** Label and prediction of each output of a recorded sample. */
export function predictions(values: Readonly<Record<string, number>>, outputs: readonly string[]): Prediction[] {
  return outputs.map((o) => {
    const f = (name: string) => values[o ? `${name}/${o}` : name];
    const probability = f("probability");
    return {
      output: o, classes: probability !== undefined, label: f("label") ?? NaN, predicted: f("predicted") ?? NaN,
      probability: probability ?? NaN, labelProbability: f("label_probability") ?? NaN,
    };
  });
}

/** "3 → 8" (classes), "1.25 → 0.93" (values), with the output's name for several outputs. */
export function predictionText(p: Prediction): string {
  const v = (x: number) => (p.classes && Number.isInteger(x) ? String(x) : fmtNum(x));
  return `${p.output ? `${p.output}: ` : ""}${v(p.label)} → ${v(p.predicted)}`;
}

/** A probability for a table cell: 3 significant digits, small ones as 1.7e-17. */
export function fmtProb(p: number): string {
  if (!Number.isFinite(p)) return "–";
  if (p === 0 || p === 1) return String(p);
  if (p < 1e-3) return p.toExponential(1).replace(".0e", "e");
  return String(Number(p.toPrecision(3)));
}

/** A share as a percentage: whole percents from 10%, one decimal below, "<0.1%" near 0. */
export function fmtPct(x: number): string {
  if (!Number.isFinite(x)) return "–";
  const p = x * 100;
  if (p >= 10) return `${Math.round(p)}%`;
  if (p >= 0.05) return `${p.toFixed(1).replace(/\.0$/, "")}%`;
  return p > 0 ? "<0.1%" : "0%";
}

/** A sample's identity as shown: its id when the run recorded ids, else its fingerprint,
 * shortened (`full` is the whole fingerprint, for the tooltip and the copy button). */
export function identity(fingerprint: string, id: number | null | undefined, chars = 8): { text: string; full: string; kind: "id" | "fingerprint" } {
  if (id !== null && id !== undefined && Number.isFinite(id)) return { text: `id ${id}`, full: fingerprint, kind: "id" };
  return { text: fingerprint.length > chars ? `${fingerprint.slice(0, chars)}…` : fingerprint, full: fingerprint, kind: "fingerprint" };
}

/** The key a sample is told apart by in a run (as `hardest` does): its id when recorded, else
 * its fingerprint. */
export function sampleKey(s: { fingerprint: string; id: number | null }): string {
  return s.id !== null && Number.isFinite(s.id) ? `id:${s.id}` : `fp:${s.fingerprint}`;
}

export interface LossSummary {
  /** the fewest leading samples that carry at least `target` of the batch loss (all listed
   * samples when they carry less) */
  n: number;
  share: number;
  /** what all listed samples carry, and how many were listed */
  listed: number;
  total: number;
}

/** How concentrated the batch loss is: the fewest of the listed samples (highest loss first)
 * whose shares add up to `target`. */
export function lossSummary(shares: readonly number[], target = 0.8): LossSummary {
  let sum = 0, n = 0, share = NaN;
  const listed = shares.length;
  for (let i = 0; i < listed; i++) {
    const s = shares[i];
    if (Number.isFinite(s)) sum += s;
    if (n === 0 && sum >= target) { n = i + 1; share = sum; }
  }
  if (n === 0) { n = listed; share = sum; }
  return { n, share, listed, total: sum };
}

/** "2 samples = 83% of this batch's loss (the 8 listed: 97%)". */
export function lossSummaryText(s: LossSummary): string {
  if (!s.listed) return "no sample recorded at this step";
  const head = s.n === s.listed && s.share < 0.8
    ? `the ${s.listed} listed = ${fmtPct(s.share)} of this batch's loss`
    : `${s.n} sample${s.n === 1 ? "" : "s"} = ${fmtPct(s.share)} of this batch's loss`;
  return s.n < s.listed ? `${head} (the ${s.listed} listed: ${fmtPct(s.total)})` : head;
}

/** A Python list of fingerprints, for `tbb.find(x, [...])`. */
export function fingerprintList(rows: readonly { fingerprint: string }[]): string {
  return `[${rows.map((r) => `"${r.fingerprint}"`).join(", ")}]`;
}

/** Number of steps a hardest sample's row says it came back at: "25 of 1,125 steps". */
export function timesText(s: HardSample, steps: number | null): string {
  return steps ? `${s.count} of ${steps.toLocaleString("en-US")} steps` : `${s.count} steps`;
}

// ---------------------------------------------------------------- the class × step heatmap

/** The colour scale of per-class mean losses over several heatmaps: log, from the 1st
 * percentile of the positive means to the largest (null when there is none). */
export function lossScale(pcs: readonly PerClass[]): [number, number] | null {
  const vals: number[] = [];
  for (const pc of pcs) for (const row of pc.means) for (const v of row) if (v > 0 && Number.isFinite(v)) vals.push(v);
  if (!vals.length) return null;
  const sorted = Float64Array.from(vals).sort();
  const hi = sorted[sorted.length - 1];
  let lo = quantileSorted(sorted, 0.01);
  if (!(lo < hi)) lo = hi / 10;
  return [lo, hi];
}

/** Where a mean loss lies on a log scale [lo, hi]: 0..1 (clamped). */
export function lossT(v: number, scale: readonly [number, number]): number {
  if (!(v > 0)) return 0;
  const [lo, hi] = scale;
  return Math.min(1, Math.max(0, (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))));
}

/** The RGBA colour of a mean loss (transparent where there is none: NaN, a class not in the
 * column). */
export function lossColor(v: number, scale: readonly [number, number], dark: boolean): [number, number, number, number] {
  if (!Number.isFinite(v)) return [0, 0, 0, 0];
  return [...rampColor(lossT(v, scale), dark), 255];
}

/** The column of a per-class result under x (as drawn: column j covers [its first step, its
 * last step + 1)), -1 if none. */
export function columnOfStep(pc: PerClass, x: number): number {
  let lo = 0, hi = pc.steps.length - 1, best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (pc.steps[mid] <= x) { best = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return best >= 0 && x < pc.stepEnds[best] + 1 ? best : -1;
}

/** Of the steps of a raw per-class result, the one where class c had its highest mean loss (the
 * step a click on a reduced column opens); NaN when c is in none of them. */
export function worstStepOfClass(pc: PerClass, c: number): number {
  let best = NaN, bv = -Infinity;
  pc.means.forEach((row, j) => {
    if (!((pc.counts[j]?.[c] ?? 0) > 0)) return;
    const v = Number.isNaN(row[c]) ? Infinity : row[c]; // a NaN loss ranks highest
    if (v > bv) { bv = v; best = pc.steps[j]; }
  });
  return best;
}

/** What the chip of a marked sample says after its identity, and its tooltip. */
export function marksSummary(m: { run: string; complete: boolean; count: number; what?: string }): { text: string; title: string } {
  if (m.what === "presentations") {
    return { text: ` of ${m.run}: ${m.count} presentation${m.count === 1 ? "" : "s"} marked`, title: "Every step that trained on it (its dynamics)" };
  }
  return {
    text: ` of ${m.run}: ${m.complete ? `${m.count} step${m.count === 1 ? "" : "s"} marked` : `first and last of its ${m.count} steps`}`,
    title: m.complete ? "Every step at which it was among its batch's highest-loss samples" : "This server does not list every step of a sample: only the first and last are marked",
  };
}
