// The rows of the charts' tooltip as data: one per run (group, evaluation) with its colour,
// label, value as shown and a muted note, and their order (highest value first, NaN last).
// Pure (test/model/tip-rows.test.ts).

export interface TipRow {
  color: string;
  label: string;
  /** the value as shown (already formatted) */
  text: string;
  /** extra, muted (min…max, batch count, ...) */
  note?: string;
  bad?: boolean;
  /** for sorting (NaN last) */
  value: number;
}

/** The rows by value, highest first; NaN last. */
export function sortTipRows(rows: readonly TipRow[]): TipRow[] {
  return [...rows].sort((a, b) => {
    const na = Number.isNaN(a.value) ? 1 : 0, nb = Number.isNaN(b.value) ? 1 : 0;
    return na - nb || (b.value > a.value ? 1 : b.value < a.value ? -1 : 0);
  });
}
