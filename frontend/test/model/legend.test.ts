import { describe, expect, it } from "vitest";
import { legendEntries } from "../../src/model/legend";

const colors: Record<string, string> = { "a/1": "#111111", "a/2": "#222222", b: "#333333", val: "#444444" };

describe("legendEntries", () => {
  it("lists runs, groups with every member in its own colour, and placed validation runs, in draw order", () => {
    const got = legendEntries([
      { kind: "group", name: "a/*", runs: ["a/1", "a/2"], color: "#111111" },
      { kind: "run", run: "b", color: "#333333" },
      { kind: "eval", run: "val", color: "#444444" },
    ], (r) => colors[r]);
    expect(got).toEqual([
      { name: "a/*", color: "#111111", kind: "group", members: [{ run: "a/1", color: "#111111" }, { run: "a/2", color: "#222222" }] },
      { name: "b", color: "#333333", kind: "run", members: [] },
      { name: "val", color: "#444444", kind: "eval", members: [] },
    ]);
    // members of a group are told apart by colour
    expect(new Set(got[0].members.map((m) => m.color)).size).toBe(2);
  });

  it("is empty without layers", () => {
    expect(legendEntries([], () => "#000")).toEqual([]);
  });
});
