import { describe, expect, it } from "vitest";
import {
  alignSeries, AnomalyRow, badgeText, bandPairs, buildEnvelope, clampRange, columnAt, columnsNear, columnOf, compactNum,
  exportFileName, exportHref, fmtNum, heatColor, HoverRow, makeRunFilter, mergeSelection, nearestCandidate,
  nearestIndex, padRange, panRange, parseNum, quantileSorted, robustYRange, smooth, sortAnomalies, sortRows, toF64, wallToStep, windowAround, yRange, zoomRange,
} from "../src/logic";

describe("parseNum / toF64", () => {
  it("reads the API's non-finite strings", () => {
    expect(parseNum("NaN")).toBeNaN();
    expect(parseNum("Infinity")).toBe(Infinity);
    expect(parseNum("-Infinity")).toBe(-Infinity);
    expect(parseNum(1.5)).toBe(1.5);
    expect(parseNum(null)).toBeNaN();
    expect(parseNum("garbage")).toBeNaN();
    expect(parseNum("2.5")).toBe(2.5);
  });
  it("converts arrays to Float64Array", () => {
    const a = toF64([1, "NaN", "Infinity", "-Infinity", 0]);
    expect(a).toBeInstanceOf(Float64Array);
    expect(Array.from(a)).toEqual([1, NaN, Infinity, -Infinity, 0]);
    expect(toF64(null).length).toBe(0);
  });
});

describe("fmtNum / compactNum", () => {
  it("formats values", () => {
    expect(fmtNum(NaN)).toBe("NaN");
    expect(fmtNum(Infinity)).toBe("+Inf");
    expect(fmtNum(-Infinity)).toBe("-Inf");
    expect(fmtNum(0)).toBe("0");
    expect(fmtNum(0.5299999713897705)).toBe("0.53");
    expect(fmtNum(1234.5678)).toBe("1234.568");
    expect(fmtNum(1e-7)).toBe("1e-7");
    expect(fmtNum(null)).toBe("–");
  });
  it("compacts axis labels", () => {
    expect(compactNum(950)).toBe("950");
    expect(compactNum(200000)).toBe("200k");
    expect(compactNum(1500000)).toBe("1.5M");
  });
});

describe("columnOf", () => {
  it("splits a range into equal columns", () => {
    expect(columnOf(0, 0, 999, 10)).toBe(0);
    expect(columnOf(99, 0, 999, 10)).toBe(0);
    expect(columnOf(100, 0, 999, 10)).toBe(1);
    expect(columnOf(999, 0, 999, 10)).toBe(9);
    expect(columnOf(-5, 0, 999, 10)).toBe(0);
    expect(columnOf(5000, 0, 999, 10)).toBe(9);
  });
});

