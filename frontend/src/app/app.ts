// The Batches tab: the state the views share (settings, theme, runs, the view of each axis, the
// drill-down, the marked sample) behind the ViewContext they ask it through, and the pieces it
// wires together: the run list (run-list.ts), the toolbar (toolbar.ts), the cards (card-grid.ts),
// the anomalies, the drill-down, and polling (polling.ts). It follows TensorBoard's reloads and
// theme, and times the first paint and each zoom (tests and bench/ui.py read them).
import type { HardSample, RunsResponse } from "../api/types";
import { Axis, evaluationOf } from "../model/axes";
import { fmtStep } from "../model/format";
import { clampRange, Range, windowAround } from "../model/ranges";
import { SampleMarks, Settings, settingsFrom } from "../model/settings";
import { splitTags } from "../model/tags";
import type { ViewContext } from "../ui/context";
import { debounce, h } from "../ui/dom";
import { load, save } from "../ui/store";
import { hideTip } from "../ui/tooltip";
import { AnomalyPanel } from "../views/anomalies";
import type { ClassHeatCard } from "../views/class-heat";
import type { DataMapCard } from "../views/datamap";
import { Drill } from "../views/drill";
import type { StepChart } from "../views/steps";
import { CardGrid, noCardText } from "./card-grid";
import { RunPolling } from "./polling";
import { RunList } from "./run-list";
import { RunState } from "./run-state";
import { SampleMarker } from "./sample-marks";
import { SharedState } from "./shared-state";
import { followTheme, readTheme } from "./theme";
import { Toolbar } from "./toolbar";
import { UrlSync } from "./url-sync";
import type { UrlState } from "../model/url-state";
import { runsStatus, statusOfData } from "../model/run-status";
import { ViewMemory } from "./view-memory";

export class App extends SharedState implements ViewContext {
  private readonly polling: RunPolling;
  private readonly runList: RunList;
  private readonly toolbar: Toolbar;
  private readonly grid: CardGrid;
  private readonly marker: SampleMarker;
  private readonly statusEl: HTMLDivElement;
  private readonly main: HTMLElement;
  private readonly drillPanel: Drill;
  readonly anomalies: AnomalyPanel;
  /** tags a plotted run has from two writers: one chart per writer */
  private split = new Set<string>();
  private lastAnomalyLoad = 0;
  /** the URL's state (url-sync.ts): applied once the runs are known */
  private readonly url: UrlSync;
  private pendingUrl: UrlState | null;
  /** the first `runs` answer came: a zoom can be checked against the runs' ranges */
  private runsKnown = false;
  private readonly memory: ViewMemory;

  constructor(host: HTMLElement) {
    super(settingsFrom(load<Partial<Settings>>("settings", {})),
      new RunState(load<Record<string, boolean>>("selection", {}), load<Record<string, string>>("colorOverrides", {}), load<string>("filter", "")));
    this.theme = readTheme(followTheme((dark) => this.themeChanged(dark)));
    this.url = new UrlSync(this);
    this.pendingUrl = this.url.initial();
    if (this.pendingUrl) Object.assign(this.settings, this.pendingUrl.settings);
    this.memory = new ViewMemory(this.settings.tab);
    this.drillPanel = new Drill(this, () => this.onDrillChange());
    this.anomalies = new AnomalyPanel({
      plotted: () => this.plotted(), color: (r) => this.color(r), role: (r) => this.meta(r)?.role ?? null, busy: () => this.loading(), jumpTo: (r, t, s) => this.jumpTo(r, t, s),
    });
    this.polling = new RunPolling({
      runsChanged: (res, first, force) => this.runsChanged(res, first, force),
      failed: (message) => this.setStatus(message, true),
      loading: () => this.loading(),
    });
    this.runList = new RunList(this, this.anomalies.root);
    this.toolbar = new Toolbar(this);
    this.grid = new CardGrid(this);
    this.marker = new SampleMarker(this.toolbar.marksChip, (r) => this.color(r), () => {
      this.grid.marksChanged();
      this.drillPanel.marksChanged();
    });
    this.statusEl = h("div", { class: "tbb-status", role: "status", "aria-live": "polite" });
    this.main = h("main", { class: "tbb-main" }, this.toolbar.root, this.statusEl, this.grid.root);
    this.root = h("div", { class: "tbb-app", "data-ready": "" }, this.runList.root, this.main);
    host.append(this.root, this.drillPanel.root);
  }

