// What the tab knows of the runs, as data: each run's tags and meta (role, axis, placement,
// first step), first wall times, colours (TensorBoard's order and the user's overrides), which
// runs are selected and match the run filter; and what the charts derive from it: the plotted
// runs, a run's step offset, the step ranges of tags, the chart keys of an axis. No DOM
// (test/app/run-state.test.ts); two loads ask the server (TensorBoard's run order, first wall
// times).
import { fetchSeries, fetchTensorBoardRuns } from "../api/client";
import type { RunsResponse, RunInfo, TagInfo } from "../api/types";
import { Axis, axisOf, isPlaced, roleOf } from "../model/axes";
import { runColors } from "../model/colors";
import { Range, unionRange } from "../model/ranges";
import { makeRunFilter, mergeSelection } from "../model/runs";
import type { RunMeta, XMode } from "../model/settings";
import { seriesKey } from "../model/tags";

export class RunState {
  runs: RunInfo[] = [];
  private metas = new Map<string, RunMeta>();
  private tagsByRun = new Map<string, TagInfo[]>();
  /** each run's first wall time (the relative wall-time axis), once asked */
  readonly walls0 = new Map<string, number>();
  colors: Record<string, string> = {};
  /** TensorBoard's own run order (its colours follow it), null until known */
  tbOrder: string[] | null = null;

  constructor(
    /** checked runs, by name (kept across reloads and pages) */
    public selection: Record<string, boolean>,
    /** the user's colour of a run */
    public overrides: Record<string, string>,
    /** the run filter (a regex, or text) */
    public filter: string,
  ) {}

  /** Takes the server's runs: their tags and metas; new runs are selected by default while few
   * are. Returns the run names. */
  setRuns(res: RunsResponse): string[] {
    this.runs = res.runs;
    const names = res.runs.map((r) => r.run);
    this.tagsByRun = new Map(res.runs.map((r) => [r.run, r.tags]));
    this.metas = new Map(res.runs.map((r) => {
      const { role, train_run } = roleOf(r, names);
      const first = Math.min(...r.tags.map((t) => t.first_step));
      return [r.run, { info: r, role, train_run, axis: axisOf(r, role), placed: isPlaced(r, role), first: Number.isFinite(first) ? first : 0 }];
    }));
    this.selection = { ...this.selection, ...mergeSelection(names, this.selection) };
    return names;
  }

  /** Every run's colour: the user's, else TensorBoard's palette in TensorBoard's order. */
  recolor(dark: boolean): void {
    this.colors = runColors(this.runs.map((r) => r.run), this.tbOrder, this.overrides, dark);
  }

  /** Runs shown: checked and matching the filter, in list order. */
  plotted(): string[] {
    const f = makeRunFilter(this.filter);
    return this.runs.map((r) => r.run).filter((r) => this.selection[r] && f.test(r));
  }

  meta(run: string): RunMeta | undefined {
    return this.metas.get(run);
  }

  color(run: string): string {
    return this.colors[run] ?? "#888888";
  }

  tags(run: string): TagInfo[] {
    return this.tagsByRun.get(run) ?? [];
  }

  /** The series of a run's tag (of a kind, and of `source` where a run has the tag from two
   * writers; the tab's own first). */
  tagInfo(run: string, tag: string, kind?: string, source?: string): TagInfo | undefined {
    const ts = this.tagsByRun.get(run);
    if (!ts) return undefined;
    const m = ts.filter((t) => t.tag === tag && (!kind || t.kind === kind) && (!source || (t.source ?? "tb_batch") === source));
    return m.find((t) => (t.source ?? "tb_batch") === "tb_batch") ?? m[0];
  }

  /** A run's step offset on the relative step axis (a placed validation run: its training
   * run's); 0 on the other axes. */
  stepOffset(run: string, mode: XMode): number {
    if (mode !== "relstep") return 0;
    const m = this.metas.get(run);
    if (!m) return 0;
    const t = m.placed && m.train_run ? this.metas.get(m.train_run) : undefined;
    return (t ?? m).first;
  }

