// The layers of a Steps chart, without drawing: a run drawn alone (its M4 envelope and smoothed
// line), a group of runs (mean with a min…max band), a validation run placed on the training
// axis (one band per evaluation). Which requests a chart makes, the layers built from the
// answers, the lines uPlot draws of them, their y range and x extent. What is read off them at a
// point is step-points.ts. Pure (test/model/step-layers.test.ts).
import type { Evaluation, Series, TagInfo } from "../api/types";
import { Axis, EvalBand, evaluationBands, evaluationStepRange } from "./axes";
import { buildEnvelope, Envelope } from "./envelope";
import { aggregate, Aggregate } from "./groups";
import { Range, robustYRange, yRange } from "./ranges";
import { alignSeries, smooth } from "./series";
import type { RunMeta, XMode } from "./settings";

export interface RunLayer {
  kind: "run";
  run: string;
  color: string;
  series: Series;
  envelope: Envelope;
  smoothed: number[] | null;
}

export interface GroupLayer {
  kind: "group";
  name: string;
  runs: string[];
  color: string;
  summary: Aggregate;
  /** the members' series */
  series: Series[];
}

export interface EvalLayer {
  kind: "eval";
  run: string;
  color: string;
  series: Series;
  bands: EvalBand[];
  /** x of each band */
  xs: number[];
}

export type Layer = RunLayer | GroupLayer | EvalLayer;

/** Where the points of a run lie on a chart's x axis. */
export interface XPlacement {
  mode: XMode;
  /** a run's step offset on the relative step axis (0 on the others) */
  stepOffset(run: string): number;
  /** a run's first wall time, when known */
  wall0(run: string): number | undefined;
}

/** Whether x is in steps (absolute or since the run's start), not in wall time. */
export const isStepsAxis = (mode: XMode) => mode === "step" || mode === "relstep";

/** x of a point of a run (its step, or its wall time, maybe relative to the run's start). */
export function xOfPoint(place: XPlacement, run: string, step: number, wall: number): number {
  switch (place.mode) {
    case "step": return step;
    case "relstep": return step - place.stepOffset(run);
    case "wall": return wall;
    case "relwall": return wall - (place.wall0(run) ?? 0);
  }
}

// ---------------------------------------------------------------- requests and layers

/** Of the plotted runs with points of a chart's tag: those it draws one by one (or grouped) and
 * the validation runs it places by evaluation (a chart of the validation axis places none). */
export function chartMembers(
  plotted: readonly string[], axis: Axis, meta: (run: string) => RunMeta | undefined, points: (run: string) => number,
): { runs: string[]; placed: string[] } {
  const runs: string[] = [], placed: string[] = [];
  for (const r of plotted) {
    const m = meta(r);
    if (!m || points(r) === 0) continue;
    if (axis === "val") { if (m.axis === "val") runs.push(r); }
    else if (m.placed) placed.push(r);
    else if (m.axis === "train") runs.push(r);
  }
  return { runs, placed };
}

/** One `series` request of a chart: [start, end] of a run's own steps, `width` columns. */
export interface SeriesRequest {
  run: string;
  start: number;
  end: number;
  width: number;
}

/** What a chart asks for: a run alone, a group (its members on one column grid over `range`),
 * a placed validation run (raw up to 4 points a column: every batch of every evaluation). */
export type LayerRequest =
  | { kind: "run"; request: SeriesRequest }
  | { kind: "group"; name: string; runs: string[]; range: Range; requests: SeriesRequest[] }
  | { kind: "eval"; request: SeriesRequest };

export interface LayerPlan {
  /** runs drawn one by one (or grouped), and validation runs placed by evaluation */
  runs: string[];
  placed: string[];
  groups: { name: string; runs: string[] }[] | null;
  /** the shared view (x units), null for everything */
  view: Range | null;
  width: number;
  place: XPlacement;
  tagInfo(run: string): TagInfo;
  evaluations(run: string): Evaluation[];
  /** the union of runs' ranges in x units */
  fullRange(runs: string[]): Range | null;
}

