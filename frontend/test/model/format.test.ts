import { describe, expect, it } from "vitest";
import { compactNum, fmtNum } from "../../src/model/format";

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
