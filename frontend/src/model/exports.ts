// Downloads of a series: the `export` route's URL and a safe file name. Pure
// (test/model/exports.test.ts).

/** CSV export URL of one series (relative to the plugin's base). */
export function exportHref(run: string, tag: string, format: "csv" | "json" = "csv"): string {
  const q = new URLSearchParams({ run, tag, format });
  return `export?${q.toString()}`;
}

/** A file name for a download: run and tag with unsafe characters replaced. */
export function exportFileName(run: string, tag: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "x";
  return `${clean(run)}__${clean(tag)}.csv`;
}
