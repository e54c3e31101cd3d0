// Heatmaps on a step axis (histograms over steps, per-class losses): columns of cells painted
// under a plot, each column as wide as its steps (at least a pixel), each cell at least a pixel
// tall.
import uPlot from "uplot";
import { clipToPlot } from "./chart-kit";

/** A cell: its fill, and its top and bottom in y units. */
export interface HeatCell {
  fill: string;
  top: number;
  bottom: number;
}

export function paintHeatmap(u: uPlot, o: {
  columns: number;
  /** the x span of column j, end excluded */
  x: (j: number) => [number, number];
  rows: (j: number) => number;
  /** cell i of column j, null when not drawn */
  cell: (j: number, i: number) => HeatCell | null;
  /** canvas y of a y value (default: uPlot's) */
  yPos?: (v: number) => number;
}): void {
  const c = clipToPlot(u);
  const minW = Math.max(1, uPlot.pxRatio);
  const yPos = o.yPos ?? ((v: number) => u.valToPos(v, "y", true));
  for (let j = 0; j < o.columns; j++) {
    const [a, b] = o.x(j);
    const x0 = u.valToPos(a, "x", true);
    const w = Math.max(minW, u.valToPos(b, "x", true) - x0);
    for (let i = 0, n = o.rows(j); i < n; i++) {
      const cell = o.cell(j, i);
      if (!cell) continue;
      const y0 = yPos(cell.top), y1 = yPos(cell.bottom);
      c.fillStyle = cell.fill;
      c.fillRect(x0, y0, w, Math.max(minW, y1 - y0));
    }
  }
  c.restore();
}
