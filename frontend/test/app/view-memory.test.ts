// Each view's own zoom and open step (src/app/view-memory.ts).
import { describe, expect, it } from "vitest";
import { ViewMemory } from "../../src/app/view-memory";

describe("ViewMemory", () => {
  it("a zoom and open step of one view do not follow into the next, and come back with it", () => {
    const m = new ViewMemory("steps");
    const steps = { train: { start: 714, end: 814 }, val: null, open: { run: "lr_0.08/train", step: 764 } };
    expect(m.switchTo("samples", steps)).toEqual({ train: null, val: null, open: null });
    expect(m.tab).toBe("samples");
    const samples = { train: { start: 0, end: 50 }, val: null, open: null };
    expect(m.switchTo("steps", samples)).toEqual(steps);
    expect(m.switchTo("samples", steps)).toEqual(samples);
  });
});
