// The wheel over a chart (src/model/wheel.ts).
import { describe, expect, it } from "vitest";
import { wheelAction, zoomModifier } from "../../src/model/wheel";

const ev = (mods: Partial<{ ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }>) => ({ ctrlKey: false, metaKey: false, shiftKey: false, ...mods });

describe("wheel", () => {
  it("the plain wheel scrolls the page; Ctrl or ⌘ zooms; Shift pans", () => {
    expect(wheelAction(ev({}))).toBeNull();
    expect(wheelAction(ev({ ctrlKey: true }))).toBe("zoom");
    expect(wheelAction(ev({ metaKey: true }))).toBe("zoom");
    expect(wheelAction(ev({ ctrlKey: true, shiftKey: true }))).toBe("zoom");
    expect(wheelAction(ev({ shiftKey: true }))).toBe("pan");
  });
  it("names the modifier of the platform", () => {
    expect(zoomModifier("MacIntel")).toBe("⌘");
    expect(zoomModifier("Linux x86_64")).toBe("Ctrl");
  });
});
