import { describe, expect, it } from "vitest";
import { badgeText } from "../../src/model/badges";

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
