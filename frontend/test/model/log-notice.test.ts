import { describe, expect, it } from "vitest";
import { hiddenByLog, logNoticeText } from "../../src/model/log-notice";

describe("hiddenByLog", () => {
  it("counts the finite values ≤ 0 (NaN and +Inf are marked elsewhere)", () => {
    expect(hiddenByLog([{ values: [1, 0, -2, NaN, Infinity, -Infinity, 3], reduced: false }])).toEqual({ count: 3, atLeast: false });
  });
  it("says 'at least' when a reduced series hides values", () => {
    const h = hiddenByLog([{ values: [1, 2], reduced: true }, { values: [-1], reduced: true }]);
    expect(h).toEqual({ count: 1, atLeast: true });
    expect(logNoticeText(h)).toBe("log y: at least 1 value ≤ 0 not drawn");
  });
  it("has words only when something is hidden", () => {
    expect(logNoticeText({ count: 0, atLeast: false })).toBe("");
    expect(logNoticeText({ count: 1, atLeast: false })).toBe("log y: 1 value ≤ 0 not drawn");
    expect(logNoticeText({ count: 1200, atLeast: false })).toBe("log y: 1,200 values ≤ 0 not drawn");
  });
});
