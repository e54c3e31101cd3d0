// The order of the tooltip's rows (src/model/tip-rows.ts).
import { describe, expect, it } from "vitest";
import { sortTipRows } from "../../src/model/tip-rows";

describe("tooltip rows", () => {
  it("highest value first, NaN last, the input left alone", () => {
    const rows = [NaN, 1, Infinity, -2, 3].map((value, i) => ({ color: "#000", label: String(i), text: "", value }));
    expect(sortTipRows(rows).map((r) => r.label)).toEqual(["2", "4", "1", "3", "0"]);
    expect(rows.map((r) => r.label)).toEqual(["0", "1", "2", "3", "4"]);
  });
});
