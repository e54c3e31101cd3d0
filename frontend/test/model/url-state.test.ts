// The tab's state in TensorBoard's hash (src/model/url-state.ts).
import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../src/model/settings";
import { decodeHash, encodeHash, isNavigation, type UrlState } from "../../src/model/url-state";

const BASE: UrlState = { settings: { ...DEFAULT_SETTINGS }, zoom: null, vzoom: null, open: null, off: [] };

describe("url state", () => {
  it("round-trips view, x axis, zooms, open step, unchecked runs and settings", () => {
    const s: UrlState = {
      settings: { ...DEFAULT_SETTINGS, tab: "dists", xAxis: "relstep", log: true, smoothing: 0.6, outliers: false, tagFilter: "loss|acc&x=1", band: "iqr", heatmaps: false, groupMode: "regex", groupRegex: "(seed)_\\d" },
      zoom: { start: 714, end: 814 }, vzoom: { start: 0.5, end: 12.25 },
      open: { run: "lr_0.08/train", step: 764 }, off: ["a,b/validation", "<img src=x>", "x@y"],
    };
    const hash = encodeHash("tb_batch", s);
    expect(hash.startsWith("#tb_batch&tbb.view=dists&tbb.x=relstep&")).toBe(true);
    expect(hash).toContain("tbb.zoom=714..814");
    expect(decodeHash(hash, "tb_batch", DEFAULT_SETTINGS)).toEqual(s);
  });
  it("writes only the view and what differs from the defaults", () => {
    expect(encodeHash("tb_batch", BASE)).toBe("#tb_batch&tbb.view=steps");
    expect(encodeHash("tb_batch", { ...BASE, open: { run: "train", step: 3 } })).toBe("#tb_batch&tbb.view=steps&tbb.open=3%40train");
  });
  it("keeps TensorBoard's own components and replaces its old state", () => {
    const h = encodeHash("tb_batch", { ...BASE, zoom: { start: 1, end: 2 } }, "#tb_batch&tagFilter=x&tbb.view=dists&tbb.log=1");
    expect(h).toBe("#tb_batch&tagFilter=x&tbb.view=steps&tbb.zoom=1..2");
  });
  it("is null for another plugin or a hash without state; defaults where the URL says nothing", () => {
    expect(decodeHash("#scalars&tbb.view=dists", "tb_batch", DEFAULT_SETTINGS)).toBeNull();
    expect(decodeHash("#tb_batch", "tb_batch", DEFAULT_SETTINGS)).toBeNull();
    const mine = { ...DEFAULT_SETTINGS, log: true, tipByValue: false } as typeof DEFAULT_SETTINGS;
    const s = decodeHash("#tb_batch&tbb.view=samples", "tb_batch", mine)!;
    expect(s.settings.tab).toBe("samples");
    expect(s.settings.log).toBe(false); // the link's picture, not this browser's
    expect((s.settings as unknown as Record<string, unknown>).tipByValue).toBe(false); // a setting the URL does not carry stays
  });
  it("drops malformed values", () => {
    const s = decodeHash("#tb_batch&tbb.view=nope&tbb.x=zz&tbb.smooth=abc&tbb.zoom=9..3&tbb.vzoom=x&tbb.open=oops&tbb.off=%E0%A4%A", "tb_batch", DEFAULT_SETTINGS)!;
    expect(s.settings.tab).toBe("steps");
    expect(s.settings.xAxis).toBe("step");
    expect(s.settings.smoothing).toBe(0);
    expect([s.zoom, s.vzoom, s.open]).toEqual([null, null, null]);
  });
  it("a new view, zoom or open run is a history entry; a setting or a step through the drill-down is not", () => {
    const open = { ...BASE, open: { run: "r", step: 5 } };
    expect(isNavigation(BASE, { ...BASE, settings: { ...BASE.settings, tab: "samples" } })).toBe(true);
    expect(isNavigation(BASE, { ...BASE, zoom: { start: 1, end: 9 } })).toBe(true);
    expect(isNavigation(BASE, open)).toBe(true);
    expect(isNavigation(open, { ...open, open: { run: "r", step: 6 } })).toBe(false);
    expect(isNavigation(BASE, { ...BASE, settings: { ...BASE.settings, log: true } })).toBe(false);
  });
});
