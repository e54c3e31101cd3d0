// The Data Map as data (src/model/datamap.ts) and the parsing of the dynamics routes.
import { describe, expect, it } from "vitest";
import { parseDynamics, parseLabelIssues, parsePresentations } from "../../src/api/parse";
import {
  aumColor, aumScale, cellAt, cellTipRows, cellTitle, drawOrder, dynamicsMembers, forgettingColor, forgettingScale, gridScales, identityText,
  isWrong, labelArrow, mapCells, mapNote, mergeScales, nearestPoint, pointsNear, pointTipRows, presentationsSummary,
} from "../../src/model/datamap";
import { rampColor } from "../../src/model/heat-colors";
import { marksSummary } from "../../src/model/samples";
import { sortTipRows } from "../../src/model/tip-rows";

// A `dynamics` answer as the server writes it (docs/http_api.md): 2 bins, 3 points, one row.
const DYN = {
  run: "r/train", output: "", outputs: [""], count: 3, classification: true,
  map: {
    variability: [0, 0.25, 0.5], confidence: [0, 0.5, 1],
    count: [[1, 1], [0, 1]], aum: [[-2.5, 3], [null, 0.5]], forgetting: [[2, 0], [null, 1]],
  },
  points: {
    variability: [0.1, 0.2, 0.4], confidence: [0.2, 0.9, 0.6], aum: [-2.5, 3, 0.5], forgetting: [2, 0, 1],
    fingerprint: ["00000000000000aa", "00000000000000bb", "00000000000000cc"], id: null, label: [3, 1, 2], predicted: [8, 1, 2],
  },
  rows: [{ fingerprint: "00000000000000aa", id: null, presentations: 9, first_step: 0, last_step: 80, aum: -2.5, forgetting: 2,
    learned_step: -1, confidence: 0.2, variability: 0.1, accuracy: 0.1, mean_loss: 3.2, last_loss: "Infinity", label: 3, predicted: 8 }],
  order: "aum", descending: false, offset: 0, limit: 1,
};

describe("parsing the dynamics routes", () => {
  it("reads a data map, its points and rows", () => {
    const d = parseDynamics(DYN);
    expect(d.count).toBe(3);
    expect(d.classification).toBe(true);
    expect(d.map.count).toEqual([[1, 1], [0, 1]]);
    expect(Number.isNaN(d.map.aum[1][0])).toBe(true);
    expect(Array.from(d.points!.confidence)).toEqual([0.2, 0.9, 0.6]);
    expect(d.points!.id).toBeNull();
    expect(d.rows[0].last_loss).toBe(Infinity);
    expect(d.rows[0].id).toBeNull();
    expect(Number.isNaN(d.rows[0].score)).toBe(true);
    expect(parseDynamics({ ...DYN, points: null }).points).toBeNull();
  });
  it("reads label issues and presentations", () => {
    const issues = parseLabelIssues({ run: "r", output: "", count: 90, flagged: 3,
      issues: [{ ...DYN.rows[0], score: 2.5, id: 17, flagged: true }, { ...DYN.rows[0], score: 0.5 }] });
    expect(issues.issues[0].score).toBe(2.5);
    expect(issues.issues[0].id).toBe(17);
    expect([issues.count, issues.flagged]).toEqual([90, 3]);
    expect(issues.issues.map((s) => s.flagged)).toEqual([true, false]);  // absent: not flagged
    const p = parsePresentations({ run: "r", output: "", key: "00000000000000aa",
      presentations: { step: [3, 40], loss: [0.5, "NaN"], margin: [-1, 2], label_probability: [0.2, 0.9], correct: [false, true], predicted: [8, 3] } });
    expect(p.step).toEqual([3, 40]);
    expect(Number.isNaN(p.loss[1])).toBe(true);
    expect(p.correct).toEqual([false, true]);
    expect(Array.from(p.labelProbability)).toEqual([0.2, 0.9]);
    const lossOnly = parsePresentations({ presentations: { step: [1], loss: [2], margin: null, correct: null } });
    expect(lossOnly.correct).toEqual([null]);
    expect(Number.isNaN(lossOnly.margin[0])).toBe(true);
  });
});

