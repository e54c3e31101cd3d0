import { describe, expect, it } from "vitest";
import { chartHeight, chartSizeOf } from "../../src/model/chart-size";
import { settingsFrom } from "../../src/model/settings";

describe("chart size", () => {
  it("grows from small to large, medium the old fixed height", () => {
    expect(chartHeight("small")).toBeLessThan(chartHeight("medium"));
    expect(chartHeight("medium")).toBe(200);
    expect(chartHeight("large")).toBeGreaterThan(chartHeight("medium"));
  });
  it("a stored value that is not a size is medium", () => {
    expect(chartSizeOf("large")).toBe("large");
    expect(chartSizeOf("huge")).toBe("medium");
    expect(chartSizeOf(undefined)).toBe("medium");
    expect(settingsFrom({}).chartSize).toBe("medium");
    expect(settingsFrom({ chartSize: "small" }).chartSize).toBe("small");
    expect(settingsFrom({ chartSize: "xl" as never }).chartSize).toBe("medium");
  });
});
