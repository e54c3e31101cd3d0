// The run filter and the default selection (src/model/runs.ts).
import { describe, expect, it } from "vitest";
import { makeRunFilter, mergeSelection } from "../../src/model/runs";

describe("run filter and selection", () => {
  it("filters by case-insensitive regex", () => {
    const f = makeRunFilter("^train/.*lr=0\\.1");
    expect(f.error).toBeNull();
    expect(f.test("train/LR=0.1")).toBe(true);
    expect(f.test("val/lr=0.1")).toBe(false);
  });
  it("falls back to substring on an invalid regex", () => {
    const f = makeRunFilter("run[");
    expect(f.error).toBeTruthy();
    expect(f.test("my-run[3]")).toBe(true);
    expect(f.test("other")).toBe(false);
  });
  it("matches everything when empty", () => {
    expect(makeRunFilter("").test("anything")).toBe(true);
  });
  it("merges stored selection with defaults", () => {
    expect(mergeSelection(["a", "b", "c"], { a: false }, 10)).toEqual({ a: false, b: true, c: true });
    expect(mergeSelection(["a", "b", "c"], {}, 2)).toEqual({ a: true, b: true, c: false });
  });
});
