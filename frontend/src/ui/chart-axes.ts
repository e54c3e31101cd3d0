// The axes every chart of the tab draws: theme colours, one font, x labels per x mode (compact
// steps, uPlot's dates, durations since the run's start) and y axes as wide as their longest
// label, so that no label is ever clipped.
import type uPlot from "uplot";
import { compactNum, fmtDuration, fmtNum } from "../model/format";
import type { Theme, XMode } from "../model/settings";

export const AXIS_FONT = "11px system-ui, sans-serif";
let measureCtx: CanvasRenderingContext2D | null = null;

/** Width (CSS px) the longest label of an axis needs, so that no label is clipped. */
export function labelWidth(labels: readonly string[]): number {
  measureCtx ??= document.createElement("canvas").getContext("2d");
  if (!measureCtx) return 60;
  measureCtx.font = AXIS_FONT;
  let w = 0;
  for (const l of labels) w = Math.max(w, measureCtx.measureText(l ?? "").width);
  return Math.ceil(w);
}

export function xAxisValues(mode: XMode) {
  if (mode === "wall") return undefined; // uPlot's own date/time labels
  if (mode === "relwall") return (_u: uPlot, splits: number[]) => splits.map((v) => (v == null ? "" : fmtDuration(v)));
  return (_u: uPlot, splits: number[]) => splits.map((v) => (v == null ? "" : compactNum(v)));
}

export function yAxisValues(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (v == null ? "" : fmtNum(v)));
}

/** The x and y axes of a chart in the theme's colours; `xLabel` names the x axis. */
export function baseAxes(theme: Theme, mode: XMode, xLabel = ""): uPlot.Axis[] {
  const common = {
    stroke: theme.fg,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.grid, width: 1 },
    font: AXIS_FONT,
  };
  return [
    { ...common, values: xAxisValues(mode) as any, space: mode === "wall" ? 90 : 60, label: xLabel || undefined, labelSize: xLabel ? 14 : undefined, labelFont: AXIS_FONT },
    {
      ...common,
      values: yAxisValues as any,
      // as wide as the longest label (plus tick and gap): never clipped
      size: (u: uPlot, values: string[]) => (values ? labelWidth(values) + 14 : 40),
    },
  ];
}
