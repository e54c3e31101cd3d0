// How numbers read on screen (src/model/format.ts).
import { describe, expect, it } from "vitest";
import { compactNum, fmtDuration, fmtNum, fmtShort, fmtTip, hoverXLabel } from "../../src/model/format";

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

describe("short values, durations, the x under the pointer", () => {
  it("4 significant digits, durations in s, m, h, d", () => {
    expect(fmtShort(3.14159265)).toBe("3.142");
    expect(fmtShort(NaN)).toBe("NaN");
    expect([fmtDuration(42), fmtDuration(-90), fmtDuration(7200), fmtDuration(86400 * 4), fmtDuration(NaN)]).toEqual(["42s", "-1.5m", "2h", "4d", ""]);
  });
  it("names the x of each axis", () => {
    expect(hoverXLabel("step", "train", 12.4)).toBe("step 12");
    expect(hoverXLabel("step", "val", 3)).toBe("validation batch 3");
    expect(hoverXLabel("relstep", "train", 5)).toBe("5 steps since start");
    expect(hoverXLabel("relwall", "train", 90)).toBe("1.5m since start");
  });
});

describe("tooltip values", () => {
  it("5 significant digits; the exact value keeps 7", () => {
    expect(fmtTip(0.123456789)).toBe("0.12346");
    expect(fmtTip(2.3025851)).toBe("2.3026");
    expect(fmtNum(2.3025851)).toBe("2.302585");
    expect(fmtTip(12345.678)).toBe("12346");
    expect(fmtTip(-0.5)).toBe("-0.5");
    expect(fmtTip(1.23456789e-7)).toBe("1.2346e-7");
    expect(fmtTip(3.5e9)).toBe("3.5e+9");
    expect([fmtTip(0), fmtTip(NaN), fmtTip(Infinity), fmtTip(-Infinity), fmtTip(null)]).toEqual(["0", "NaN", "+Inf", "-Inf", "–"]);
  });
});