describe("buildEnvelope (M4)", () => {
  // M4 output of 1000 steps in 4 columns: per column first, min, max, last (in step order)
  const steps = [0, 10, 100, 249, 250, 300, 310, 499, 500, 501, 600, 749, 750, 800, 900, 999];
  const values = [1, 0.5, 2, 1.5, 1.4, 50, 0.1, 1.3, 1, 1, 1, 1, 1, 0.9, 3, 2];
  it("shades each column from its min to its max and draws first/last", () => {
    const e = buildEnvelope(steps, values, steps, 0, 999, 4, true);
    expect(e.x0).toEqual([0, 250, 500, 750]);
    expect(e.x1).toEqual([249, 499, 749, 999]);
    expect(e.hi).toEqual([2, 50, 1, 3]);
    expect(e.lo).toEqual([0.5, 0.1, 1, 0.9]);
    expect(e.hiStep[1]).toBe(300); // the spike keeps its own step
    expect(e.loStep[1]).toBe(310);
    expect(e.lineStep).toEqual([0, 249, 250, 499, 500, 749, 750, 999]);
    expect(e.lineY).toEqual([1, 1.5, 1.4, 1.3, 1, 1, 1, 2]);
    expect(e.yMax).toBe(50);
    expect(e.yMin).toBe(0.1);
    expect(e.yMinPos).toBe(0.1);
  });
  it("keeps a single spike at any width", () => {
    const n = 200000;
    const st: number[] = [], va: number[] = [];
    // what the server returns: first/last/min/max per column; here a synthetic raw-ish sample
    for (let i = 0; i < n; i += 97) { st.push(i); va.push(1); }
    st.push(123457); va.push(1000);
    const order = st.map((s, i) => [s, va[i]]).sort((a, b) => a[0] - b[0]);
    const e = buildEnvelope(order.map((p) => p[0]), order.map((p) => p[1]), order.map((p) => p[0]), 0, n - 1, 300, true);
    expect(Math.max(...e.hi)).toBe(1000);
    expect(e.hiStep[e.hi.indexOf(1000)]).toBe(123457);
    expect(e.yMax).toBe(1000);
  });
  it("marks non-finite points instead of drawing them", () => {
    const e = buildEnvelope([0, 1, 2, 3, 4], [1, NaN, Infinity, -Infinity, 2], [0, 1, 2, 3, 4], 0, 4, 100, false);
    expect(e.lineStep).toEqual([0, 4]);
    expect(e.markers.map((m) => m.kind)).toEqual(["nan", "inf", "-inf"]);
    expect(e.markers.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(e.x0.length).toBe(0); // raw: no envelope
  });
  it("uses x values (wall time) for drawing but steps for columns", () => {
    const e = buildEnvelope([0, 1, 2, 3], [1, 2, 3, 4], [100, 101, 102, 103], 0, 3, 2, true);
    expect(e.x0).toEqual([100, 102]);
    expect(e.lineX).toEqual([100, 101, 102, 103]);
  });
  it("handles an empty series", () => {
    const e = buildEnvelope([], [], [], 0, 10, 10, true);
    expect(e.lineX).toEqual([]);
    expect(e.yMin).toBeNaN();
  });
  it("finds the column at an x", () => {
    const e = buildEnvelope(steps, values, steps, 0, 999, 4, true);
    expect(columnAt(e, 300)).toBe(1);
    expect(columnAt(e, 999)).toBe(3);
    expect(columnAt(e, 5000)).toBe(-1);
    expect(columnAt(e, 1000, 2)).toBe(3);
    // containment wins over a neighbour within the slack
    expect(columnAt(e, 300, 100)).toBe(1);
    expect(columnAt(e, 249.4, 100)).toBe(0);
  });
  it("lists the columns near an x", () => {
    const e = buildEnvelope(steps, values, steps, 0, 999, 4, true);
    expect(columnsNear(e, 300, 0)).toEqual([1]);
    expect(columnsNear(e, 260, 20)).toEqual([0, 1]);
    expect(columnsNear(e, 2000, 10)).toEqual([]);
  });
});

describe("smooth", () => {
  it("is the identity at weight 0", () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });
  it("debiases the first value (TensorBoard's EMA)", () => {
    const s = smooth([10, 10, 10], 0.9);
    for (const v of s) expect(v).toBeCloseTo(10, 10);
  });
  it("moves toward new values and passes non-finite through", () => {
    const s = smooth([0, NaN, 10], 0.5);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeNaN();
    // two finite values: last = 0.5*0.5*0 ... = (0*0.5 + 0.5*10) = 5, debias 1-0.25 = 0.75
    expect(s[2]).toBeCloseTo(5 / 0.75, 10);
  });
});

describe("alignSeries", () => {
  it("joins x values and fills gaps with null", () => {
    const d = alignSeries([{ x: [0, 2, 4], y: [1, 2, 3] }, { x: [1, 2], y: [9, 8] }]);
    expect(d[0]).toEqual([0, 1, 2, 4]);
    expect(d[1]).toEqual([1, null, 2, 3]);
    expect(d[2]).toEqual([null, 9, 8, null]);
  });
  it("handles no points", () => {
    expect(alignSeries([{ x: [], y: [] }])).toEqual([[], []]);
  });
});

