// Orders of the lists the tab shows: hover rows (NaN last) and anomalies (by score or step).
// Pure (test/model/sorting.test.ts).

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

export interface AnomalyRow {
  run: string;
  tag: string;
  step: number;
  kind: string;
  score: number | null;
}

/** An anomaly of a non-finite value (kinds "nan", "inf", "-inf"). */
export function isNonFinite(kind: string): boolean {
  return kind === "nan" || kind === "inf" || kind === "-inf";
}

/** Anomalies of all runs in one list: by score (non-finite values first, then highest score,
 * whatever the kind) or by step; ties by run, then tag. */
export function sortAnomalies<T extends AnomalyRow>(rows: readonly T[], key: "score" | "step", desc = false): T[] {
  const sc = (a: T) => (isNonFinite(a.kind) ? Infinity : a.score ?? 0);
  return [...rows].sort((a, b) => {
    let d = key === "score" ? sc(b) - sc(a) : a.step - b.step;
    if (Number.isNaN(d)) d = 0;
    if (desc) d = -d;
    return d || (a.run < b.run ? -1 : a.run > b.run ? 1 : 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0) || a.step - b.step;
  });
}
