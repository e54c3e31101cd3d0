// Parsing of the plugin's HTTP answers (docs/http_api.md) into the types of types.ts: the API's
// JSON numbers (non-finite values come as strings), and the `format=binary` layout. No fetch
// here: every parser is a pure function (test/api/parse.test.ts).
import type {
  Anomalies, Anomaly, AnomalyEvaluation, BinaryArray, DataMapGrid, Distribution, DynamicsAnswer, DynamicsPoints, DynamicsRecord,
  Evaluation, Hardest, KindCounts, LabelIssues, PerClass, Presentations, SampleRow, Series, StepData, StepDist, StepSamples,
} from "./types";

/** A JSON number of the HTTP API: a number, or "NaN" / "Infinity" / "-Infinity" (JSON has
 * no non-finite numbers), or null. Anything else is NaN. */
export type ApiNumber = number | string | null | undefined;

export function parseNum(v: ApiNumber): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity" || v === "inf" || v === "+Infinity") return Infinity;
  if (v === "-Infinity" || v === "-inf") return -Infinity;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return n;
  }
  return NaN;
}

export function toF64(arr: readonly ApiNumber[] | null | undefined): Float64Array {
  const n = arr ? arr.length : 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = parseNum(arr![i]);
  return out;
}

export function parseSeries(j: any): Series {
  return {
    run: j.run,
    tag: j.tag,
    start: Number(j.start),
    end: Number(j.end),
    count: Number(j.count) || 0,
    reduced: !!j.reduced,
    method: String(j.method ?? (j.reduced ? "m4" : "raw")),
    steps: toF64(j.steps),
    values: toF64(j.values),
    walls: toF64(j.wall_times),
    sampled: j.sampled && typeof j.sampled === "object" ? { n: Number(j.sampled.n), N: Number(j.sampled.N) } : null,
    source: typeof j.source === "string" ? j.source : undefined,
  };
}

/** A Distribution of a response's fields and its arrays (read from JSON or binary). */
function distributionOf(
  j: any, a: Pick<Distribution, "steps" | "stepEnds" | "min" | "max" | "mean" | "quantiles" | "counts">,
): Distribution {
  return {
    run: j.run, tag: j.tag, count: Number(j.count) || 0, reduced: !!j.reduced,
    probs: (j.quantile_probs ?? []).map(parseNum), edges: (j.heatmap?.edges ?? []).map(parseNum), ...a,
  };
}

export function parseDistribution(j: any): Distribution {
  const q: Float64Array[] = Array.isArray(j.quantiles) ? j.quantiles.map((r: ApiNumber[]) => toF64(r)) : [];
  return distributionOf(j, {
    steps: toF64(j.steps), stepEnds: toF64(j.step_ends ?? j.steps),
    min: toF64(j.min), max: toF64(j.max), mean: toF64(j.mean), quantiles: q,
    counts: (j.heatmap?.counts ?? []).map((r: ApiNumber[]) => Array.from(toF64(r))),
  });
}


/** Reads a `format=binary` response (see docs/http_api.md): a little-endian uint32 n, n bytes
 * of JSON (the response's other fields and where each array lies), zeros to a multiple of 8,
 * then the arrays' values; the arrays are views of `buf`, no number is parsed. (Typed arrays
 * read the platform's byte order: little-endian wherever a browser runs.) */
export function decodeBinary(buf: ArrayBuffer): { header: any; arrays: Record<string, BinaryArray> } {
  const n = new DataView(buf).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const base = Math.ceil((4 + n) / 8) * 8;
  const arrays: Record<string, BinaryArray> = {};
  for (const a of header.arrays ?? []) {
    const count = (a.shape as number[]).reduce((x, y) => x * y, 1);
    const data = a.dtype === "f4" ? new Float32Array(buf, base + a.offset, count) : new Float64Array(buf, base + a.offset, count);
    arrays[a.name] = { data, shape: a.shape };
  }
  return { header, arrays };
}

/** The Distribution of a `distribution` response in `format=binary`. */
export function parseDistributionBinary(buf: ArrayBuffer): Distribution {
  const { header: j, arrays } = decodeBinary(buf);
  const f64 = (name: string) => (arrays[name]?.data as Float64Array | undefined) ?? new Float64Array(0);
  const rows = (name: string): Float64Array[] | Float32Array[] => {
    const a = arrays[name];
    if (!a || a.shape.length !== 2) return [];
    const w = a.shape[1];
    return Array.from({ length: a.shape[0] }, (_, i) => a.data.subarray(i * w, (i + 1) * w)) as Float64Array[];
  };
  return distributionOf(j, {
    steps: f64("steps"), stepEnds: f64("step_ends"), min: f64("min"), max: f64("max"), mean: f64("mean"),
    quantiles: rows("quantiles") as Float64Array[], counts: rows("heatmap_counts").map((r) => Array.from(r)),
  });
}

