// How numbers read on screen (src/model/format.ts).
import { describe, expect, it } from "vitest";
import { compactNum, fmtDuration, fmtNum, fmtShort, hoverXLabel } from "../../src/model/format";

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
