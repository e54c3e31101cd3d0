// Client of the plugin's HTTP API (docs/http_api.md). URLs are relative to the document's base,
// which TensorBoard's plugin_entry.html sets to `plugin/tb_batch/`.
import { ApiNumber, parseNum, toF64 } from "./logic";

export interface Sampled {
  n: number;
  N: number;
}

export interface TagInfo {
  tag: string;
  kind: string;
  /** "tb_batch", "scalars" or "simple_value" (absent from older servers: "tb_batch") */
  source?: string;
  /** "exact", "reported", "custom" or "logged" (absent from older servers) */
  provenance?: string;
  count: number;
  first_step: number;
  last_step: number;
  sampled?: Sampled | null;
}

/** One validation pass of a validation run (docs/http_api.md, `runs`). */
export interface Evaluation {
  first_step: number;
  last_step: number | null;
  count: number;
  /** training batches done when it ran: its place on the training axis */
  train_step: number;
  epoch: number | null;
}

export interface RunInfo {
  run: string;
  tags: TagInfo[];
  source: string;
  role?: "train" | "validation" | null;
  train_run?: string | null;
  fits?: number[];
  /** absent from servers older than the evaluation markers; [] when the data has none */
  evaluations?: Evaluation[];
  skipped?: Record<string, number>;
  /** whether the run recorded its batches' highest-loss samples (absent from older servers) */
  samples?: boolean;
  /** the outputs with per-class losses: [null] for a model's single output, [] without */
  per_class?: (string | null)[];
}

export interface RunsResponse {
  runs: RunInfo[];
  corrupt_records?: number;
}

export interface Series {
  run: string;
  tag: string;
  start: number;
  end: number;
  count: number;
  reduced: boolean;
  method: string;
  steps: Float64Array;
  values: Float64Array;
  walls: Float64Array;
  sampled: Sampled | null;
  source?: string;
}

export interface Distribution {
  run: string;
  tag: string;
  count: number;
  reduced: boolean;
  probs: number[];
  steps: Float64Array;
  stepEnds: Float64Array;
  min: Float64Array;
  max: Float64Array;
  mean: Float64Array;
  quantiles: Float64Array[];
  edges: number[];
  counts: number[][];
}

export interface StepDist {
  count: number;
  nan_count: number;
  posinf_count: number;
  neginf_count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  quantile_probs: number[];
  quantiles: number[];
  bin_edges: number[];
  histogram: number[];
}

export interface StepData {
  run: string;
  step: number;
  wall_time: number | null;
  found: boolean;
  scalars: Record<string, number>;
  distributions: Record<string, StepDist>;
  prev_step: number | null;
  next_step: number | null;
  evaluation: Evaluation | null;
}

export interface Anomaly {
  run: string;
  tag: string;
  source?: string;
  step: number;
  value: number;
  kind: "nan" | "inf" | "-inf" | "spike" | string;
  score: number | null;
  jump: number | null;
  level: number | null;
}

export interface AnomalyCounts {
  tag: string;
  source?: string;
  points: number;
  spike: number;
  nan: number;
  inf: number;
  "-inf": number;
}

export interface Anomalies {
  run: string;
  threshold: number;
  min_jump: number | null;
  warmup: number | null;
  window: number | null;
  series: AnomalyCounts[];
  anomalies: Anomaly[];
}

export class ApiError extends Error {
  constructor(message: string, public status: number) {
    super(message);
  }
}

type Params = Record<string, string | number | undefined | null>;

export function apiUrl(route: string, params: Params = {}, base: string = document.baseURI): string {
  const u = new URL(route, base);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
  }
  return u.toString();
}

/** The ApiError of a failed response: the server's JSON `error` when it sent one. */
async function apiError(route: string, resp: Response): Promise<ApiError> {
  let body: any = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  const msg = body && typeof body.error === "string" ? body.error : `HTTP ${resp.status}`;
  return new ApiError(`${route}: ${msg}`, resp.status);
}

async function getJSON(route: string, params: Params, signal?: AbortSignal): Promise<any> {
  const resp = await fetch(apiUrl(route, params), { signal, credentials: "same-origin" });
  if (!resp.ok) throw await apiError(route, resp);
  try {
    return await resp.json();
  } catch {
    return null;
  }
}