function parseStepDist(d: any): StepDist {
  const f = (v: ApiNumber) => parseNum(v);
  return {
    count: f(d.count), nan_count: f(d.nan_count), posinf_count: f(d.posinf_count), neginf_count: f(d.neginf_count),
    min: f(d.min), max: f(d.max), mean: f(d.mean), std: f(d.std),
    quantile_probs: (d.quantile_probs ?? []).map(f),
    quantiles: (d.quantiles ?? []).map(f),
    bin_edges: (d.bin_edges ?? []).map(f),
    histogram: (d.histogram ?? []).map(f),
  };
}

export function parseStep(j: any): StepData {
  const scalars: Record<string, number> = {};
  for (const [k, v] of Object.entries(j.scalars ?? {})) scalars[k] = parseNum(v as ApiNumber);
  const distributions: Record<string, StepDist> = {};
  for (const [k, v] of Object.entries(j.distributions ?? {})) distributions[k] = parseStepDist(v);
  return {
    run: j.run,
    step: Number(j.step),
    wall_time: j.wall_time === null || j.wall_time === undefined ? null : parseNum(j.wall_time),
    found: !!j.found,
    scalars,
    distributions,
    prev_step: j.prev_step ?? null,
    next_step: j.next_step ?? null,
    evaluation: j.evaluation && typeof j.evaluation === "object" ? (j.evaluation as Evaluation) : null,
  };
}

const optNum = (v: any): number | null => (v === null || v === undefined ? null : parseNum(v));

const KINDS = ["spike", "samples", "gradient", "learning_rate", "nan", "inf", "-inf"] as const;

function kindCounts(j: any): KindCounts {
  const out = {} as KindCounts;
  for (const k of KINDS) out[k] = Number(j?.[k]) || 0;
  return out;
}

function evaluationOf(e: any): AnomalyEvaluation | null {
  if (!e || typeof e !== "object") return null;
  return { train_step: Number(e.train_step), epoch: e.epoch === null || e.epoch === undefined ? null : Number(e.epoch), batch: Number(e.batch) };
}

function parseAnomaly(a: any, run: string): Anomaly {
  const out: Anomaly = {
    run,
    tag: String(a.tag),
    source: typeof a.source === "string" ? a.source : undefined,
    step: Number(a.step),
    value: parseNum(a.value),
    kind: String(a.kind),
    score: optNum(a.score),
    jump: optNum(a.jump),
    level: optNum(a.level),
  };
  if ("batch_score" in a) out.batch_score = optNum(a.batch_score);
  if ("share" in a) out.share = optNum(a.share);
  if (a.first_step !== undefined && a.last_step !== undefined) {
    out.first_step = Number(a.first_step);
    out.last_step = Number(a.last_step);
  }
  if ("evaluation" in a) out.evaluation = evaluationOf(a.evaluation);
  return out;
}

/** An `anomalies` response; the fields newer servers add (kinds' counts, batch scores, shares,
 * evaluations) are absent, null or 0 from older ones. */
export function parseAnomalies(j: any): Anomalies {
  const run = String(j.run);
  return {
    run,
    threshold: parseNum(j.threshold),
    min_jump: optNum(j.min_jump),
    warmup: optNum(j.warmup),
    window: optNum(j.window),
    batch_scored: j.batch_scored === true,
    series: (Array.isArray(j.series) ? j.series : []).map((s: any) => ({
      ...kindCounts(s), tag: String(s.tag), source: typeof s.source === "string" ? s.source : undefined,
      points: Number(s.points) || 0, spread: optNum(s.spread) ?? undefined,
    })),
    counts: j.counts && typeof j.counts === "object" ? kindCounts(j.counts) : null,
    anomalies: (j.anomalies ?? []).map((a: any) => parseAnomaly(a, run)),
  };
}

export function parseSamples(j: any): StepSamples {
  const fields: string[] = Array.isArray(j?.fields) ? j.fields.map(String) : [];
  const samples: SampleRow[] = (Array.isArray(j?.samples) ? j.samples : []).map((r: any) => {
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(r ?? {})) if (k !== "fingerprint") values[k] = parseNum(v as ApiNumber);
    return { fingerprint: String(r?.fingerprint ?? ""), values };
  });
  return {
    run: String(j?.run ?? ""), step: Number(j?.step), found: !!j?.found, num_samples: Number(j?.num_samples) || 0,
    fields, samples, share: parseNum(j?.share),
  };
}

const optId = (v: any): number | null => {
  const n = v === null || v === undefined ? NaN : parseNum(v);
  return Number.isFinite(n) ? n : null;
};

