// What the mouse wheel does over a chart, as in TensorBoard: the plain wheel scrolls the page
// (scrolling back over the charts never re-zooms them); Ctrl or ⌘ + wheel zooms around the
// pointer (a horizontal wheel pans); Shift + wheel pans. Pure (test/model/wheel.test.ts).

export type WheelAction = "zoom" | "pan" | null;

/** The chart's action for a wheel event; null: the page scrolls. */
export function wheelAction(e: { ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }): WheelAction {
  if (e.ctrlKey || e.metaKey) return "zoom";
  return e.shiftKey ? "pan" : null;
}

/** The zoom modifier's name on this platform (the help says it). */
export function zoomModifier(platform: string): string {
  return /Mac|iPhone|iPad/i.test(platform) ? "⌘" : "Ctrl";
}
