// The uPlot setup and pointer handling the charts of the tab share: one crosshair per x axis,
// drag to select a range (never uPlot's own zoom: the app's shared view zooms every chart; a
// modifier-drag selects y), a click that is not the end of a drag, reloads when a plot's width
// changes, waiting for a draw, the plot area as a clip, and the drill-down's step as a dashed
// line.
import uPlot from "uplot";
import type { Axis } from "../model/axes";
import { Range, stepsXRange } from "../model/ranges";
import { debounce } from "./dom";

/** The sync key of a chart's cursor: charts of one x axis show one crosshair. */
export const syncKey = (axis: Axis) => `tbb-${axis}`;

export function cursorSync(axis: Axis): uPlot.Cursor.Sync {
  return {
    key: syncKey(axis),
    setSeries: false,
    // only the crosshair: a drag or click stays with its own chart
    filters: { pub: (type: string) => type === "mousemove" || type === "mouseleave" || type === "mouseenter" },
  } as uPlot.Cursor.Sync;
}

/** The cursor of a chart of an axis: a drag selects an x range (the chart acts on it), no
 * points, no y line, no uPlot double-click; the crosshair is synced with the axis' charts. */
export function selectingCursor(axis: Axis): uPlot.Cursor {
  return {
    drag: { x: true, y: false, setScale: false, click: () => {} },
    points: { show: false },
    y: false,
    bind: { dblclick: () => null } as any,
    sync: cursorSync(axis),
  };
}

/** An x scale of steps: the view's (`range()`), else the data's. */
export function stepsScale(range: () => Range | null): uPlot.Scale {
  return { time: false, range: (_u: uPlot, mn: number, mx: number) => stepsXRange(range(), mn, mx) };
}

/** Width of a plotting area in CSS pixels (the `width` asked of the server): the plot's, or
 * before it is built its element's less `margin` for the axes. */
export function plotWidth(u: uPlot | null | undefined, el: HTMLElement, margin: number): number {
  if (u) return Math.max(16, Math.round(u.bbox.width / uPlot.pxRatio));
  return Math.max(16, (el.clientWidth || 400) - margin);
}

/** The span a drag selected along x (or y), in data units, low first; the selection is
 * cleared. null for a drag under 4 px. */
export function takeSelection(u: uPlot, dim: "x" | "y"): [number, number] | null {
  const sel = u.select;
  if ((dim === "x" ? sel.width : sel.height) < 4) return null;
  const ends = dim === "x"
    ? [u.posToVal(sel.left, "x"), u.posToVal(sel.left + sel.width, "x")]
    : [u.posToVal(sel.top + sel.height, "y"), u.posToVal(sel.top, "y")];
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  return dim === "x" ? [Math.min(ends[0], ends[1]), Math.max(ends[0], ends[1])] : [ends[0], ends[1]];
}

/** The whole steps a selected span covers. */
export function spanRange([a, b]: [number, number]): Range {
  return { start: Math.floor(a), end: Math.ceil(b) };
}

/** Calls `onClick` for a click on a plot that does not end a drag (moved ≤ 4 px since the button
 * went down). */
export function onPlainClick(over: HTMLElement, onClick: (e: MouseEvent) => void): void {
  let down: { x: number; y: number } | null = null;
  over.addEventListener("mousedown", (e) => (down = { x: e.clientX, y: e.clientY }));
  over.addEventListener("click", (e) => {
    if (down && Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4) return;
    onClick(e);
  });
}

/** Calls `load` 250 ms after an element's width changed by more than 4 px from `loadedWidth()`. */
export function reloadOnResize(el: HTMLElement, loadedWidth: () => number, load: () => void): ResizeObserver {
  const ro = new ResizeObserver(debounce(() => {
    const w = el.clientWidth;
    if (w && Math.abs(w - loadedWidth()) > 4) load();
  }, 250));
  ro.observe(el);
  return ro;
}

/** Promises resolved by a plot's next draw (its `draw` hook calls `release`), or after 2 s should
 * it never draw. */
export class DrawWaiters {
  private waiting: (() => void)[] = [];

  next(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.waiting.push(() => { clearTimeout(t); resolve(); });
    });
  }

  release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }
}

/** Which axis a drag on a plot selects: x, or y while Alt, Ctrl or ⌘ is held as it starts. */
export class DragAxis {
  /** the drag under way selects a y range */
  selectsY = false;

  /** Listens (capturing) to mousedowns on the element holding the plot `plot()`. */
  constructor(el: HTMLElement, plot: () => uPlot | null) {
    el.addEventListener("mousedown", (e) => {
      this.selectsY = e.altKey || e.ctrlKey || e.metaKey;
      const u = plot();
      if (u) {
        u.cursor.drag!.x = !this.selectsY;
        u.cursor.drag!.y = this.selectsY;
      }
    }, true);
  }

  /** The y drag is over: drags select x again. */
  reset(u: uPlot): void {
    this.selectsY = false;
    u.cursor.drag!.x = true;
    u.cursor.drag!.y = false;
  }
}

/** The client position (CSS px in the frame's page) of a data point of a plot (tests). */
export function pointToClient(u: uPlot, x: number, y: number): { x: number; y: number } {
  const r = u.over.getBoundingClientRect();
  return { x: r.left + u.valToPos(x, "x"), y: r.top + u.valToPos(y, "y") };
}

/** Saves the canvas state of a chart and clips drawing to its plot area (restore it after). */
export function clipToPlot(u: uPlot): CanvasRenderingContext2D {
  const { left, top, width, height } = u.bbox;
  const c = u.ctx;
  c.save();
  c.beginPath();
  c.rect(left, top, width, height);
  c.clip();
  return c;
}

/** The drill-down's step on a chart: a dashed vertical line at canvas x (device pixels), when
 * inside the plot. */
export function drawDrillLine(u: uPlot, x: number, color: string): void {
  const { left, top, width, height } = u.bbox;
  if (!(x >= left && x <= left + width)) return;
  const c = u.ctx, px = uPlot.pxRatio;
  c.save();
  c.strokeStyle = color;
  c.lineWidth = px;
  c.setLineDash([4 * px, 3 * px]);
  c.beginPath();
  c.moveTo(Math.round(x) + 0.5, top);
  c.lineTo(Math.round(x) + 0.5, top + height);
  c.stroke();
  c.restore();
}
