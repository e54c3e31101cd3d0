// What a view may ask of the app (the app implements it): the runs and their axes, colours,
// settings, the shared view of each axis, the drill-down and the marked sample. Views hold a
// ViewContext and never the app itself.
import type { HardSample, TagInfo } from "../api/types";
import type { Axis } from "../model/axes";
import type { Range } from "../model/ranges";
import type { RunMeta, SampleMarks, Settings, Theme } from "../model/settings";

export interface ViewContext {
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
  /** marks (or, when they are marked already, unmarks) the steps that trained on a sample of a
   * run (its presentations) on the charts */
  markPresentations(run: string, sample: { fingerprint: string; id: number | null }, steps: readonly number[]): void;
}
