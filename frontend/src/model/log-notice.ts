// The notice a chart shows when a log y axis leaves values out: how many loaded points are ≤ 0
// (a log scale cannot place them). Pure (test/model/log-notice.test.ts).

/** Loaded points of `series` that are finite and ≤ 0; `atLeast` when a series is reduced (only its
 * drawn points are counted). */
export function hiddenByLog(series: readonly { values: ArrayLike<number>; reduced: boolean }[]): { count: number; atLeast: boolean } {
  let count = 0, atLeast = false;
  for (const s of series) {
    let n = 0;
    for (let i = 0; i < s.values.length; i++) if (s.values[i] <= 0) n++;
    count += n;
    if (n && s.reduced) atLeast = true;
  }
  return { count, atLeast };
}

/** The notice's words, "" when nothing is hidden. */
export function logNoticeText(h: { count: number; atLeast: boolean }): string {
  if (!h.count) return "";
  const n = `${h.atLeast ? "at least " : ""}${h.count.toLocaleString("en-US")}`;
  return `log y: ${n} value${h.count === 1 ? "" : "s"} ≤ 0 not drawn`;
}