describe("nearestIndex / wallToStep", () => {
  it("finds the nearest element", () => {
    expect(nearestIndex([0, 10, 20], 4)).toBe(0);
    expect(nearestIndex([0, 10, 20], 6)).toBe(1);
    expect(nearestIndex([0, 10, 20], 100)).toBe(2);
    expect(nearestIndex([], 1)).toBe(-1);
  });
  it("interpolates wall time to steps", () => {
    const walls = [100, 110, 120], steps = [0, 100, 200];
    expect(wallToStep(walls, steps, 105)).toBe(50);
    expect(wallToStep(walls, steps, 50)).toBe(0);
    expect(wallToStep(walls, steps, 500)).toBe(200);
    expect(wallToStep([], [], 1)).toBeNaN();
  });
});

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

describe("view ranges", () => {
  const full = { start: 0, end: 1000 };
  it("zooms around a center and clamps", () => {
    expect(zoomRange(full, full, 0.5, 500)).toEqual({ start: 250, end: 750 });
    expect(zoomRange(full, full, 0.5, 0)).toEqual({ start: 0, end: 500 });
    expect(zoomRange({ start: 0, end: 500 }, full, 4)).toEqual(full);
  });
  it("keeps a minimum span", () => {
    const r = zoomRange({ start: 10, end: 12 }, full, 0.1, 11);
    expect(r.end - r.start).toBeGreaterThanOrEqual(8);
  });
  it("pans and clamps", () => {
    expect(panRange({ start: 0, end: 100 }, full, 0.5)).toEqual({ start: 50, end: 150 });
    expect(panRange({ start: 0, end: 100 }, full, -0.5)).toEqual({ start: 0, end: 100 });
    expect(panRange({ start: 900, end: 1000 }, full, 1)).toEqual({ start: 900, end: 1000 });
  });
  it("clamps to integers", () => {
    expect(clampRange({ start: 1.5, end: 9.2 }, full)).toEqual({ start: 1, end: 10 });
  });
  it("centers a window on a step", () => {
    const w = windowAround(41000, { start: 0, end: 200000 }, 0.02);
    expect(w.start).toBeLessThan(41000);
    expect(w.end).toBeGreaterThan(41000);
    expect(w.end - w.start).toBe(4000);
    expect(windowAround(5, full, 0.02, 100)).toEqual({ start: 0, end: 100 });
  });
});

describe("yRange", () => {
  it("pads the finite extent", () => {
    expect(yRange([0], [10], [1], false)).toEqual([-0.5, 10.5]);
  });
  it("uses the smallest positive value on a log scale", () => {
    const [lo, hi] = yRange([-5], [100], [0.02], true);
    expect(lo).toBeCloseTo(0.01, 12);
    expect(hi).toBe(100);
    expect(yRange([3], [3], [3], true)).toEqual([1, 10]);
  });
  it("widens a flat line and survives no data", () => {
    expect(yRange([2], [2], [2], false)).toEqual([1.8, 2.2]);
    expect(yRange([NaN], [NaN], [NaN], false)).toEqual([0, 1]);
  });
});

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

describe("distributions", () => {
  it("pairs symmetric quantiles outermost first", () => {
    const p = bandPairs([0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1]);
    expect(p.median).toBe(5);
    expect(p.pairs).toEqual([[0, 10], [1, 9], [2, 8], [3, 7], [4, 6]]);
  });
  it("skips unpaired quantiles", () => {
    expect(bandPairs([0.1, 0.5, 0.8]).pairs).toEqual([]);
  });
  it("colors heatmap counts on a log ramp", () => {
    expect(heatColor(0, 100, false)[3]).toBe(0);
    const a = heatColor(1, 100, false), b = heatColor(100, 100, false);
    expect(b[3]).toBe(255);
    expect(a[3]).toBeLessThan(b[3]);
    expect(heatColor(5, 0, true)[3]).toBe(0);
  });
});