  /** The union of the runs' ranges of a tag on an axis, in x units (a placed validation run: its
   * evaluations' training steps). */
  fullRange(runs: readonly string[], tag: string, axis: Axis, mode: XMode, source?: string): Range | null {
    const rs: Range[] = [];
    for (const r of runs) {
      const m = this.metas.get(r);
      if (!m || (m.axis === "val") !== (axis === "val")) continue;
      const off = this.stepOffset(r, mode);
      if (m.placed && axis === "train") {
        const ev = m.info.evaluations ?? [];
        if (ev.length) rs.push({ start: Math.min(...ev.map((e) => e.train_step)) - off, end: Math.max(...ev.map((e) => e.train_step)) - off });
        continue;
      }
      const t = this.tagInfo(r, tag, undefined, source);
      if (t && t.count > 0) rs.push({ start: t.first_step - off, end: t.last_step - off });
    }
    return unionRange(rs);
  }

  /** The union of every plotted series' range on an axis: what the toolbar's zoom acts on. */
  globalRange(axis: Axis, mode: XMode): Range | null {
    const rs: Range[] = [];
    for (const r of this.plotted()) {
      for (const t of new Set(this.tags(r).map((x) => x.tag))) {
        const f = this.fullRange([r], t, axis, mode);
        if (f) rs.push(f);
      }
    }
    return unionRange(rs);
  }

  /** Chart keys of the plotted runs' scalar (or distribution) series on an axis whose tag
   * matches the tag filter (a scalar tag of `split`: one chart per writer); the filter's error
   * when it is not a valid regex. */
  chartKeys(kind: "scalar" | "distribution", axis: Axis, tagFilter: string, split: ReadonlySet<string>): { keys: string[]; error: string | null } {
    const f = makeRunFilter(tagFilter);
    const out = new Set<string>();
    for (const r of this.plotted()) {
      const m = this.metas.get(r);
      if (!m || (m.axis === "val") !== (axis === "val")) continue;
      for (const t of this.tags(r)) {
        if (t.kind !== kind || !f.test(t.tag)) continue;
        out.add(kind === "scalar" ? seriesKey(t.tag, t.source ?? "tb_batch", split.has(t.tag)) : t.tag);
      }
    }
    return { keys: [...out], error: f.error };
  }

  /** Runs TensorBoard does not list yet (its order is asked again). */
  unordered(names: readonly string[]): boolean {
    return names.some((n) => !this.tbOrder?.includes(n));
  }

  /** Asks TensorBoard's run order; true when the colours changed with it. */
  async loadOrder(dark: () => boolean): Promise<boolean> {
    const order = await fetchTensorBoardRuns();
    if (!order || JSON.stringify(order) === JSON.stringify(this.tbOrder)) return false;
    this.tbOrder = order;
    const before = JSON.stringify(this.colors);
    this.recolor(dark());
    return JSON.stringify(this.colors) !== before;
  }

  /** First wall time of runs (the relative wall-time axis), one 1-point request each: their
   * scalar series with the first step (of its writer, for a tag of `split`). */
  async loadWalls0(runs: readonly string[], split: ReadonlySet<string>): Promise<void> {
    await Promise.all(runs.map(async (r) => {
      const ts = this.tags(r).filter((t) => t.kind === "scalar" && t.count > 0);
      const t = ts.reduce((a, b) => (b.first_step < a.first_step ? b : a), ts[0]);
      if (!t) return;
      try {
        const s = await fetchSeries(r, t.tag, 1, t.first_step, t.first_step, undefined, split.has(t.tag) ? t.source : undefined);
        if (s.walls.length) this.walls0.set(r, s.walls[0]);
      } catch { /* no offset: 0 */ }
    }));
  }

  /** What tests read of each run's meta. */
  metasSummary(): Record<string, Pick<RunMeta, "role" | "axis" | "placed" | "train_run">> {
    return Object.fromEntries([...this.metas].map(([r, m]) => [r, { role: m.role, axis: m.axis, placed: m.placed, train_run: m.train_run }]));
  }
}
