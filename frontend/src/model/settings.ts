// The state the views read, as data: the toolbar's settings (with their defaults and how stored
// ones are checked), the theme's colours, what the tab knows of a run, and the marked sample.
// Pure (test/model/settings.test.ts).
import type { RunInfo } from "../api/types";
import type { Axis } from "./axes";
import { ChartSize, chartSizeOf } from "./chart-size";
import { HeatNorm, heatNormOf } from "./heat-norm";
import type { BandSetting } from "./distributions";
import type { GroupMode } from "./groups";

/** x of the Steps view: step, steps since each run's start, wall time, time since each run's start. */
export type XMode = "step" | "relstep" | "wall" | "relwall";

export const X_MODES: readonly XMode[] = ["step", "relstep", "wall", "relwall"];

export interface Settings {
  xAxis: XMode;
  log: boolean;
  smoothing: number; // 0 = off
  tab: "steps" | "dists" | "samples" | "datamap";
  /** y range from the 5th..95th percentile (TensorBoard's "ignore outliers"), not min..max */
  outliers: boolean;
  byPrefix: boolean;
  tagFilter: string;
  groupMode: GroupMode;
  groupRegex: string;
  /** Distributions view: the quantile band drawn around each run's median */
  band: BandSetting;
  heatmaps: boolean;
  /** Steps view: the charts' height (model/chart-size.ts) */
  chartSize: ChartSize;
  /** Distributions view: how bin counts become colours (model/heat-norm.ts) */
  heatNorm: HeatNorm;
  /** the charts' tooltip lists the runs by value, highest first (else in the chart's run order) */
  tipByValue: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  xAxis: "step", log: false, smoothing: 0, tab: "steps", outliers: true, byPrefix: true, tagFilter: "",
  groupMode: "none", groupRegex: "", band: "p90", heatmaps: true, chartSize: "medium", heatNorm: "log", tipByValue: true,
};

/** The settings of a stored (possibly older or edited) value: defaults for what it lacks, and
 * the default for an x axis, tab or group mode this version does not know. */
export function settingsFrom(stored: Partial<Settings>): Settings {
  const settings = { ...DEFAULT_SETTINGS, ...stored };
  if (!X_MODES.includes(settings.xAxis)) settings.xAxis = "step";
  if (!["dists", "samples", "datamap"].includes(settings.tab)) settings.tab = "steps";
  if (!["none", "prefix", "regex"].includes(settings.groupMode)) settings.groupMode = "none";
  settings.chartSize = chartSizeOf(settings.chartSize);
  settings.heatNorm = heatNormOf(settings.heatNorm);
  return settings;
}

export interface Theme {
  fg: string;
  muted: string;
  grid: string;
  bg: string;
  bad: string;
  dark: boolean;
}

export interface RunMeta {
  info: RunInfo;
  role: "train" | "validation" | null;
  train_run: string | null;
  axis: Axis;
  /** validation with evaluations: drawn on the training axis at each evaluation's train_step */
  placed: boolean;
  /** the run's first step (over its tags): 0 of the relative step axis */
  first: number;
}

/** A sample marked on the charts: every step (of its run) at which it was among the batch's
 * highest losses, or (`what` "presentations", from its dynamics) every step that trained on it. */
export interface SampleMarks {
  run: string;
  key: string;
  fingerprint: string;
  id: number | null;
  steps: number[];
  /** false: the server could only say its first and last step */
  complete: boolean;
  /** how many steps it was in the top-k (when known, else steps.length) */
  count: number;
  /** which steps: among the highest losses (the default), or every presentation */
  what?: "top-k" | "presentations";
}