describe("the data map", () => {
  it("lists the runs with dynamics, training runs first, one per output", () => {
    const info: Record<string, { role: string | null; info: { dynamics?: string[] } }> = {
      "a/validation": { role: "validation", info: { dynamics: [""] } }, "a/train": { role: "train", info: { dynamics: ["digit", "size"] } },
      b: { role: null, info: {} },
    };
    expect(dynamicsMembers(["a/validation", "b", "a/train"], (r) => info[r])).toEqual([
      { run: "a/train", output: "digit" }, { run: "a/train", output: "size" }, { run: "a/validation", output: "" }]);
  });
  it("colours AUM diverging: negative red, positive blue, grey at 0", () => {
    const [r, g, b] = aumColor(-3, 2, false);
    expect(r).toBeGreaterThan(g);
    expect(r).toBeGreaterThan(b);
    expect(aumColor(-3, 2, false)).toEqual(aumColor(-2, 2, false)); // saturated beyond the scale
    const blue = aumColor(2, 2, false);
    expect(blue[2]).toBeGreaterThan(blue[0]);
    expect(aumColor(0, 2, false)).toEqual([200, 200, 200]);
    expect(aumColor(NaN, 2, true)).toEqual([150, 150, 150]);
    expect(aumColor(-1, 2, false)).toEqual([200, 110, 115]); // halfway from grey to red
  });
  it("scales AUM by the 95th percentile of |AUM|, forgetting by its maximum", () => {
    const v = Array.from({ length: 101 }, (_, i) => (i % 2 ? -i : i) / 10);
    expect(aumScale(v)).toBeCloseTo(9.5, 12);
    expect(aumScale([NaN])).toBe(1);
    expect(aumScale([0, 0])).toBe(1e-3);
    expect(forgettingScale([0, 3, NaN, 7])).toBe(7);
    expect(forgettingScale([0])).toBe(1);
    expect(forgettingColor(7, 7, false)).toEqual(rampColor(1, false));
    expect(forgettingColor(NaN, 7, false)).toEqual(rampColor(0, false));
    expect(mergeScales([{ aum: 2, forgetting: 3 }, { aum: 5, forgetting: 1 }])).toEqual({ aum: 5, forgetting: 3 });
    expect(mergeScales([])).toEqual({ aum: 1e-3, forgetting: 1 });
  });
  it("draws the most telling points last and finds the one under the pointer", () => {
    const p = parseDynamics(DYN).points!;
    expect(drawOrder(p, "aum")).toEqual([1, 2, 0]); // AUM 3, 0.5, then -2.5 on top
    expect(drawOrder(p, "forgetting")).toEqual([1, 2, 0]);
    const noPlace = { ...p, confidence: new Float64Array([NaN, 0.9, 0.6]) };
    expect(drawOrder(noPlace, "aum")).toEqual([1, 2]);
    const xs = [10, 50, 52], ys = [10, 50, 50];
    expect(nearestPoint(xs, ys, [0, 1, 2], 49, 50, 8)).toBe(1);
    expect(nearestPoint(xs, ys, [0, 1, 2], 51, 50, 8)).toBe(2); // a tie: the one drawn last
    expect(nearestPoint(xs, ys, [0, 1, 2], 200, 200, 8)).toBe(-1);
    expect(nearestPoint(xs, ys, [0], 50, 50, 8)).toBe(-1); // only the drawn ones
    expect(pointsNear(xs, ys, [0, 1, 2], 51, 50, 8)).toEqual([2, 1]);
    expect(pointsNear([5, 5, 5], [5, 5, 5], [2, 0, 1], 5, 5, 8)).toEqual([1, 0, 2]); // on top first
  });
  it("colours the binned map's cells by their mean, opacity by count", () => {
    const d = parseDynamics(DYN);
    const s = gridScales(d.map);
    expect(s).toEqual({ aum: expect.any(Number), forgetting: 2 });
    const cells = mapCells(d.map, "aum", s, false);
    expect(cells.map((c) => [c.i, c.j, c.count])).toEqual([[0, 0, 1], [0, 1, 1], [1, 1, 1]]);
    expect(cells[0].fill).toMatch(/^rgb\(/); // one sample in every cell: all at the fullest opacity
    expect(cellAt(d.map, 0.3, 0.99)).toEqual({ i: 1, j: 1 });
    expect(cellAt(d.map, 0.5, 1)).toEqual({ i: 1, j: 1 });
    expect(cellAt(d.map, 0.6, 0.5)).toBeNull();
    expect(cellTitle(d.map, cells[1])).toBe("confidence 0.5–1 · variability 0–0.25");
    expect(cellTipRows(cells[0]).map((r) => [r.label, r.text, r.bad])).toEqual([
      ["samples", "1", false], ["mean AUM", "-2.5", true], ["mean forgetting", "2", false]]);
  });
  it("says what a point is", () => {
    const p = parseDynamics(DYN).points!;
    const rows = sortTipRows(pointTipRows(p, 0, "red"));
    expect(rows.map((r) => [r.label, r.text])).toEqual([
      ["label → prediction", "3 → 8"], ["AUM", "-2.5"], ["confidence", "0.2"], ["variability", "0.1"], ["forgetting", "2"]]);
    expect(rows[0].bad && rows[1].bad).toBe(true);
    expect(labelArrow(null, 3)).toBe("– → 3");
    expect(isWrong(3, 3)).toBe(false);
    expect(isWrong(3, null)).toBe(false);
    expect(identityText("00000000000000aa", null)).toBe("00000000000000aa");
    expect(identityText("00000000000000aa", 7)).toBe("id 7 · 00000000000000aa");
    expect(mapNote(12000, false, 48)).toBe("12,000 samples in 48×48 cells (too many to draw one by one)");
    expect(mapNote(3, true, 48)).toBe("3 samples");
  });
  it("sums up a sample's presentations and names its marks", () => {
    const p = parsePresentations({ presentations: { step: [1, 2, 3, 4, 5], loss: [1, 1, 1, 1, 1], correct: [true, false, true, true, false] } });
    expect(presentationsSummary(p)).toBe("5 presentations, 3 classified correctly, forgotten 2 times");
    expect(presentationsSummary(parsePresentations({ presentations: { step: [9] } }))).toBe("1 presentation");
    expect(marksSummary({ run: "r", complete: true, count: 5, what: "presentations" }).text).toBe(" of r: 5 presentations marked");
    expect(marksSummary({ run: "r", complete: true, count: 1 }).text).toBe(" of r: 1 step marked");
  });
});
