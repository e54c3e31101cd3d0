// The words of a chart's badges: raw, reduced (from how many points), sampled; and which runs
// each provenance applies to. Pure (test/model/badges.test.ts).

export interface BadgeInput {
  reduced: boolean;
  count: number;
  points: number;
  sampled: { n: number; N: number } | null;
}

/** The chart badge: "raw", "reduced from N points", and "n of N sampled" when the server could
 * only read a sample. */
export function badgeText(parts: readonly BadgeInput[]): { text: string; kind: "raw" | "reduced" | "sampled" | "empty" } {
  if (parts.length === 0) return { text: "no data", kind: "empty" };
  let count = 0;
  let reduced = false;
  let n = 0, N = 0, sampled = false;
  for (const p of parts) {
    count += p.count;
    if (p.reduced) reduced = true;
    if (p.sampled) {
      sampled = true;
      n += p.sampled.n;
      N += p.sampled.N;
    }
  }
  const base = reduced ? `reduced from ${count.toLocaleString("en-US")} points` : "raw";
  if (sampled) return { text: `${base} · ${n.toLocaleString("en-US")} of ${N.toLocaleString("en-US")} sampled`, kind: "sampled" };
  return { text: base, kind: reduced ? "reduced" : "raw" };
}

/** The tooltip of a chart's badge: every point drawn, or what a reduced chart shows. */
export function badgeHelp(kind: string): string {
  return kind === "raw"
    ? "Every point in this range is drawn."
    : "Each pixel column shows the min…max of its points (shaded) and a line through its first and last points; zoom in to reach single steps.";
}

/** The runs of each provenance, in order of first appearance (series without one are left out). */
export function provenanceRuns(series: readonly { run: string }[], provenanceOf: (run: string) => string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of series) {
    const p = provenanceOf(s.run);
    if (p) out.set(p, [...(out.get(p) ?? []), s.run]);
  }
  return out;
}

/** The badge of a distribution card: "raw · N steps", "reduced from N steps" (N over its runs),
 * or "no data". */
export function distributionBadge(parts: readonly { count: number; reduced: boolean }[]): { text: string; kind: "raw" | "reduced" | "empty" } {
  if (!parts.length) return { text: "no data", kind: "empty" };
  const n = parts.reduce((a, p) => a + p.count, 0).toLocaleString("en-US");
  return parts.some((p) => p.reduced) ? { text: `reduced from ${n} steps`, kind: "reduced" } : { text: `raw · ${n} steps`, kind: "raw" };
}
