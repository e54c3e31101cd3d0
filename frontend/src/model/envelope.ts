// The M4 envelope of one run's series: what a Steps chart draws of it (a line, each pixel
// column's min…max when reduced, markers for non-finite values), and which columns lie near
// an x. Pure (test/model/envelope.test.ts).

export type NonFiniteKind = "nan" | "inf" | "-inf";

export function nonFiniteKind(v: number): NonFiniteKind | null {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return null;
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
