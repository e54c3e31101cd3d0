// The M4 envelope of a run's series (src/model/envelope.ts).
import { describe, expect, it } from "vitest";
import { buildEnvelope, columnAt, columnOf, columnsNear } from "../../src/model/envelope";

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