describe("click target", () => {
  it("picks the nearest point, weighing y less", () => {
    const c = nearestCandidate([{ px: 0, py: 0, id: 1 }, { px: 10, py: 100, id: 2 }, { px: NaN, py: 0, id: 3 }], 9, 90);
    expect(c?.id).toBe(2);
    expect(nearestCandidate([], 0, 0)).toBeNull();
  });
});

describe("export", () => {
  it("builds an escaped relative link and a safe file name", () => {
    expect(exportHref("<img src=x>", "loss")).toBe("export?run=%3Cimg+src%3Dx%3E&tag=loss&format=csv");
    expect(exportFileName("train/a b", "loss/x")).toBe("train_a_b__loss_x.csv");
    expect(exportFileName("///", "t")).toBe("x__t.csv");
  });
});

describe("robustYRange (ignore outliers)", () => {
  it("ignores warm-up and the largest spikes, never reaches beyond the data", () => {
    const ys = Array.from({ length: 1000 }, (_, i) => 0.3 + 0.01 * Math.sin(i));
    ys[0] = 7.1; ys[1] = 5.6; // warm-up
    ys[500] = 50; // a spike
    const [lo, hi] = robustYRange([ys], Math.min(...ys), Math.max(...ys), false);
    expect(hi).toBeLessThan(1);
    expect(lo).toBeGreaterThan(0.2);
    // the plain range would be set by the spike
    expect(yRangeOf(ys)[1]).toBeGreaterThan(50);
  });
  it("is each run's own 1..99% range, united: a quiet run does not hide a noisy one", () => {
    const quiet = Array.from({ length: 1000 }, (_, i) => 0.01 + 0.001 * Math.sin(i));
    const noisy = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 2 : 0.3));
    const [, hi] = robustYRange([quiet, noisy], 0.009, 2, false);
    expect(hi).toBeGreaterThan(2); // the noisy run's 10% at 2 is inside its 1..99%
  });
  it("is the data's own range when the widened 1..99% span covers it", () => {
    const ys = Array.from({ length: 100 }, (_, i) => i);
    const [lo, hi] = robustYRange([ys], 0, 99, false);
    // 1st..99th percentile 0.99..98.01, widened by 10% of the span: beyond 0..99, so 0..99 padded 5%
    expect(lo).toBeCloseTo(-4.95, 9);
    expect(hi).toBeCloseTo(103.95, 9);
  });
  it("falls back to min..max for few points, and works in log space", () => {
    expect(robustYRange([[1, 2, 3]], 1, 3, false)).toEqual(padRange(1, 3, false));
    const ys = Array.from({ length: 200 }, (_, i) => Math.pow(10, -3 + (i % 10) / 10));
    ys[5] = 1e3;
    const [lo, hi] = robustYRange([ys], 1e-3, 1e3, true);
    // log10 values -3..-2.1 (+ one at 3): 1..99% -3..-2.1, widened -3.09..-2.01 but not below
    // the data's -3: whole decades 1e-3..1e-2, the spike at 1e3 left out
    expect(lo).toBe(1e-3);
    expect(hi).toBeCloseTo(0.01, 15);
  });
  it("quantileSorted interpolates like numpy's linear method", () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.05)).toBeCloseTo(1.15, 12);
    expect(quantileSorted([], 0.5)).toBeNaN();
  });
});

function yRangeOf(ys: number[]): [number, number] {
  return padRange(Math.min(...ys), Math.max(...ys), false);
}

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
  it("by step, either way", () => {
    expect(sortAnomalies(rows, "step").map((r) => r.step)).toEqual([3, 5, 7, 900]);
    expect(sortAnomalies(rows, "step", true).map((r) => r.step)).toEqual([900, 7, 5, 3]);
  });
});
