// Point-wise helpers of a drawn series: TensorBoard's smoothing, aligning several series on one
// x array (uPlot's data layout), and finding the point nearest a position. Pure
// (test/model/series.test.ts).

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