/** The requests of a chart for its view; runs with no step in it ask nothing. */
export function layerRequests(plan: LayerPlan): LayerRequest[] {
  const { view, width, place } = plan;
  const out: LayerRequest[] = [];
  for (const g of plan.groups ?? plan.runs.map((r) => ({ name: r, runs: [r] }))) {
    if (g.runs.length === 1) {
      const run = g.runs[0];
      const info = plan.tagInfo(run);
      const off = place.stepOffset(run);
      const start = view ? Math.max(view.start + off, info.first_step) : info.first_step;
      const end = view ? Math.min(view.end + off, info.last_step) : info.last_step;
      if (start <= end) out.push({ kind: "run", request: { run, start, end, width } });
      continue;
    }
    // every member on one column grid (the same range in x units, same width)
    const range = view ?? plan.fullRange(g.runs);
    if (!range) continue;
    const requests: SeriesRequest[] = [];
    for (const run of g.runs) {
      const info = plan.tagInfo(run);
      const off = isStepsAxis(place.mode) ? place.stepOffset(run) : 0;
      if (range.end + off < info.first_step || range.start + off > info.last_step) continue;
      requests.push({ run, start: range.start + off, end: range.end + off, width });
    }
    out.push({ kind: "group", name: g.name, runs: g.runs, range, requests });
  }
  for (const run of plan.placed) {
    const evals = plan.evaluations(run);
    const info = plan.tagInfo(run);
    const off = place.stepOffset(run);
    const inView = view && isStepsAxis(place.mode) ? evaluationStepRange(evals, view.start + off, view.end + off)
      : view ? evaluationStepRange(evals, view.start, view.end) : { start: info.first_step, end: info.last_step };
    if (!inView) continue;
    const columns = Math.min(20000, Math.max(width, Math.ceil(info.count / 4) + 1));
    const start = Math.max(inView.start, info.first_step), end = Math.min(inView.end, info.last_step);
    if (start > end) continue;
    out.push({ kind: "eval", request: { run, start, end, width: columns } });
  }
  return out;
}

export function runLayer(series: Series, width: number, color: string, smoothing: number, place: XPlacement): RunLayer {
  const xs = new Float64Array(series.steps.length);
  for (let i = 0; i < xs.length; i++) xs[i] = xOfPoint(place, series.run, series.steps[i], series.walls[i]);
  const envelope = buildEnvelope(series.steps, series.values, xs, series.start, series.end, width, series.reduced);
  return { kind: "run", run: series.run, color, series, envelope, smoothed: smoothing > 0 ? smooth(envelope.lineY, smoothing) : null };
}

export function groupLayer(
  name: string, runs: string[], series: Series[], range: Range, width: number, color: string, place: XPlacement,
): GroupLayer | null {
  if (!series.length) return null;
  const members = series.map((s) => {
    const off = isStepsAxis(place.mode) ? place.stepOffset(s.run) : 0;
    const steps = Array.from(s.steps, (v) => v - off);
    const xs = Array.from(s.steps, (v, i) => xOfPoint(place, s.run, v, s.walls[i]));
    return { steps, values: s.values, xs, reduced: s.reduced };
  });
  return { kind: "group", name, runs, color, summary: aggregate(members, range.start, range.end, width), series };
}

/** A placed validation run: each evaluation at its training step (or its batches' mean wall
 * time), relative to its training run's start on the relative axes. */
export function evalLayer(series: Series, meta: RunMeta, color: string, place: XPlacement): EvalLayer {
  const bands = evaluationBands(meta.info.evaluations ?? [], series.steps, series.values, series.walls);
  const trainRun = meta.train_run ?? series.run;
  const xs = bands.map((b) => {
    switch (place.mode) {
      case "step": return b.trainStep;
      case "relstep": return b.trainStep - place.stepOffset(trainRun);
      case "wall": return b.wall;
      case "relwall": return b.wall - (place.wall0(trainRun) ?? place.wall0(series.run) ?? 0);
    }
  });
  return { kind: "eval", run: series.run, color, series, bands, xs };
}

/** The lines uPlot draws, aligned on one x array (null: not drawn, e.g. ≤ 0 on a log scale), and
 * which layer each series is (series 0 is x): each run's line, each smoothed line, each group's
 * mean, each evaluation's mean. */
export function plotData(layers: readonly Layer[], log: boolean): { data: (number | null)[][]; seriesLayer: (Layer | null)[] } {
  const pos = (ys: ArrayLike<number>) => Array.from(ys, (v) => (log && !(v > 0) ? null : v));
  const lines: { x: ArrayLike<number>; y: ArrayLike<number | null> }[] = [];
  const seriesLayer: (Layer | null)[] = [null];
  const add = (l: Layer, x: ArrayLike<number>, y: ArrayLike<number>) => { lines.push({ x, y: pos(y) }); seriesLayer.push(l); };
  for (const l of layers) if (l.kind === "run") add(l, l.envelope.lineX, l.envelope.lineY);
  for (const l of layers) if (l.kind === "run" && l.smoothed) add(l, l.envelope.lineX, l.smoothed);
  for (const l of layers) if (l.kind === "group") add(l, l.summary.x, l.summary.mean);
  for (const l of layers) if (l.kind === "eval") add(l, l.xs, l.bands.map((b) => b.mean));
  return { data: lines.length ? alignSeries(lines) : [[]], seriesLayer };
}

// ---------------------------------------------------------------- ranges

/** A chart whose every run is constant (and finite): drawn as a strip, its values in words. */
export function isConstant(layers: readonly Layer[]): boolean {
  return layers.length > 0 && layers.every((l) => l.kind === "run" && l.envelope.yMin === l.envelope.yMax && l.envelope.markers.length === 0);
}

/** The y range of the layers: a y zoom when set; else without outliers (a constant chart
 * excepted), else padded min…max (from the smallest positive value on a log scale). */
