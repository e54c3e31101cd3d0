// What the views need from the app: runs and their axes, colours, settings, the shared view.
import type { HardSample, RunInfo, TagInfo } from "./api";
import type { Axis } from "./axes";
import type { GroupMode } from "./groups";
import type { Range } from "./logic";

/** x of the Steps view: step, steps since each run's start, wall time, time since each run's start. */
export type XMode = "step" | "relstep" | "wall" | "relwall";

export interface Settings {
  xAxis: XMode;
  log: boolean;
  smoothing: number; // 0 = off
  tab: "steps" | "dists" | "samples";
  /** y range from the 5th..95th percentile (TensorBoard's "ignore outliers"), not min..max */
  outliers: boolean;
  byPrefix: boolean;
  tagFilter: string;
  groupMode: GroupMode;
  groupRegex: string;
  /** Distributions view: the quantile band drawn around each run's median */
  band: "iqr" | "p90" | "p98" | "minmax" | "none";
  heatmaps: boolean;
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
 * highest losses. */
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
}

export interface Ctx {
  /** runs shown (checked and matching the filter), in list order */
  plotted(): string[];
  meta(run: string): RunMeta | undefined;
  color(run: string): string;
  /** the series of a run's tag (of `source`, where a run has the tag from two writers) */
  tagInfo(run: string, tag: string, kind?: string, source?: string): TagInfo | undefined;
  settings: Settings;
  theme: Theme;
  /** the shared x range of an axis in its x units (steps, or relative steps), null = everything */
  view(axis: Axis): Range | null;
  setView(axis: Axis, r: Range | null): void;
  /** the union of a chart's runs' ranges in x units */
  fullRange(runs: readonly string[], tag: string, axis: Axis, source?: string): Range | null;
  /** step offset of a run on the relative step axis (0 otherwise) */
  stepOffset(run: string): number;
  /** first wall time of a run (relative wall-time axis), when known */
  wall0(run: string): number | undefined;
  /** groups of the plotted runs of an axis (null: runs are shown one by one) */
  groups(runs: readonly string[]): { name: string; runs: string[] }[] | null;
  openDrill(run: string, step: number, from?: Element | null): void;
  drill: { run: string; step: number } | null;
  /** A chart starts (true) or ends (false) loading; the app is ready when none is loading. */
  chartBusy(chart: object, busy: boolean): void;
  /** some chart is loading (background requests wait for it) */
  loading(): boolean;
  /** a chart asks to be re-laid out (pinned, full screen, constant series collapsed) */
  pin(key: string): void;
  isPinned(key: string): boolean;
  /** the sample marked on the charts, null when none */
  marks: SampleMarks | null;
  /** marks (or, when it is marked already, unmarks) every step of a sample of a run on the charts;
   * `known` is what `hardest` said of it (its first and last step, should the server not list
   * its steps) */
  markSample(run: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): void;
}
