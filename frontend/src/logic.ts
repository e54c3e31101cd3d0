// Pure logic of the Batches tab: no DOM, no uPlot, no fetch. Everything here is unit-tested
// (test/logic.test.ts).

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

export type NonFiniteKind = "nan" | "inf" | "-inf";

export function nonFiniteKind(v: number): NonFiniteKind | null {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return null;
}

/** Short display of a value: up to 7 significant digits (float32 precision). */
export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(4).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(7)));
}

export function fmtStep(s: number): string {
  return Number.isFinite(s) ? String(Math.round(s)) : "–";
}

/** Pixel column of a step in [start, end] split into `width` equal columns. */
export function columnOf(step: number, start: number, end: number, width: number): number {
  const span = end - start + 1;
  if (span <= 0 || width <= 0) return 0;
  const c = Math.floor(((step - start) * width) / span);
  return c < 0 ? 0 : c >= width ? width - 1 : c;
}

export interface Marker {
  x: number;
  step: number;
  kind: NonFiniteKind;
}

/** What a chart draws for one run: a line, the per-column min/max envelope (reduced data
 * only) and markers for non-finite points. */
export interface Envelope {
  /** per non-empty column: x extent of its points, min and max (finite) with their steps */
  x0: number[];
  x1: number[];
  lo: number[];
  hi: number[];
  loStep: number[];
  hiStep: number[];
  loX: number[];
  hiX: number[];
  /** line points: every finite point when raw, else each column's first and last finite point */
  lineX: number[];
  lineY: number[];
  lineStep: number[];
  markers: Marker[];
  /** finite extremes over everything (for the y range); NaN when there is no finite point */
  yMin: number;
  yMax: number;
  /** smallest positive value (log scale), NaN if none */
  yMinPos: number;
}

/**
 * Builds the drawing of one run from the `series` response. `steps`/`values` are in step
 * order; `xs` are the x coordinates to draw (steps, or wall times). When `reduced`, points are
 * grouped into the `width` pixel columns of [start, end]: the envelope of each column is shaded
 * and the line goes through each column's first and last point. When raw, the line goes through
 * every point and there is no envelope.
 */
export function buildEnvelope(
  steps: ArrayLike<number>,
  values: ArrayLike<number>,
  xs: ArrayLike<number>,
  start: number,
  end: number,
  width: number,
  reduced: boolean,
): Envelope {
  const env: Envelope = {
    x0: [], x1: [], lo: [], hi: [], loStep: [], hiStep: [], loX: [], hiX: [],
    lineX: [], lineY: [], lineStep: [], markers: [],
    yMin: NaN, yMax: NaN, yMinPos: NaN,
  };
  const n = steps.length;
  let yMin = Infinity, yMax = -Infinity, yMinPos = Infinity;
  const see = (v: number) => {
    if (v < yMin) yMin = v;
    if (v > yMax) yMax = v;
    if (v > 0 && v < yMinPos) yMinPos = v;
  };
  /** Non-finite points become markers (true); finite ones are left to the caller (false). */
  const marked = (i: number): boolean => {
    const k = nonFiniteKind(values[i]);
    if (k) env.markers.push({ x: xs[i], step: steps[i], kind: k });
    return k !== null;
  };
  if (!reduced) {
    for (let i = 0; i < n; i++) {
      if (marked(i)) continue;
      const v = values[i];
      env.lineX.push(xs[i]);
      env.lineY.push(v);
      env.lineStep.push(steps[i]);
      see(v);
    }
  } else {
    let col = -1;
    // state of the current column
    let cx0 = 0, cx1 = 0, clo = 0, chi = 0, cloS = 0, chiS = 0, cloX = 0, chiX = 0;
    let firstI = -1, lastI = -1;
    const flush = () => {
      if (firstI < 0) return;
      env.x0.push(cx0); env.x1.push(cx1);
      env.lo.push(clo); env.hi.push(chi);
      env.loStep.push(cloS); env.hiStep.push(chiS);
      env.loX.push(cloX); env.hiX.push(chiX);
      env.lineX.push(xs[firstI]); env.lineY.push(values[firstI]); env.lineStep.push(steps[firstI]);
      if (lastI !== firstI) {
        env.lineX.push(xs[lastI]); env.lineY.push(values[lastI]); env.lineStep.push(steps[lastI]);
      }
      firstI = -1;
    };
    for (let i = 0; i < n; i++) {
      if (marked(i)) continue;
      const v = values[i];
      const c = columnOf(steps[i], start, end, width);
      if (c !== col) {
        flush();
        col = c;
      }
      if (firstI < 0) {
        firstI = i; cx0 = xs[i]; cx1 = xs[i];
        clo = v; chi = v; cloS = steps[i]; chiS = steps[i]; cloX = xs[i]; chiX = xs[i];
      } else {
        if (xs[i] < cx0) cx0 = xs[i];
        if (xs[i] > cx1) cx1 = xs[i];
        if (v < clo) { clo = v; cloS = steps[i]; cloX = xs[i]; }
        if (v > chi) { chi = v; chiS = steps[i]; chiX = xs[i]; }
      }
      lastI = i;
      see(v);
    }
    flush();
  }
  if (yMin <= yMax) {
    env.yMin = yMin;
    env.yMax = yMax;
  }
  if (yMinPos !== Infinity) env.yMinPos = yMinPos;
  return env;
}

