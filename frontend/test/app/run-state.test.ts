// What the tab knows of the runs, without the page (src/app/run-state.ts).
import { describe, expect, it } from "vitest";
import type { RunInfo, TagInfo } from "../../src/api/types";
import { RunState } from "../../src/app/run-state";

const tag = (name: string, first: number, last: number, extra: Partial<TagInfo> = {}): TagInfo => ({
  tag: name, kind: "scalar", count: last - first + 1, first_step: first, last_step: last, ...extra,
});
const RUNS: RunInfo[] = [
  { run: "a/train", source: "index", tags: [tag("loss", 10, 109), tag("acc", 10, 109), tag("w", 10, 109, { kind: "distribution" })] },
  { run: "a/validation", source: "index", role: "validation", train_run: "a/train", tags: [tag("loss", 0, 19)],
    evaluations: [{ first_step: 0, last_step: 9, count: 10, train_step: 50, epoch: 0 }, { first_step: 10, last_step: 19, count: 10, train_step: 100, epoch: 1 }] },
  { run: "b", source: "index", tags: [tag("loss", 0, 49), tag("loss", 0, 9, { source: "scalars" })] },
];

function state(selection: Record<string, boolean> = {}, filter = ""): RunState {
  const s = new RunState(selection, {}, filter);
  s.setRuns({ runs: RUNS });
  return s;
}

describe("run state", () => {
  it("metas: roles, axes, placement, first steps; new runs selected", () => {
    const s = state({ b: false });
    expect(s.metasSummary()).toEqual({
      "a/train": { role: "train", axis: "train", placed: false, train_run: null },
      "a/validation": { role: "validation", axis: "train", placed: true, train_run: "a/train" },
      b: { role: null, axis: "train", placed: false, train_run: null },
    });
    expect(s.meta("a/train")?.first).toBe(10);
    expect(s.plotted()).toEqual(["a/train", "a/validation"]);
    expect(state({}, "^a/").plotted()).toEqual(["a/train", "a/validation"]);
  });
  it("a tag's series: the tab's own first; colours fall back to grey", () => {
    const s = state();
    expect(s.tagInfo("b", "loss")?.source).toBeUndefined();
    expect(s.tagInfo("b", "loss", "scalar", "scalars")?.last_step).toBe(9);
    expect(s.tagInfo("gone", "loss")).toBeUndefined();
    expect(s.color("a/train")).toBe("#888888");
    s.recolor(false);
    expect(s.color("a/train")).toMatch(/^#[0-9a-f]{6}$/);
  });
  it("step offsets and ranges on the relative axis; a placed run spans its evaluations", () => {
    const s = state();
    expect(s.stepOffset("a/validation", "relstep")).toBe(10);
    expect(s.stepOffset("a/validation", "step")).toBe(0);
    expect(s.fullRange(["a/train", "a/validation"], "loss", "train", "step")).toEqual({ start: 10, end: 109 });
    expect(s.fullRange(["a/validation"], "loss", "train", "relstep")).toEqual({ start: 40, end: 90 });
    expect(s.fullRange(["a/validation"], "loss", "val", "step")).toBeNull();
    expect(s.globalRange("train", "step")).toEqual({ start: 0, end: 109 });
  });
  it("chart keys of an axis: by tag filter, one per writer for split tags", () => {
    const s = state();
    expect(s.chartKeys("scalar", "train", "", new Set()).keys).toEqual(["loss", "acc"]);
    expect(s.chartKeys("scalar", "train", "", new Set(["loss"])).keys).toEqual(["loss\u0000tb_batch", "acc", "loss\u0000scalars"]);
    expect(s.chartKeys("distribution", "train", "", new Set()).keys).toEqual(["w"]);
    expect(s.chartKeys("scalar", "train", "(", new Set())).toEqual({ keys: [], error: expect.any(String) });
    expect(s.chartKeys("scalar", "val", "", new Set()).keys).toEqual([]);
  });
  it("runs TensorBoard does not list yet", () => {
    const s = state();
    expect(s.unordered(["a/train"])).toBe(true);
    s.tbOrder = ["a/train", "b"];
    expect(s.unordered(["a/train", "b"])).toBe(false);
  });
});