  start(): void {
    this.polling.start();
  }

  reload(force = false): Promise<void> {
    return this.polling.reload(force);
  }

  // ------------------------------------------------------------------ ViewContext

  setView(axis: Axis, r: Range | null): void {
    const full = this.globalRange(axis);
    if (r && full) {
      r = clampRange(r, full);
      if (r.start <= full.start && r.end >= full.end) r = null;
    }
    if (!this.changeView(axis, r)) return;
    this.updateRange();
    this.loadAll(axis);
    this.url.changed();
  }

  openDrill(run: string, step: number, from?: Element | null): void {
    this.drillPanel.open(run, step, from);
  }

  pin(key: string): void {
    this.grid.togglePin(key);
    this.rebuildViews(false, false);
  }

  isPinned(key: string): boolean {
    return this.grid.isPinned(key);
  }

  get marks(): SampleMarks | null {
    return this.marker.marks;
  }

  markSample(run: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): void {
    this.marker.toggle(run, sample, known);
  }

  markPresentations(run: string, sample: { fingerprint: string; id: number | null }, steps: readonly number[]): void {
    this.marker.togglePresentations(run, sample, steps);
  }

  // ------------------------------------------------------------------ hosts of the toolbar and run list

  settingChanged(recreate: boolean): void {
    if (this.settings.tab !== this.memory.tab) this.showPlace(this.memory.switchTo(this.settings.tab, this.place()));
    save("settings", this.settings);
    this.rebuildViews(recreate);
    this.url.changed();
  }

  xAxisChanged(): void {
    this.views = { train: null, val: null };
    save("settings", this.settings);
    this.updateRange();
    this.rebuildViews(true);
    this.url.changed();
  }

  zoomTrain(f: (cur: Range, full: Range) => Range | null): void {
    const full = this.globalRange("train");
    if (full) this.setView("train", f(this.views.train ?? full, full));
  }

  showAll(): void {
    this.setView("train", null);
    this.setView("val", null);
  }

  selectionChanged = debounce(() => {
    this.rebuildViews(false);
    this.url.changed();
    void this.anomalies.load();
  }, 150);

  colorsChanged(anomalies: boolean): void {
    this.state.recolor(this.theme.dark);
    this.runList.render();
    this.rebuildViews(true);
    if (anomalies) this.anomalies.render();
  }

  private themeChanged(dark: boolean): void {
    this.theme = readTheme(dark);
    this.colorsChanged(true);
  }

  // ------------------------------------------------------------------ runs

  private runsChanged(res: RunsResponse, first: boolean, force: boolean): void {
    const names = this.state.setRuns(res);
    this.runsKnown = true;
    const restore = this.pendingUrl;
    if (restore) this.restoreUrl(restore);
    // TensorBoard's own run order (the colours) is not waited for: the charts draw at once
    // (in name order, usually the same) and take its colours when it comes
    if (first || force || this.state.unordered(names)) void this.loadTensorBoardOrder();
    save("selection", this.state.selection);
    this.state.recolor(this.theme.dark);
    this.setStatus(runsStatus(res));
    this.rebuildViews(false); // first: its requests go out while the run list is drawn
    this.runList.render();
    // spike scores of a growing run are redone at most every 30 s (they hold the server)
    if (force || first || performance.now() - this.lastAnomalyLoad > 30_000) {
      this.lastAnomalyLoad = performance.now();
      void this.anomalies.load();
    }
    if (restore?.open) this.openDrill(restore.open.run, restore.open.step);
    if (first) this.url.changed();
  }