export function parseHardest(j: any): Hardest {
  return {
    run: String(j?.run ?? ""), start: Number(j?.start), end: Number(j?.end),
    samples: (Array.isArray(j?.samples) ? j.samples : []).map((r: any) => ({
      fingerprint: String(r?.fingerprint ?? ""), id: optId(r?.id), count: Number(r?.count) || 0,
      max_loss: parseNum(r?.max_loss), mean_loss: parseNum(r?.mean_loss),
      first_step: Number(r?.first_step), last_step: Number(r?.last_step),
      label: optId(r?.label), predicted: optId(r?.predicted),
    })),
  };
}

export function parsePerClass(j: any): PerClass {
  const steps = (j?.steps ?? []).map(Number);
  return {
    run: String(j?.run ?? ""), output: typeof j?.output === "string" ? j.output : null,
    classes: Number(j?.classes) || 0, count: Number(j?.count) || 0, reduced: !!j?.reduced,
    steps, stepEnds: (j?.step_ends ?? steps).map(Number),
    means: (j?.means ?? []).map((r: ApiNumber[]) => toF64(r)),
    counts: (j?.counts ?? []).map((r: ApiNumber[]) => toF64(r)),
  };
}

/** A dynamics record (a `dynamics` row or a `label_issues` issue). */
export function parseDynamicsRecord(r: any): DynamicsRecord {
  const n = (k: string) => parseNum(r?.[k]);
  return {
    fingerprint: String(r?.fingerprint ?? ""), id: optId(r?.id), presentations: Number(r?.presentations) || 0,
    first_step: n("first_step"), last_step: n("last_step"), aum: n("aum"), forgetting: n("forgetting"),
    learned_step: n("learned_step"), confidence: n("confidence"), variability: n("variability"), accuracy: n("accuracy"),
    mean_loss: n("mean_loss"), last_loss: n("last_loss"), label: optId(r?.label), predicted: optId(r?.predicted), score: n("score"),
    flagged: r?.flagged === true,
  };
}

const optF64 = (a: any): Float64Array | null => (Array.isArray(a) ? toF64(a) : null);

function parseDynamicsPoints(p: any): DynamicsPoints | null {
  if (!p || typeof p !== "object" || !Array.isArray(p.confidence)) return null;
  return {
    variability: toF64(p.variability), confidence: toF64(p.confidence), aum: toF64(p.aum), forgetting: toF64(p.forgetting),
    fingerprint: (Array.isArray(p.fingerprint) ? p.fingerprint : []).map(String),
    id: Array.isArray(p.id) ? p.id.map(optId) : null, label: optF64(p.label), predicted: optF64(p.predicted),
  };
}

function parseDataMapGrid(m: any): DataMapGrid {
  const rows = (a: any): Float64Array[] => (Array.isArray(a) ? a.map((r: ApiNumber[]) => toF64(r)) : []);
  return {
    variability: (m?.variability ?? []).map(parseNum), confidence: (m?.confidence ?? []).map(parseNum),
    count: (Array.isArray(m?.count) ? m.count : []).map((r: any[]) => r.map((c) => Number(c) || 0)),
    aum: rows(m?.aum), forgetting: rows(m?.forgetting),
  };
}

export function parseDynamics(j: any): DynamicsAnswer {
  return {
    run: String(j?.run ?? ""), output: typeof j?.output === "string" ? j.output : "",
    outputs: Array.isArray(j?.outputs) ? j.outputs.map(String) : [], count: Number(j?.count) || 0,
    classification: !!j?.classification, map: parseDataMapGrid(j?.map), points: parseDynamicsPoints(j?.points),
    rows: (Array.isArray(j?.rows) ? j.rows : []).map(parseDynamicsRecord), order: String(j?.order ?? "aum"),
    descending: !!j?.descending, offset: Number(j?.offset) || 0, limit: Number(j?.limit) || 0,
  };
}

export function parseLabelIssues(j: any): LabelIssues {
  return {
    run: String(j?.run ?? ""), output: typeof j?.output === "string" ? j.output : "",
    flagged: Number(j?.flagged) || 0, count: Number(j?.count) || 0,
    issues: (Array.isArray(j?.issues) ? j.issues : []).map(parseDynamicsRecord),
  };
}

export function parsePresentations(j: any): Presentations {
  const p = j?.presentations ?? {};
  const step = (Array.isArray(p.step) ? p.step : []).map(Number);
  const column = (a: any) => (Array.isArray(a) ? toF64(a) : new Float64Array(step.length).fill(NaN));
  return {
    run: String(j?.run ?? ""), output: typeof j?.output === "string" ? j.output : "", key: String(j?.key ?? ""), step,
    loss: column(p.loss), margin: column(p.margin), labelProbability: column(p.label_probability),
    correct: step.map((_: number, i: number) => (Array.isArray(p.correct) && typeof p.correct[i] === "boolean" ? p.correct[i] : null)),
    predicted: column(p.predicted),
  };
}
