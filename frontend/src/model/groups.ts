// Run groups: runs grouped by a regex or by path prefix, drawn as the group's mean with a
// min…max band. Pure functions (test/model/groups.test.ts).
import { columnOf } from "./envelope";

export type GroupMode = "none" | "prefix" | "regex";

/**
 * The group of a run, or null when it stays on its own.
 * - prefix: runs in the same directory form a group (`exp/seed_1`, `exp/seed_2` → `exp/*`);
 *   Keras' `…/train` and `…/validation` runs are grouped one level up, each role apart
 *   (`exp/seed_1/train`, `exp/seed_2/train` → `exp/∗/train`).
 * - regex: runs with the same captured groups form a group (the whole match when the pattern
 *   captures nothing); runs that do not match stay on their own.
 */
export function groupOf(run: string, mode: GroupMode, re: RegExp | null): string | null {
  if (mode === "prefix") {
    const parts = run.split("/");
    const leaf = parts[parts.length - 1];
    if ((leaf === "train" || leaf === "validation") && parts.length >= 2) {
      return [...parts.slice(0, -2), "*", leaf].join("/");
    }
    return [...parts.slice(0, -1), "*"].join("/");
  }
  if (mode === "regex" && re) {
    const m = re.exec(run);
    if (!m) return null;
    return m.length > 1 ? m.slice(1).map((g) => g ?? "").join("/") : m[0];
  }
  return null;
}

/** Groups of the given runs in first-appearance order; a group of one run is kept as a plain run. */
export function groupRuns(runs: readonly string[], mode: GroupMode, re: RegExp | null): { name: string; runs: string[] }[] {
  const by = new Map<string, string[]>();
  const out: { name: string; runs: string[] }[] = [];
  for (const r of runs) {
    const g = groupOf(r, mode, re);
    if (g === null) { out.push({ name: r, runs: [r] }); continue; }
    if (!by.has(g)) {
      const e = { name: g, runs: [] as string[] };
      by.set(g, e.runs);
      out.push(e);
    }
    by.get(g)!.push(r);
  }
  return out;
}

export interface Member {
  /** steps in the units of [start, end] (relative steps on the relative axis) */
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
  /** x of each point as drawn (wall times...); default: the steps */
  xs?: ArrayLike<number>;
  reduced: boolean;
}

export interface Aggregate {
  /** x (mean of the members' x in the step, or pixel column), mean, min, max and member count */
  x: number[];
  mean: number[];
  lo: number[];
  hi: number[];
  n: number[];
  /** true when the mean is exact (every member raw); else it is the mean of the members' column
   * mid-ranges, an estimate (min and max stay exact: M4 keeps every column's extremes) */
  exact: boolean;
}

/**
 * Mean and min…max of a group's members per step (every member raw) or per pixel column of
 * [start, end] in `width` columns (any member reduced: each member's column contributes its
 * finite min, max and mid-range). Non-finite values are left out.
 */
export function aggregate(members: readonly Member[], start: number, end: number, width: number): Aggregate {
  const exact = members.every((m) => !m.reduced);
  const acc = new Map<number, { sum: number; n: number; lo: number; hi: number; x: number }>();
  for (const m of members) {
    // per member: one contribution per key (step, or column)
    const cols = new Map<number, { lo: number; hi: number; xs: number; nx: number }>();
    for (let i = 0; i < m.steps.length; i++) {
      const v = m.values[i];
      if (!Number.isFinite(v)) continue;
      const key = exact ? m.steps[i] : columnOf(m.steps[i], start, end, width);
      const x = m.xs ? m.xs[i] : m.steps[i];
      const c = cols.get(key);
      if (!c) cols.set(key, { lo: v, hi: v, xs: x, nx: 1 });
      else {
        if (v < c.lo) c.lo = v;
        if (v > c.hi) c.hi = v;
        c.xs += x;
        c.nx++;
      }
    }
    for (const [key, c] of cols) {
      const mid = (c.lo + c.hi) / 2;
      const x = c.xs / c.nx;
      const a = acc.get(key);
      if (!a) acc.set(key, { sum: mid, n: 1, lo: c.lo, hi: c.hi, x });
      else {
        a.sum += mid;
        a.x += (x - a.x) / (a.n + 1);
        a.n++;
        if (c.lo < a.lo) a.lo = c.lo;
        if (c.hi > a.hi) a.hi = c.hi;
      }
    }
  }
  const keys = [...acc.keys()].sort((a, b) => a - b);
  const out: Aggregate = { x: [], mean: [], lo: [], hi: [], n: [], exact };
  for (const k of keys) {
    const a = acc.get(k)!;
    out.x.push(a.x);
    out.mean.push(a.sum / a.n);
    out.lo.push(a.lo);
    out.hi.push(a.hi);
    out.n.push(a.n);
  }
  return out;
}

/** The groups of runs a grouping setting makes (null: runs are shown one by one, also when the
 * regex is empty or invalid). */
export function groupsOf(runs: readonly string[], mode: GroupMode, pattern: string): { name: string; runs: string[] }[] | null {
  if (mode === "none") return null;
  let re: RegExp | null = null;
  if (mode === "regex") {
    try { re = pattern ? new RegExp(pattern) : null; } catch { re = null; }
    if (!re) return null;
  }
  return groupRuns(runs, mode, re);
}