/**
 * Exponential moving average with TensorBoard's debiasing (weight in [0, 1)). Non-finite
 * inputs pass through unchanged and do not enter the average.
 */
export function smooth(ys: ArrayLike<number>, weight: number): number[] {
  const out: number[] = new Array(ys.length);
  const w = Math.min(Math.max(weight, 0), 0.999);
  let last = 0;
  let k = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * w + (1 - w) * y;
    k++;
    const debias = w === 0 ? 1 : 1 - Math.pow(w, k);
    out[i] = last / debias;
  }
  return out;
}

/**
 * Aligns several (x, y) series on the sorted union of their x values (uPlot's AlignedData):
 * returns [xs, ys_0, ys_1, ...] with null where a series has no point.
 */
export function alignSeries(series: { x: ArrayLike<number>; y: ArrayLike<number | null> }[]): (number | null)[][] {
  let total = 0;
  for (const s of series) total += s.x.length;
  const all = new Float64Array(total);
  let o = 0;
  for (const s of series) for (let i = 0; i < s.x.length; i++) all[o++] = s.x[i];
  all.sort();
  const xs: number[] = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) xs.push(all[i]);
  const out: (number | null)[][] = [xs];
  for (const s of series) {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    let j = 0;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i];
      if (i > 0 && x < s.x[i - 1]) j = 0; // unsorted input: restart the merge scan
      while (j < xs.length && xs[j] < x) j++;
      if (j < xs.length) ys[j] = s.y[i];
    }
    out.push(ys);
  }
  return out;
}

/** Index of the element of sorted `xs` nearest to x (-1 for an empty array). */
export function nearestIndex(xs: ArrayLike<number>, x: number): number {
  const n = xs.length;
  if (n === 0) return -1;
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

/** Index of the envelope column whose [x0, x1] contains x, else the nearest one within
 * `slack`; -1 if none. */
export function columnAt(env: Envelope, x: number, slack = 0): number {
  let best = -1, bd = Infinity;
  for (const j of columnsNear(env, x, slack)) {
    const d = x < env.x0[j] ? env.x0[j] - x : x > env.x1[j] ? x - env.x1[j] : 0;
    if (d < bd) { bd = d; best = j; }
  }
  return best;
}

/** Indices of the envelope columns overlapping [x - slack, x + slack]. */
export function columnsNear(env: Envelope, x: number, slack: number): number[] {
  const out: number[] = [];
  const n = env.x0.length;
  if (!n) return out;
  // first column whose x1 >= x - slack
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (env.x1[mid] < x - slack) lo = mid + 1;
    else hi = mid;
  }
  for (let j = lo; j < n && env.x0[j] <= x + slack; j++) out.push(j);
  return out;
}

/** Maps a wall time to a step by linear interpolation over points sorted by step. */
export function wallToStep(walls: ArrayLike<number>, steps: ArrayLike<number>, wall: number): number {
  const n = Math.min(walls.length, steps.length);
  if (n === 0) return NaN;
  if (wall <= walls[0]) return steps[0];
  if (wall >= walls[n - 1]) return steps[n - 1];
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (walls[mid] <= wall) lo = mid;
    else hi = mid;
  }
  const w0 = walls[lo], w1 = walls[hi];
  if (w1 <= w0) return steps[lo];
  return Math.round(steps[lo] + ((wall - w0) / (w1 - w0)) * (steps[hi] - steps[lo]));
}

