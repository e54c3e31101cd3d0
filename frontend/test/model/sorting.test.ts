// The orders of hover rows and anomalies (src/model/sorting.ts).
import { describe, expect, it } from "vitest";
import { type AnomalyRow, type HoverRow, sortAnomalies, sortRows } from "../../src/model/sorting";

describe("hover table sorting", () => {
  const rows: HoverRow[] = [
    { run: "b", color: "", step: 2, value: 3, exact: true },
    { run: "a", color: "", step: 1, value: NaN, exact: true },
    { run: "c", color: "", step: 3, value: -Infinity, exact: true },
    { run: "d", color: "", step: 4, value: Infinity, exact: true },
  ];
  it("sorts by value with NaN last either way", () => {
    expect(sortRows(rows, "value", false).map((r) => r.run)).toEqual(["c", "b", "d", "a"]);
    expect(sortRows(rows, "value", true).map((r) => r.run)).toEqual(["d", "b", "c", "a"]);
  });
  it("sorts by run and step", () => {
    expect(sortRows(rows, "run", false).map((r) => r.run)).toEqual(["a", "b", "c", "d"]);
    expect(sortRows(rows, "run", true).map((r) => r.run)).toEqual(["d", "c", "b", "a"]);
    expect(sortRows(rows, "step", true).map((r) => r.step)).toEqual([4, 3, 2, 1]);
  });
  it("does not mutate its input", () => {
    const copy = [...rows];
    sortRows(rows, "value", true);
    expect(rows).toEqual(copy);
  });
});

describe("sortAnomalies", () => {
  const rows: AnomalyRow[] = [
    { run: "b", tag: "loss", step: 5, kind: "spike", score: 8 },
    { run: "a", tag: "loss", step: 900, kind: "spike", score: 30 },
    { run: "a", tag: "loss", step: 7, kind: "nan", score: null },
    { run: "b", tag: "acc", step: 3, kind: "spike", score: 8 },
  ];
  it("by score: non-finite first, then highest score, ties by run and tag", () => {
    expect(sortAnomalies(rows, "score").map((r) => r.step)).toEqual([7, 900, 3, 5]);
  });
  it("by score whatever the kind: a few samples, a gradient anomaly among the spikes", () => {
    const kinds: AnomalyRow[] = [...rows, { run: "c", tag: "loss", step: 11, kind: "samples", score: 9 }, { run: "c", tag: "grad_norm", step: 12, kind: "gradient", score: 50 }];
    expect(sortAnomalies(kinds, "score").map((r) => r.step)).toEqual([7, 12, 900, 11, 3, 5]);
  });
  it("by step, either way", () => {
    expect(sortAnomalies(rows, "step").map((r) => r.step)).toEqual([3, 5, 7, 900]);
    expect(sortAnomalies(rows, "step", true).map((r) => r.step)).toEqual([900, 7, 5, 3]);
  });
});
