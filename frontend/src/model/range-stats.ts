// The numbers of a chart's data table: each run's point at a selected step, and its min, max,
// mean and change (last − first) over a step range. Pure (test/model/range-stats.test.ts).

export interface StepPoint {
  step: number;
  value: number;
  wall: number;
}

export interface RangeStats {
  min: number;
  max: number;
  mean: number;
  /** last finite value − first finite value in the range */
  change: number;
  /** finite points used */
  n: number;
}

/** The point recorded at exactly `step`, or null. */
export function pointAt(steps: ArrayLike<number>, values: ArrayLike<number>, walls: ArrayLike<number>, step: number): StepPoint | null {
  let lo = 0, hi = steps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] === step) return { step, value: values[mid], wall: walls[mid] };
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

/** min, max, mean and change of the finite values with start ≤ step ≤ end (null when none).
 * Over an M4-reduced series min, max and change stay exact (each column keeps its extremes, first
 * and last point); the mean is then of the drawn points only (the caller says so). */
export function rangeStats(steps: ArrayLike<number>, values: ArrayLike<number>, start: number, end: number): RangeStats | null {
  let n = 0, sum = 0, min = Infinity, max = -Infinity, first = NaN, last = NaN;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i], v = values[i];
    if (s < start || s > end || !Number.isFinite(v)) continue;
    if (n === 0) first = v;
    last = v;
    n++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return n ? { min, max, mean: sum / n, change: last - first, n } : null;
}

export type SortDir = 1 | -1;

/** Rows sorted by a column: numbers numerically (NaN and missing last), text by locale. */
export function sortRows<T>(rows: readonly T[], key: (r: T) => number | string | null, dir: SortDir): T[] {
  return rows.map((r, i) => ({ r, i, k: key(r) })).sort((a, b) => {
    const x = a.k, y = b.k;
    const xm = x === null || (typeof x === "number" && Number.isNaN(x)), ym = y === null || (typeof y === "number" && Number.isNaN(y));
    if (xm || ym) return xm === ym ? a.i - b.i : xm ? 1 : -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return c ? c * dir : a.i - b.i;
  }).map((e) => e.r);
}