// ---------------------------------------------------------------- runs: filter and selection

/** Case-insensitive regex filter; an invalid pattern falls back to a substring match. */
export function makeRunFilter(pattern: string): { test: (name: string) => boolean; error: string | null } {
  if (!pattern) return { test: () => true, error: null };
  try {
    const re = new RegExp(pattern, "i");
    return { test: (s) => re.test(s), error: null };
  } catch (e) {
    const p = pattern.toLowerCase();
    return { test: (s) => s.toLowerCase().includes(p), error: (e as Error).message };
  }
}

/** Which runs are selected: stored choices win; new runs are selected while fewer than
 * `maxDefault` runs are. */
export function mergeSelection(
  runs: readonly string[],
  stored: Readonly<Record<string, boolean>>,
  maxDefault = 10,
): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  let n = 0;
  for (const r of runs) if (stored[r] === true) n++;
  for (const r of runs) {
    if (r in stored) out[r] = !!stored[r];
    else {
      out[r] = n < maxDefault;
      if (out[r]) n++;
    }
  }
  return out;
}

// ---------------------------------------------------------------- hover table

export interface HoverRow {
  run: string;
  color: string;
  step: number;
  value: number;
  lo?: number;
  hi?: number;
  exact: boolean;
}

export type SortKey = "run" | "step" | "value";

function numRank(v: number): number {
  return Number.isNaN(v) ? 1 : 0;
}

/** Sorts hover rows; NaN values always go last, -Inf < finite < +Inf. */
export function sortRows(rows: readonly HoverRow[], key: SortKey, desc: boolean): HoverRow[] {
  const sign = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    if (key === "run") return sign * (a.run < b.run ? -1 : a.run > b.run ? 1 : 0);
    const va = key === "value" ? a.value : a.step;
    const vb = key === "value" ? b.value : b.step;
    const ra = numRank(va), rb = numRank(vb);
    if (ra !== rb) return ra - rb;
    if (ra === 1 || va === vb) return a.run < b.run ? -1 : a.run > b.run ? 1 : 0;
    return sign * (va < vb ? -1 : 1);
  });
}

// ---------------------------------------------------------------- view range (zoom / pan)

export interface Range {
  start: number;
  end: number;
}

/** The x range of a chart whose columns span [step, step_end + 1): the view's steps (half a
 * step around a single one), or the data's [mn, mx] without a view. */
export function stepsXRange(r: Range | null, mn: number, mx: number): [number, number] {
  if (!r) return [mn, mx];
  return r.start === r.end ? [r.start - 0.5, r.end + 0.5] : [r.start, r.end + 1];
}

/** Zooms [start, end] by `factor` (< 1 zooms in) around `center`, clamped to `full`. */
export function zoomRange(r: Range, full: Range, factor: number, center?: number, minSpan = 8): Range {
  const c = center ?? (r.start + r.end) / 2;
  const span = Math.max(minSpan, (r.end - r.start) * factor);
  const frac = r.end > r.start ? (c - r.start) / (r.end - r.start) : 0.5;
  let start = c - span * frac;
  return clampRange({ start, end: start + span }, full);
}

/** Pans by `frac` of the span (negative = left), clamped to `full`. */
export function panRange(r: Range, full: Range, frac: number): Range {
  const d = (r.end - r.start) * frac;
  return clampRange({ start: r.start + d, end: r.end + d }, full);
}

/** Rounds to integer steps, keeps the span where possible, and keeps it inside `full`. */
export function clampRange(r: Range, full: Range): Range {
  let start = Math.floor(r.start), end = Math.ceil(r.end);
  const span = end - start;
  const fullSpan = full.end - full.start;
  if (span >= fullSpan) return { start: full.start, end: full.end };
  if (start < full.start) { start = full.start; end = start + span; }
  if (end > full.end) { end = full.end; start = end - span; }
  return { start, end };
}

/** A window of about `frac` of the full range (at least minSpan steps) centred on a step. */
export function windowAround(step: number, full: Range, frac = 0.02, minSpan = 100): Range {
  const half = Math.max(minSpan, (full.end - full.start) * frac) / 2;
  return clampRange({ start: step - half, end: step + half }, full);
}

