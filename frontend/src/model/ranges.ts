// Step ranges and value ranges: the shared view (zoom, pan, clamping), and the y range of a chart
// (padded, or ignoring outliers). Pure (test/model/ranges.test.ts).

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

/** The view a wheel asks for: a horizontal wheel (or shift+wheel) pans by 15%, a vertical one
 * zooms by 1.3 around `center` (out when scrolling down). */
export function wheelRange(cur: Range, full: Range, wheel: { deltaX: number; deltaY: number; shiftKey: boolean }, center: number): Range {
  if (wheel.shiftKey || Math.abs(wheel.deltaX) > Math.abs(wheel.deltaY)) {
    const d = wheel.shiftKey ? wheel.deltaY : wheel.deltaX;
    return panRange(cur, full, d > 0 ? 0.15 : -0.15);
  }
  return zoomRange(cur, full, wheel.deltaY > 0 ? 1.3 : 1 / 1.3, center);
}

/** The view a zoom key asks for (+ or = zooms in, - or _ out, ←/→ pan by 20%), null for
 * another key. */
export function keyRange(key: string, cur: Range, full: Range): Range | null {
  if (key === "+" || key === "=") return zoomRange(cur, full, 0.5);
  if (key === "-" || key === "_") return zoomRange(cur, full, 2);
  if (key === "ArrowLeft" || key === "ArrowRight") return panRange(cur, full, key === "ArrowLeft" ? -0.2 : 0.2);
  return null;
}
