// The heatmaps' colour ramp, and the steps x range they share (src/model/heat-colors.ts).
import { describe, expect, it } from "vitest";
import { heatColor, rampColor } from "../../src/model/heat-colors";
import { stepsXRange } from "../../src/model/ranges";

describe("shared drawing helpers", () => {
  it("spans the view's steps, each column to its last step + 1", () => {
    expect(stepsXRange({ start: 700, end: 799 }, 0, 1)).toEqual([700, 800]);
    expect(stepsXRange({ start: 5, end: 5 }, 0, 1)).toEqual([4.5, 5.5]);
    expect(stepsXRange(null, 3, 9)).toEqual([3, 9]);
  });
  it("colours counts and losses on one ramp", () => {
    expect(rampColor(0, false)).toEqual([220, 235, 250]);
    expect(rampColor(1, false)).toEqual([20, 30, 100]);
    expect(rampColor(0.5, false)).toEqual([80, 130, 210]); // halfway between the 2nd and 3rd stops
    expect(rampColor(2, true)).toEqual([250, 230, 120]);
    expect(heatColor(10, 10, false)).toEqual([20, 30, 100, 255]);
    expect(heatColor(0, 10, false)).toEqual([0, 0, 0, 0]);
  });
});