export function unionRange(ranges: readonly Range[]): Range | null {
  let s = Infinity, e = -Infinity;
  for (const r of ranges) {
    if (r.start < s) s = r.start;
    if (r.end > e) e = r.end;
  }
  return s <= e ? { start: s, end: e } : null;
}

/** y range with 5% padding; log scale uses the smallest positive value. */
export function yRange(mins: number[], maxs: number[], minPos: number[], log: boolean): [number, number] {
  let lo = Infinity, hi = -Infinity;
  const lows = log ? minPos : mins;
  for (const v of lows) if (Number.isFinite(v) && v < lo) lo = v;
  for (const v of maxs) if (Number.isFinite(v) && v > hi) hi = v;
  return padRange(lo, hi, log);
}

/** [lo, hi] padded by 5% (whole decades on a log scale; a fallback when empty). */
export function padRange(lo: number, hi: number, log: boolean): [number, number] {
  if (!(lo <= hi)) return log ? [0.1, 10] : [0, 1];
  if (log) {
    // whole decades: uPlot's log axis splits expect powers of 10 at both ends
    const a = Math.pow(10, Math.floor(Math.log10(lo)));
    let b = Math.pow(10, Math.ceil(Math.log10(hi)));
    if (b <= a) b = a * 10;
    return [a, b];
  }
  if (hi === lo) {
    const d = Math.abs(hi) * 0.1 || 1;
    return [lo - d, hi + d];
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** Quantile p of sorted values (linear interpolation between order statistics). */
export function quantileSorted(xs: ArrayLike<number>, p: number): number {
  const n = xs.length;
  if (!n) return NaN;
  const h = (n - 1) * Math.min(1, Math.max(0, p));
  const i = Math.floor(h);
  return i + 1 < n ? xs[i] + (h - i) * (xs[i + 1] - xs[i]) : xs[i];
}

/**
 * y range ignoring outliers (TensorBoard's "Ignore outliers in chart scaling", on by default
 * there too): for each run (each array of `lines`: its raw points, or each pixel column's first
 * and last point) the 1st…99th percentile of its values, widened by 10% of that span on each
 * side; the union over runs, never beyond the data's own min…max; padded like `padRange`.
 * Warm-up and the largest spikes no longer set the scale: they run off the edge, where the
 * chart marks them. (TensorBoard takes the 5th…95th percentile of all runs together, which hides
 * the spikes of a noisy run behind a quiet one.)
 */
export function robustYRange(lines: readonly ArrayLike<number>[], min: number, max: number, log: boolean): [number, number] {
  let lo = Infinity, hi = -Infinity, n = 0;
  for (const l of lines) {
    const buf = new Float64Array(l.length);
    let k = 0;
    for (let i = 0; i < l.length; i++) {
      const v = l[i];
      if (Number.isFinite(v) && (!log || v > 0)) buf[k++] = log ? Math.log10(v) : v;
    }
    if (!k) continue;
    n += k;
    const vals = buf.subarray(0, k).sort(); // a typed array sorts numerically
    const q0 = quantileSorted(vals, 0.01), q1 = quantileSorted(vals, 0.99);
    const span = q1 - q0 || Math.abs(q1) * 0.1 || 1;
    lo = Math.min(lo, q0 - 0.1 * span);
    hi = Math.max(hi, q1 + 0.1 * span);
  }
  if (n < 20 || !(lo <= hi)) return padRange(min, max, log);
  if (log) return padRange(Math.pow(10, Math.max(Math.log10(min), lo)), Math.pow(10, Math.min(Math.log10(max), hi)), true);
  return padRange(Math.max(min, lo), Math.min(max, hi), false);
}

// ---------------------------------------------------------------- badges

export interface BadgeInput {
  reduced: boolean;
  count: number;
  points: number;
  sampled: { n: number; N: number } | null;
}

/** The chart badge: "raw", "reduced from N points", and "n of N sampled" when the server could
 * only read a sample. */
export function badgeText(parts: readonly BadgeInput[]): { text: string; kind: "raw" | "reduced" | "sampled" | "empty" } {
  if (parts.length === 0) return { text: "no data", kind: "empty" };
  let count = 0;
  let reduced = false;
  let n = 0, N = 0, sampled = false;
  for (const p of parts) {
    count += p.count;
    if (p.reduced) reduced = true;
    if (p.sampled) {
      sampled = true;
      n += p.sampled.n;
      N += p.sampled.N;
    }
  }
  const base = reduced ? `reduced from ${count.toLocaleString("en-US")} points` : "raw";
  if (sampled) return { text: `${base} · ${n.toLocaleString("en-US")} of ${N.toLocaleString("en-US")} sampled`, kind: "sampled" };
  return { text: base, kind: reduced ? "reduced" : "raw" };
}

// ---------------------------------------------------------------- distributions

/** Pairs of quantile indices symmetric around the median (outermost first) and the median's index. */
export function bandPairs(probs: readonly number[]): { pairs: [number, number][]; median: number } {
  const pairs: [number, number][] = [];
  let median = -1;
  for (let i = 0; i < probs.length; i++) if (Math.abs(probs[i] - 0.5) < 1e-9) median = i;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] >= 0.5) break;
    let best = -1;
    for (let j = probs.length - 1; j > i; j--) {
      if (Math.abs(probs[i] + probs[j] - 1) < 1e-6) { best = j; break; }
    }
    if (best > 0) pairs.push([i, best]);
  }
  return { pairs, median };
}

