// Which runs the tab plots: the run filter of the side panel and the default selection of new
// runs. Pure (test/model/runs.test.ts).

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
