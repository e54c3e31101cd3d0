// Run groups and their mean with a min…max band (src/model/groups.ts).
import { describe, expect, it } from "vitest";
import { aggregate, groupOf, groupRuns, groupsOf } from "../../src/model/groups";

describe("run groups", () => {
  it("by path prefix: a directory, Keras' train/validation one level up", () => {
    expect(groupOf("exp/seed_1", "prefix", null)).toBe("exp/*");
    expect(groupOf("exp/seed_1/train", "prefix", null)).toBe("exp/*/train");
    expect(groupOf("lr_0.08/validation", "prefix", null)).toBe("*/validation");
    expect(groupOf("run_01", "prefix", null)).toBe("*");
  });
  it("by regex: the captured groups; runs that do not match stay alone", () => {
    const re = /lr_([^/]+)\/(train|validation)/;
    expect(groupOf("s1/lr_0.1/train", "regex", re)).toBe("0.1/train");
    expect(groupOf("other", "regex", re)).toBeNull();
    expect(groupOf("abc", "regex", /b/)).toBe("b");
    expect(groupRuns(["a/1", "b/1", "a/2", "z"], "regex", /^(a|b)\//)).toEqual([
      { name: "a", runs: ["a/1", "a/2"] }, { name: "b", runs: ["b/1"] }, { name: "z", runs: ["z"] },
    ]);
  });
  it("aggregates raw members per step exactly", () => {
    const a = aggregate([
      { steps: [0, 1, 2], values: [1, 2, 3], reduced: false },
      { steps: [1, 2, 3], values: [4, NaN, 6], reduced: false },
    ], 0, 3, 100);
    expect(a.exact).toBe(true);
    expect(a.x).toEqual([0, 1, 2, 3]);
    expect(a.mean).toEqual([1, 3, 3, 6]);
    expect(a.lo).toEqual([1, 2, 3, 6]);
    expect(a.hi).toEqual([1, 4, 3, 6]);
    expect(a.n).toEqual([1, 2, 1, 1]);
  });
  it("aggregates reduced members per pixel column: exact min/max, estimated mean", () => {
    // 2 columns over steps 0..9; member A column 0 holds 1..5, member B column 0 holds 10 and 30
    const a = aggregate([
      { steps: [0, 2, 4, 5, 9], values: [1, 5, 3, 7, 7], reduced: true },
      { steps: [1, 3, 6], values: [10, 30, 2], reduced: true },
    ], 0, 9, 2);
    expect(a.exact).toBe(false);
    expect(a.lo).toEqual([1, 2]);
    expect(a.hi).toEqual([30, 7]);
    expect(a.mean).toEqual([(3 + 20) / 2, (7 + 2) / 2]);
    expect(a.x).toEqual([(2 + 2) / 2, (7 + 6) / 2]);
  });
});

describe("run groups of a setting", () => {
  it("none, prefix, and regex (an empty or invalid one groups nothing)", () => {
    const runs = ["lr_1/seed_0", "lr_1/seed_1", "lr_2/seed_0"];
    expect(groupsOf(runs, "none", "")).toBeNull();
    expect(groupsOf(runs, "prefix", "")).toEqual([{ name: "lr_1/*", runs: ["lr_1/seed_0", "lr_1/seed_1"] }, { name: "lr_2/*", runs: ["lr_2/seed_0"] }]);
    expect(groupsOf(runs, "regex", "(seed_\\d)")?.map((g) => g.name)).toEqual(["seed_0", "seed_1"]);
    expect(groupsOf(runs, "regex", "")).toBeNull();
    expect(groupsOf(runs, "regex", "(")).toBeNull();
  });
});