/** A colour of the heatmaps' sequential ramp at t in [0, 1]: from a pale colour to a saturated
 * one (reversed brightness on dark backgrounds). RGB bytes. */
export function rampColor(t: number, dark: boolean): [number, number, number] {
  const stops: [number, number, number][] = dark
    ? [[40, 60, 110], [60, 130, 200], [120, 200, 160], [250, 230, 120]]
    : [[220, 235, 250], [120, 170, 230], [40, 90, 190], [20, 30, 100]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i], b = stops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** Heatmap color of a bin count: log-scaled ramp, transparent for 0. RGBA bytes. */
export function heatColor(count: number, maxCount: number, dark: boolean): [number, number, number, number] {
  if (!(count > 0) || !(maxCount > 0)) return [0, 0, 0, 0];
  const t = Math.min(1, Math.log1p(count) / Math.log1p(maxCount));
  return [...rampColor(t, dark), Math.round(90 + 165 * t)];
}

export function maxOf2D(rows: readonly (readonly number[])[]): number {
  let m = 0;
  for (const r of rows) for (const v of r) if (v > m) m = v;
  return m;
}

/** Picks the candidate point nearest (in pixels) to the cursor. */
export function nearestCandidate<T extends { px: number; py: number }>(cands: readonly T[], cx: number, cy: number): T | null {
  let best: T | null = null, bd = Infinity;
  for (const c of cands) {
    if (!Number.isFinite(c.px) || !Number.isFinite(c.py)) continue;
    const d = Math.hypot(c.px - cx, (c.py - cy) * 0.5);
    if (d < bd) { bd = d; best = c; }
  }
  return best;
}

/** CSV export URL of one series (relative to the plugin's base). */
export function exportHref(run: string, tag: string, format: "csv" | "json" = "csv"): string {
  const q = new URLSearchParams({ run, tag, format });
  return `export?${q.toString()}`;
}

/** A file name for a download: run and tag with unsafe characters replaced. */
export function exportFileName(run: string, tag: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "x";
  return `${clean(run)}__${clean(tag)}.csv`;
}

/** Compact axis label for steps: 1.5M, 200k, 950. */
export function compactNum(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(4)));
  if (a >= 1e9) return trim(v / 1e9) + "G";
  if (a >= 1e6) return trim(v / 1e6) + "M";
  if (a >= 1e4) return trim(v / 1e3) + "k";
  return trim(v);
}

// ---------------------------------------------------------------- anomalies

export interface AnomalyRow {
  run: string;
  tag: string;
  step: number;
  kind: string;
  score: number | null;
}

/** Anomalies of all runs in one list: by score (non-finite values first, then highest score)
 * or by step; ties by run, then tag. */
export function sortAnomalies<T extends AnomalyRow>(rows: readonly T[], key: "score" | "step", desc = false): T[] {
  const sc = (a: T) => (a.kind === "spike" ? a.score ?? 0 : Infinity);
  return [...rows].sort((a, b) => {
    let d = key === "score" ? sc(b) - sc(a) : a.step - b.step;
    if (Number.isNaN(d)) d = 0;
    if (desc) d = -d;
    return d || (a.run < b.run ? -1 : a.run > b.run ? 1 : 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0) || a.step - b.step;
  });
}
