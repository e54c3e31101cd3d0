import { describe, expect, it } from "vitest";
import { classRows, LABEL_PX } from "../../src/model/class-rows";

describe("classRows", () => {
  it("labels every class of a small problem on 18 px rows", () => {
    expect(classRows(10)).toEqual({ rowPx: 18, every: 1, height: 180 });
    expect(classRows(2)).toEqual({ rowPx: 18, every: 1, height: 56 });
  });
  it("keeps many classes under about 400 px with labels at least 14 px apart", () => {
    for (const n of [21, 50, 100, 1000]) {
      const r = classRows(n);
      expect(r.rowPx).toBeGreaterThanOrEqual(4);
      expect(r.rowPx * r.every).toBeGreaterThanOrEqual(LABEL_PX);
      if (n <= 100) expect(r.height).toBeLessThanOrEqual(400);
    }
  });
});
