// The state the views share, and the queries of the ViewContext they ask it through: the
// settings, the theme, the runs (run-state.ts), the view of each axis, the drill-down's step;
// and which cards are loading, so that the tab says when it is ready and how long its first
// paint and each zoom took (tests and bench/ui.py read them through window.__tbb).
import type { TagInfo } from "../api/types";
import type { Axis } from "../model/axes";
import { groupsOf } from "../model/groups";
import type { Range } from "../model/ranges";
import type { RunMeta, Settings, Theme } from "../model/settings";
import { RunState } from "./run-state";

export class SharedState {
  theme!: Theme;
  drill: { run: string; step: number } | null = null;
  /** the shared x range of each axis, null: everything */
  protected views: Record<Axis, Range | null> = { train: null, val: null };
  root!: HTMLElement;

  readonly t0 = performance.now();
  firstPaintMs: number | null = null;
  lastZoomMs: number | null = null;
  private zoomT0: number | null = null;
  /** the cards (or other loads) under way */
  protected readonly busy = new Set<object>();
  /** counts the loads of every card: the root's data-ready once they are drawn */
  protected loadGen = 0;

  constructor(public settings: Settings, readonly state: RunState) {}

  plotted(): string[] {
    return this.state.plotted();
  }

  meta(run: string): RunMeta | undefined {
    return this.state.meta(run);
  }

  color(run: string): string {
    return this.state.color(run);
  }

  tagInfo(run: string, tag: string, kind?: string, source?: string): TagInfo | undefined {
    return this.state.tagInfo(run, tag, kind, source);
  }

  stepOffset(run: string): number {
    return this.state.stepOffset(run, this.settings.xAxis);
  }

  wall0(run: string): number | undefined {
    return this.state.walls0.get(run);
  }

  fullRange(runs: readonly string[], tag: string, axis: Axis, source?: string): Range | null {
    return this.state.fullRange(runs, tag, axis, this.settings.xAxis, source);
  }

  /** The union of every plotted series' range on an axis: what the toolbar's zoom acts on. */
  globalRange(axis: Axis): Range | null {
    return this.state.globalRange(axis, this.settings.xAxis);
  }

  groups(runs: readonly string[]): { name: string; runs: string[] }[] | null {
    return groupsOf(runs, this.settings.groupMode, this.settings.groupRegex);
  }

  view(axis: Axis): Range | null {
    return this.views[axis];
  }

  /** Sets an axis' view; false when it was that already. Times the zoom. */
  protected changeView(axis: Axis, r: Range | null): boolean {
    const cur = this.views[axis];
    if (!r && !cur) return false;
    if (r && cur && r.start === cur.start && r.end === cur.end) return false;
    this.views[axis] = r;
    this.zoomT0 = performance.now();
    return true;
  }

  /** A card starts (true) or ends (false) loading; the tab is ready when none is loading. */
  chartBusy(chart: object, busy: boolean): void {
    if (busy) this.busy.add(chart);
    else if (this.busy.delete(chart) && this.busy.size === 0) this.settled();
  }

  /** Some card is loading (background requests wait for it). */
  loading(): boolean {
    return this.busy.size > 0;
  }

  /** Every chart is drawn: record first-paint / zoom timings after the next frame. */
  protected settled(): void {
    requestAnimationFrame(() => {
      if (this.busy.size !== 0) return;
      const now = performance.now();
      if (this.firstPaintMs === null) this.firstPaintMs = now - this.t0;
      if (this.zoomT0 !== null) {
        this.lastZoomMs = now - this.zoomT0;
        this.zoomT0 = null;
      }
      this.root.dataset.ready = String(this.loadGen);
    });
  }
}