export function layersYRange(
  layers: readonly Layer[], opts: { log: boolean; outliers: boolean; yZoom: [number, number] | null },
): [number, number] {
  const lines: ArrayLike<number>[] = [];
  let lo = Infinity, hi = -Infinity, pos = Infinity;
  const see = (v: number) => {
    if (!Number.isFinite(v)) return;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (v > 0 && v < pos) pos = v;
  };
  for (const l of layers) {
    if (l.kind === "run") {
      lines.push(l.envelope.lineY);
      see(l.envelope.yMin); see(l.envelope.yMax); see(l.envelope.yMinPos);
    } else if (l.kind === "group") {
      lines.push(l.summary.mean, l.summary.lo, l.summary.hi);
      for (const v of l.summary.lo) see(v);
      for (const v of l.summary.hi) see(v);
    } else {
      const vals = l.bands.flatMap((b) => b.values);
      lines.push(vals);
      for (const v of vals) see(v);
    }
  }
  if (opts.yZoom) return opts.yZoom;
  if (opts.outliers && !isConstant(layers)) return robustYRange(lines, opts.log ? pos : lo, hi, opts.log);
  return yRange([lo], [hi], [pos], opts.log);
}

/** The x extent of everything drawn (wall-time axes show the data's extent), null if nothing. */
export function layersXExtent(layers: readonly Layer[]): [number, number] | null {
  let lo = Infinity, hi = -Infinity;
  for (const l of layers) {
    const xs = l.kind === "run" ? l.envelope.lineX : l.kind === "group" ? l.summary.x : l.xs;
    for (const v of l.kind === "run" ? [...xs, ...l.envelope.markers.map((m) => m.x)] : xs) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!(lo <= hi)) return null;
  return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
}

/** The x range a chart shows: the view on steps axes (half a step around a single one), the
 * data's extent on wall-time axes. */
export function layersXRange(layers: readonly Layer[], mode: XMode, view: Range | null): [number, number] | null {
  if (!isStepsAxis(mode)) return layersXExtent(layers);
  if (!view) return null;
  return view.start === view.end ? [view.start - 0.5, view.end + 0.5] : [view.start, view.end];
}

/** The distinct values of a constant chart (at most 6, else its lowest and highest). */
export function constantLevels(layers: readonly Layer[]): number[] {
  const v = [...new Set(layers.flatMap((l) => (l.kind === "run" ? [l.envelope.yMin] : [])))].sort((a, b) => a - b);
  return v.length <= 6 ? v : [v[0], v[v.length - 1]];
}

/** The xs of the values above `hi` and below `lo` of a layer (carets on the chart's edges). */
export function beyondRange(l: Layer, lo: number, hi: number): { above: number[]; below: number[] } {
  const above: number[] = [], below: number[] = [];
  if (l.kind === "run") {
    const e = l.envelope, reduced = l.series.reduced;
    const xs = reduced ? e.hiX : e.lineX, ys = reduced ? e.hi : e.lineY;
    xs.forEach((x, i) => { if (ys[i] > hi) above.push(x); });
    const xl = reduced ? e.loX : e.lineX, yl = reduced ? e.lo : e.lineY;
    xl.forEach((x, i) => { if (yl[i] < lo) below.push(x); });
  } else if (l.kind === "group") {
    l.summary.x.forEach((x, i) => { if (l.summary.hi[i] > hi) above.push(x); if (l.summary.lo[i] < lo) below.push(x); });
  } else {
    l.bands.forEach((b, i) => { if (b.max > hi) above.push(l.xs[i]); if (b.min < lo) below.push(l.xs[i]); });
  }
  return { above, below };
}

/** What tests and the benchmark read of a chart's layers (window.__tbb). */
export function layersSummary(layers: readonly Layer[]) {
  return {
    runs: layers.filter((l): l is RunLayer => l.kind === "run").map((l) => {
      let hiMax = -Infinity, hiStep = NaN;
      l.envelope.hi.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = l.envelope.hiStep[i]; } });
      l.envelope.lineY.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = l.envelope.lineStep[i]; } });
      return {
        run: l.run, reduced: l.series.reduced, count: l.series.count, points: l.series.steps.length,
        columns: l.envelope.x0.length, yMax: l.envelope.yMax, maxValue: hiMax, maxStep: hiStep,
        markers: l.envelope.markers.length, start: l.series.start, end: l.series.end,
        xMin: l.envelope.lineX.length ? Math.min(...l.envelope.lineX) : null,
      };
    }),
    groups: layers.filter((l): l is GroupLayer => l.kind === "group").map((l) => ({
      name: l.name, runs: l.runs, points: l.summary.x.length, exact: l.summary.exact,
      meanMax: Math.max(...l.summary.mean), hiMax: Math.max(...l.summary.hi), loMin: Math.min(...l.summary.lo),
    })),
    evaluations: layers.filter((l): l is EvalLayer => l.kind === "eval").map((l) => ({
      run: l.run, xs: l.xs, trainSteps: l.bands.map((b) => b.trainStep), firstSteps: l.bands.map((b) => b.evaluation.first_step),
      means: l.bands.map((b) => b.mean), counts: l.bands.map((b) => b.n),
    })),
  };
}
