// The toolbar's settings as stored and checked (src/model/settings.ts).
import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, type Settings, settingsFrom } from "../../src/model/settings";

describe("settings from storage", () => {
  it("fills what a stored value lacks with the defaults", () => {
    expect(settingsFrom({})).toEqual(DEFAULT_SETTINGS);
    expect(settingsFrom({ log: true, smoothing: 0.6 })).toEqual({ ...DEFAULT_SETTINGS, log: true, smoothing: 0.6 });
  });
  it("replaces an x axis, tab or group mode it does not know", () => {
    const stored = { xAxis: "epoch", tab: "images", groupMode: "magic" } as unknown as Partial<Settings>;
    const s = settingsFrom(stored);
    expect([s.xAxis, s.tab, s.groupMode]).toEqual(["step", "steps", "none"]);
    expect(settingsFrom({ xAxis: "relwall", tab: "samples", groupMode: "regex" })).toMatchObject({ xAxis: "relwall", tab: "samples", groupMode: "regex" });
  });
  it("does not share the defaults object", () => {
    settingsFrom({}).log = true;
    expect(DEFAULT_SETTINGS.log).toBe(false);
    expect(DEFAULT_SETTINGS.tipByValue).toBe(true);
    expect(settingsFrom({ tipByValue: false }).tipByValue).toBe(false);
  });
});
