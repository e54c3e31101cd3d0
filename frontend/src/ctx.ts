// What the views need from the app: selection, colors, settings, the shared view range.
import type { TagInfo } from "./api";
import type { Range } from "./logic";

export interface Settings {
  xAxis: "step" | "wall";
  log: boolean;
  smoothing: number; // 0 = off
  tab: "steps" | "dists";
}

export interface Theme {
  fg: string;
  muted: string;
  grid: string;
  bg: string;
  bad: string;
  dark: boolean;
}

export interface Ctx {
  /** runs shown (checked and matching the filter), in list order */
  plotted(): string[];
  color(run: string): string;
  tagInfo(run: string, tag: string): TagInfo | undefined;
  settings: Settings;
  theme: Theme;
  /** the shared step range, null = everything */
  view: Range | null;
  /** union of [first_step, last_step] of a tag over the plotted runs */
  fullRange(tag: string): Range | null;
  setView(r: Range | null): void;
  openDrill(run: string, step: number): void;
  drill: { run: string; step: number } | null;
  /** A chart starts (true) or ends (false) loading; the app is ready when none is loading. */
  chartBusy(chart: object, busy: boolean): void;
}
