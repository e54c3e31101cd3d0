// The words of the charts' badges (src/model/badges.ts).
import { describe, expect, it } from "vitest";
import { badgeHelp, badgeText, distributionBadge, provenanceRuns } from "../../src/model/badges";

describe("badgeText", () => {
  it("says raw, reduced from N, and n of N sampled", () => {
    expect(badgeText([{ reduced: false, count: 10, points: 10, sampled: null }]).text).toBe("raw");
    expect(badgeText([{ reduced: true, count: 200000, points: 1600, sampled: null }]).text).toBe("reduced from 200,000 points");
    const s = badgeText([{ reduced: false, count: 1000, points: 1000, sampled: { n: 1000, N: 50000 } }]);
    expect(s.text).toBe("raw · 1,000 of 50,000 sampled");
    expect(s.kind).toBe("sampled");
    expect(badgeText([]).kind).toBe("empty");
  });
});

describe("distribution badge and provenance", () => {
  it("raw or reduced with the steps of every run, or no data", () => {
    expect(distributionBadge([{ count: 1200, reduced: false }, { count: 34, reduced: false }])).toEqual({ text: "raw · 1,234 steps", kind: "raw" });
    expect(distributionBadge([{ count: 5, reduced: true }])).toEqual({ text: "reduced from 5 steps", kind: "reduced" });
    expect(distributionBadge([])).toEqual({ text: "no data", kind: "empty" });
  });
  it("the runs of each provenance, in order; the badge's help", () => {
    const prov: Record<string, string> = { a: "exact", b: "logged", c: "exact" };
    expect([...provenanceRuns([{ run: "a" }, { run: "b" }, { run: "c" }, { run: "d" }], (r) => prov[r])]).toEqual([["exact", ["a", "c"]], ["logged", ["b"]]]);
    expect(badgeHelp("raw")).toMatch(/Every point/);
    expect(badgeHelp("reduced")).toMatch(/min…max/);
  });
});