  private async loadTensorBoardOrder(): Promise<void> {
    if (!(await this.state.loadOrder(() => this.theme.dark))) return;
    this.runList.render();
    this.anomalies.render();
    this.grid.recolor();
  }

  private setStatus(text: string, bad = false): void {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("tbb-bad", bad);
  }

  private updateRange(): void {
    const full = this.globalRange("train");
    const v = this.views.train ?? full;
    const x = this.settings.xAxis;
    // a wall-time axis is still zoomed by steps: say both
    const unit = x === "relstep" ? "steps since start" : x === "step" ? "steps" : "wall time of steps";
    // each view says what it shows: its name and step range
    const name = { steps: "Steps", dists: "Distributions", samples: "Samples", datamap: "Data Map" }[this.settings.tab];
    this.toolbar.showRange(v ? `${name}: ${unit} ${fmtStep(v.start)} – ${fmtStep(v.end)}${this.views.train ? "" : " (all)"}` : "");
  }

  // ------------------------------------------------------------------ cards

  /** Creates/removes cards for the current runs and tab, lays them out in sections, then
   * (re)loads all of them (unless `reload` is false: a pin only moves charts). */
  private rebuildViews(recreate: boolean, reload = true): void {
    const tab = this.settings.tab;
    this.toolbar.showTab(tab);
    hideTip();
    const plotted = this.plotted();
    // a tag is split by writer only where a plotted run has it from two
    this.split = splitTags(this.state.runs.filter((r) => plotted.includes(r.run)));
    const count = this.grid.layout(tab, recreate, (kind, axis) => {
      const { keys, error } = this.state.chartKeys(kind, axis, this.settings.tagFilter, this.split);
      this.toolbar.tagError.textContent = error ? " not a valid regex" : "";
      return keys;
    });
    if (!count && tab !== "samples" && tab !== "datamap" && this.state.runs.length) this.setStatus(noCardText(tab, plotted.length));
    if (count && this.statusEl.textContent && !statusOfData(this.statusEl.textContent)) this.setStatus("");
    // a zoom outside every plotted series is dropped (not before the runs are known)
    if (this.runsKnown) for (const axis of ["train", "val"] as Axis[]) if (this.views[axis] && !this.globalRange(axis)) this.views[axis] = null;
    this.updateRange();
    if (reload) this.loadAll();
  }

  /** (Re)loads every card (of an axis); on the relative wall-time axis after the plotted runs'
   * first wall times are known. */
  private loadAll(axis?: Axis): void {
    this.loadGen++;
    const cards = this.grid.cards(axis);
    const todo = this.settings.xAxis === "relwall" ? this.plotted().filter((r) => !this.state.walls0.has(r)) : [];
    if (todo.length) {
      const marker = {};
      this.chartBusy(marker, true);
      void this.state.loadWalls0(todo, this.split).then(() => {
        for (const c of cards) void c.load();
        this.chartBusy(marker, false);
      });
      return;
    }
    for (const c of cards) void c.load();
    if (this.busy.size === 0) this.settled();
  }

  private onDrillChange(): void {
    const p = this.drillPanel;
    this.drill = p.isOpen && p.run !== null && p.step !== null ? { run: p.run, step: p.step } : null;
    this.root.classList.toggle("tbb-with-drill", !!this.drill);
    // room below the last charts, so that any chart can be scrolled above the sheet
    this.main.style.paddingBottom = this.drill ? `${Math.ceil(p.height()) + 16}px` : "";
    this.grid.drillChanged();
    this.url.changed();
  }

  // ------------------------------------------------------------------ the URL (url-sync.ts) and each view's place

  urlState(): UrlState {
    return { settings: this.settings, zoom: this.views.train, vzoom: this.views.val, open: this.drill, off: this.state.runs.map((r) => r.run).filter((r) => !this.state.selection[r]) };
  }

