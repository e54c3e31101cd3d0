// Client of the plugin's HTTP API (docs/http_api.md): one function per route, each returning the
// parsed answer (parse.ts). URLs are relative to the document's base, which TensorBoard's
// plugin_entry.html sets to `plugin/tb_batch/`.
import {
  parseAnomalies, parseDistributionBinary, parseDynamics, parseHardest, parseLabelIssues, parseNum, parsePerClass, parsePresentations,
  parseSamples, parseSeries, parseStep,
} from "./parse";
import type {
  AnomalyParams, Anomalies, Distribution, DynamicsAnswer, Hardest, LabelIssues, PerClass, Presentations, RunsResponse, Series,
  StepData, StepSamples,
} from "./types";

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
  if (!resp.ok || resp.status === 202) throw await apiError(route, resp); // 202: a run being indexed
  try {
    return await resp.json();
  } catch {
    return null;
  }
}

/** The `width` a route accepts: a whole number of pixel columns in [1, 20000]. */
function columnsParam(width: number): number {
  return Math.max(1, Math.min(20000, Math.round(width)));
}

export async function fetchRuns(signal?: AbortSignal): Promise<RunsResponse> {
  const j = await getJSON("runs", {}, signal);
  return { runs: Array.isArray(j?.runs) ? j.runs : [], corrupt_records: j?.corrupt_records ?? 0, indexing: j?.indexing === true };
}

/** `source` is sent only when given: where a run has the tag from two writers. */
export async function fetchSeries(
  run: string, tag: string, width: number, start?: number, end?: number, signal?: AbortSignal, source?: string,
): Promise<Series> {
  const j = await getJSON("series", {
    run, tag, source, width: columnsParam(width), start, end,
  }, signal);
  return parseSeries(j);
}

async function getBinary(route: string, params: Params, signal?: AbortSignal): Promise<ArrayBuffer> {
  const resp = await fetch(apiUrl(route, { ...params, format: "binary" }), { signal, credentials: "same-origin" });
  if (!resp.ok || resp.status === 202) throw await apiError(route, resp);
  return resp.arrayBuffer();
}

/** In `format=binary`: the arrays come as typed arrays, without a number to parse. */
export async function fetchDistribution(
  run: string, tag: string, width: number, start?: number, end?: number, bins = 32, signal?: AbortSignal,
): Promise<Distribution> {
  const buf = await getBinary(
    "distribution",
    { run, tag, width: columnsParam(width), start, end, bins },
    signal,
  );
  return parseDistributionBinary(buf);
}

export async function fetchStep(run: string, step: number, signal?: AbortSignal): Promise<StepData> {
  return parseStep(await getJSON("step", { run, step: Math.round(step) }, signal));
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

export async function fetchSamples(run: string, step: number, signal?: AbortSignal): Promise<StepSamples> {
  return parseSamples(await getJSON("samples", { run, step: Math.round(step) }, signal));
}

export async function fetchHardest(run: string, start?: number, end?: number, top = 50, signal?: AbortSignal): Promise<Hardest> {
  return parseHardest(await getJSON("hardest", { run, start, end, top }, signal));
}

export async function fetchPerClass(
  run: string, width: number, start?: number, end?: number, output?: string | null, signal?: AbortSignal,
): Promise<PerClass> {
  return parsePerClass(await getJSON("per_class", {
    run, width: columnsParam(width), start, end, output: output ?? undefined,
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

/** What `dynamics` is asked besides the run: the map's bins and one page of its samples. */
export interface DynamicsParams {
  output?: string;
  bins?: number;
  order?: string;
  descending?: boolean;
  offset?: number;
  limit?: number;
}

/** A run's data map (`dynamics`); `output` only where the run has several ("" is its only one). */
export async function fetchDynamics(run: string, p: DynamicsParams = {}, signal?: AbortSignal): Promise<DynamicsAnswer> {
  return parseDynamics(await getJSON("dynamics", {
    run, output: p.output || undefined, bins: p.bins, order: p.order, descending: p.descending === undefined ? undefined : p.descending ? 1 : 0,
    offset: p.offset, limit: p.limit,
  }, signal));
}

export async function fetchLabelIssues(run: string, output?: string, top = 50, signal?: AbortSignal): Promise<LabelIssues> {
  return parseLabelIssues(await getJSON("label_issues", { run, output: output || undefined, top }, signal));
}

/** Every presentation of one sample: `key` its fingerprint (16 hex digits) or its id. */
export async function fetchPresentations(run: string, key: string, output?: string, signal?: AbortSignal): Promise<Presentations> {
  return parsePresentations(await getJSON("dynamics_sample", { run, key, output: output || undefined }, signal));
}
