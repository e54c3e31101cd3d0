// Run colours in TensorBoard's palette and order, and its theme setting (src/model/colors.ts).
import { describe, expect, it } from "vitest";
import {
  resolveDark, runColorIndex, runColors, TB_PALETTE, themeFromSettings, withAlpha,
} from "../../src/model/colors";

describe("run colours (TensorBoard's palette and order)", () => {
  it("follows TensorBoard's run list, then names", () => {
    // TensorBoard lists runs by start time: zeta started first
    const idx = runColorIndex(["alpha", "beta", "zeta", "new"], ["zeta", "alpha", "gone", "beta"]);
    expect(idx).toEqual({ zeta: 0, alpha: 1, beta: 3, new: 4 });
    expect(runColorIndex(["b", "a"], null)).toEqual({ a: 0, b: 1 });
  });
  it("uses the light or dark hex, wraps after 7, and a valid override wins", () => {
    const runs = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    const light = runColors(runs, runs, {}, false);
    expect(light.r0).toBe("#425066");
    expect(light.r1).toBe("#12b5cb");
    expect(light.r7).toBe("#425066"); // 7 mod 7
    expect(runColors(runs, runs, {}, true).r0).toBe("#8e98a3");
    const o = runColors(runs, runs, { r1: "#ABCDEF", r2: "red" }, false);
    expect(o.r1).toBe("#abcdef");
    expect(o.r2).toBe(TB_PALETTE[2].light);
  });
  it("is the same for the same runs, whatever order they come in", () => {
    expect(runColors(["a", "b", "c"], ["c", "a", "b"], {}, false)).toEqual(runColors(["c", "b", "a"], ["c", "a", "b"], {}, false));
  });
  it("withAlpha", () => {
    expect(withAlpha("#ff8000", 0.5)).toBe("rgba(255,128,0,0.5)");
    expect(withAlpha("red", 0.5)).toBe("red");
  });
});

describe("theme (TensorBoard's setting)", () => {
  it("reads _tb_global_settings", () => {
    expect(themeFromSettings('{"theme":"dark","scalarSmoothing":0.6}')).toBe("dark");
    expect(themeFromSettings('{"theme":"light"}')).toBe("light");
    expect(themeFromSettings('{"theme":"browser_default"}')).toBeNull();
    expect(themeFromSettings("{not json")).toBeNull();
    expect(themeFromSettings(null)).toBeNull();
  });
  it("TensorBoard's page wins, then its stored choice, then the browser", () => {
    expect(resolveDark(true, "light", false)).toBe(true);
    expect(resolveDark(false, "dark", true)).toBe(false);
    expect(resolveDark(null, "dark", false)).toBe(true);
    expect(resolveDark(null, "light", true)).toBe(false);
    expect(resolveDark(null, null, true)).toBe(true);
  });
});