  /** A URL opened: its settings are in place (constructor); its runs, zoom (and open step) now. */
  private restoreUrl(s: UrlState): void {
    this.pendingUrl = null;
    for (const r of this.state.runs) this.state.selection[r.run] = !s.off.includes(r.run);
    save("selection", this.state.selection);
    this.views = { train: s.zoom, val: s.vzoom };
  }

  /** Back/forward: that entry's view, zoom and open step (settings stay as they are set now). */
  navigate(s: UrlState): void {
    // TensorBoard's page may announce its hash before the runs are known: restored with them
    const tab = s.settings.tab;
    if (tab !== this.settings.tab) {
      this.memory.switchTo(tab, this.place());
      this.settings.tab = tab;
    }
    const same = s.settings.xAxis === this.settings.xAxis;
    if (!this.runsKnown) {
      this.pendingUrl = { ...s, zoom: same ? s.zoom : null, vzoom: same ? s.vzoom : null };
      return;
    }
    this.showPlace({ train: same ? s.zoom : null, val: same ? s.vzoom : null, open: s.open });
    this.rebuildViews(true);
  }

  private place() {
    return { train: this.views.train, val: this.views.val, open: this.drill };
  }

  /** Shows a view's zoom and open step (the caller rebuilds the cards). */
  private showPlace(p: { train: Range | null; val: Range | null; open: { run: string; step: number } | null }): void {
    this.views = { train: p.train, val: p.val };
    if (p.open) {
      if (this.drill?.run !== p.open.run || this.drill.step !== p.open.step) this.openDrill(p.open.run, p.open.step);
    } else if (this.drillPanel.isOpen) this.drillPanel.close();
  }

  /** Zooms the charts to a window around a step (of an anomaly), scrolls its chart into view and
   * opens it. */
  jumpTo(run: string, tag: string, step: number): void {
    const m = this.meta(run);
    const axis: Axis = m?.axis ?? "train";
    // a placed validation step: at its evaluation's training step
    const e = m?.placed ? evaluationOf(m.info.evaluations ?? [], step) : null;
    const x = (e ? e.train_step : step) - this.stepOffset(run);
    const full = this.fullRange([run], tag, axis) ?? this.globalRange(axis);
    if (full && (this.settings.xAxis === "step" || this.settings.xAxis === "relstep")) this.setView(axis, windowAround(x, full));
    const chart = this.grid.chart(tag, axis);
    chart?.root.scrollIntoView({ block: "nearest" });
    this.openDrill(run, step, chart?.root ?? null);
  }

  // ------------------------------------------------------------------ tests and bench (window.__tbb)

  debug() {
    const state = this.state;
    return {
      firstPaintMs: this.firstPaintMs, lastZoomMs: this.lastZoomMs, ready: this.root.dataset.ready, pending: this.busy.size,
      view: this.views.train, views: this.views, plotted: this.plotted(), colors: { ...state.colors }, tbOrder: state.tbOrder, dark: this.theme.dark,
      metas: state.metasSummary(), ...this.grid.debug(), drill: this.drill, drillInfo: this.drillPanel.debug(), tab: this.settings.tab,
      marks: this.marks, anomaliesLoaded: this.anomalies.loaded,
      anomalies: this.anomalies.rows().map((a) => ({ run: a.run, tag: a.tag, step: a.step, kind: a.kind, score: a.score })),
    };
  }

  /** The per-class heatmaps (tests). */
  classHeat(): ClassHeatCard | null {
    return this.grid.classHeat();
  }

  /** The data maps (tests). */
  dataMap(): DataMapCard | null {
    return this.grid.dataMap();
  }

  /** The chart of a tag on an axis (tests). */
  chart(tag: string, axis: Axis = "train"): StepChart | undefined {
    return this.grid.chart(tag, axis);
  }
}