export async function fetchRuns(signal?: AbortSignal): Promise<RunsResponse> {
  const j = await getJSON("runs", {}, signal);
  return { runs: Array.isArray(j?.runs) ? j.runs : [], corrupt_records: j?.corrupt_records ?? 0 };
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

/** `source` is sent only when given: where a run has the tag from two writers. */
export async function fetchSeries(
  run: string, tag: string, width: number, start?: number, end?: number, signal?: AbortSignal, source?: string,
): Promise<Series> {
  const j = await getJSON("series", {
    run, tag, source, width: Math.max(1, Math.min(20000, Math.round(width))), start, end,
  }, signal);
  return parseSeries(j);
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

/** A typed array of a `format=binary` response, and its shape. */
export interface BinaryArray {
  data: Float64Array | Float32Array;
  shape: number[];
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

async function getBinary(route: string, params: Params, signal?: AbortSignal): Promise<ArrayBuffer> {
  const resp = await fetch(apiUrl(route, { ...params, format: "binary" }), { signal, credentials: "same-origin" });
  if (!resp.ok) throw await apiError(route, resp);
  return resp.arrayBuffer();
}

/** In `format=binary`: the arrays come as typed arrays, without a number to parse. */
export async function fetchDistribution(
  run: string, tag: string, width: number, start?: number, end?: number, bins = 32, signal?: AbortSignal,
): Promise<Distribution> {
  const buf = await getBinary(
    "distribution",
    { run, tag, width: Math.max(1, Math.min(20000, Math.round(width))), start, end, bins },
    signal,
  );
  return parseDistributionBinary(buf);
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

export async function fetchStep(run: string, step: number, signal?: AbortSignal): Promise<StepData> {
  return parseStep(await getJSON("step", { run, step: Math.round(step) }, signal));
}

const optNum = (v: any): number | null => (v === null || v === undefined ? null : parseNum(v));

export function parseAnomalies(j: any): Anomalies {
  const run = String(j.run);
  return {
    run,
    threshold: parseNum(j.threshold),
    min_jump: optNum(j.min_jump),
    warmup: optNum(j.warmup),
    window: optNum(j.window),
    series: Array.isArray(j.series) ? j.series : [],
    anomalies: (j.anomalies ?? []).map((a: any) => ({
      run,
      tag: String(a.tag),
      source: typeof a.source === "string" ? a.source : undefined,
      step: Number(a.step),
      value: parseNum(a.value),
      kind: String(a.kind),
      score: optNum(a.score),
      jump: optNum(a.jump),
      level: optNum(a.level),
    })),
  };
}

export interface AnomalyParams {
  limit?: number;
  threshold?: number;
  min_jump?: number;
}

export async function fetchAnomalies(run: string, p: AnomalyParams = {}, signal?: AbortSignal): Promise<Anomalies> {
  return parseAnomalies(await getJSON("anomalies", { run, limit: p.limit ?? 100, threshold: p.threshold, min_jump: p.min_jump }, signal));
}

/** TensorBoard's own run list (its `data/runs`, by start time): the order its colours follow. */
export async function fetchTensorBoardRuns(signal?: AbortSignal): Promise<string[] | null> {
  try {
    const j = await getJSON("../../runs", {}, signal);
    return Array.isArray(j) && j.every((r) => typeof r === "string") ? j : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- samples (docs/http_api.md)

/** One recorded sample of a step: `fingerprint` (16 hex digits), `loss`, `share`, `id` (NaN
 * when the run recorded none), `position`, and per output `label`, `predicted`, `probability`,
 * `label_probability` (names ending in `/<output>` for several outputs): every field as a number
 * but the fingerprint. */
export interface SampleRow {
  fingerprint: string;
  values: Record<string, number>;
}

export interface StepSamples {
  run: string;
  step: number;
  found: boolean;
  num_samples: number;
  fields: string[];
  samples: SampleRow[];
  /** the listed samples' share of the batch loss (NaN when none) */
  share: number;
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

export async function fetchSamples(run: string, step: number, signal?: AbortSignal): Promise<StepSamples> {
  return parseSamples(await getJSON("samples", { run, step: Math.round(step) }, signal));
}

/** A sample over a step range (`hardest`): how often it was among its batch's highest losses. */
export interface HardSample {
  fingerprint: string;
  id: number | null;
  count: number;
  max_loss: number;
  mean_loss: number;
  first_step: number;
  last_step: number;
  label: number | null;
  predicted: number | null;
}

export interface Hardest {
  run: string;
  start: number;
  end: number;
  samples: HardSample[];
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

export async function fetchHardest(run: string, start?: number, end?: number, top = 50, signal?: AbortSignal): Promise<Hardest> {
  return parseHardest(await getJSON("hardest", { run, start, end, top }, signal));
}

/** Each class's mean loss and count per pixel column (`per_class`). */
export interface PerClass {
  run: string;
  output: string | null;
  classes: number;
  count: number;
  reduced: boolean;
  steps: number[];
  stepEnds: number[];
  /** [column][class]: NaN where the column has no sample of that class */
  means: Float64Array[];
  counts: Float64Array[];
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

export async function fetchPerClass(
  run: string, width: number, start?: number, end?: number, output?: string | null, signal?: AbortSignal,
): Promise<PerClass> {
  return parsePerClass(await getJSON("per_class", {
    run, width: Math.max(1, Math.min(20000, Math.round(width))), start, end, output: output ?? undefined,
  }, signal));
}

/**
 * Every step in [start, end] at which a sample (by fingerprint, or by id in a run that recorded
 * ids) was among the recorded samples, from `samples?run&fingerprint=<hex>` (or `&id=`) with
 * `start`/`end`. A server without that form of the route answers 400 (its `step` is missing):
 * then null, and the caller falls back to what `hardest` said (first and last step).
 */
let sampleStepsUnsupported = false;

export async function fetchSampleSteps(
  run: string, key: { fingerprint: string; id: number | null }, start?: number, end?: number, signal?: AbortSignal,
): Promise<{ steps: number[]; losses: number[] } | null> {
  if (sampleStepsUnsupported) return null; // asked once per page
  const params = key.id !== null ? { run, id: key.id, start, end } : { run, fingerprint: key.fingerprint, start, end };
  try {
    const j = await getJSON("samples", params, signal);
    if (!Array.isArray(j?.steps)) { sampleStepsUnsupported = true; return null; }
    const steps = j.steps.map(Number);
    const losses = Array.isArray(j.loss) ? j.loss.map(parseNum) : steps.map(() => NaN);
    return { steps, losses };
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) { sampleStepsUnsupported = true; return null; }
    throw e;
  }
}
