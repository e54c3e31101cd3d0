// What the status line says of a `runs` answer: the log directory still being indexed (the list
// may grow), corrupt records skipped, or no data yet. Pure (test/model/run-status.test.ts).
import type { RunsResponse } from "../api/types";

export const NO_DATA = "No data in this log directory yet. Write some with BatchStats or tb_batch_plugin.summary.";

/** The status text of a `runs` answer ("" when there is nothing to say). */
export function runsStatus(res: RunsResponse): string {
  const n = res.runs.length;
  const parts: string[] = [];
  if (res.indexing) parts.push(n ? `indexing… (${n} run${n === 1 ? "" : "s"} so far)` : "indexing…");
  if (res.corrupt_records) parts.push(`${res.corrupt_records} corrupt records skipped`);
  if (!parts.length && !n) return NO_DATA;
  return parts.join("; ");
}

/** Whether a status text says something of the data (kept when charts are drawn), not of the view. */
export function statusOfData(text: string): boolean {
  return /corrupt|indexing/.test(text);
}
