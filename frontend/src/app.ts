// The Batches tab: run selector, toolbar, Steps / Distributions views, anomalies, drill-down.
import { Anomaly, fetchAnomalies, fetchRuns, RunInfo, TagInfo } from "./api";
import type { Ctx, Settings, Theme } from "./ctx";
import { DistCard } from "./dists";
import { clear, cssVar, debounce, h, isDark } from "./dom";
import { Drill } from "./drill";
import { connectToHost, IPC, MSG_DATA_RELOADED, MSG_RUNS_CHANGED } from "./ipc";
import {
  assignColors, clampRange, fmtNum, fmtStep, makeRunFilter, mergeSelection, panRange, Range, unionRange,
  windowAround, zoomRange,
} from "./logic";
import { StepChart } from "./steps";
import { load, save } from "./store";

const DEFAULT_SETTINGS: Settings = { xAxis: "step", log: false, smoothing: 0, tab: "steps" };

function readTheme(): Theme {
  return {
    fg: cssVar("--tbb-fg") || "#222",
    muted: cssVar("--tbb-muted") || "#666",
    grid: cssVar("--tbb-grid") || "rgba(0,0,0,0.08)",
    bg: cssVar("--tbb-bg") || "#fff",
    bad: cssVar("--tbb-bad") || "#d00",
    dark: isDark(),
  };
}

export class App implements Ctx {
  settings: Settings;
  theme: Theme;
  view: Range | null = null;
  drill: { run: string; step: number } | null = null;

  runs: RunInfo[] = [];
  private byRun = new Map<string, Map<string, TagInfo>>();
  private selection: Record<string, boolean>;
  private colorSlots: Record<string, number>;
  private colors: Record<string, string> = {};
  private filter: string;
  private stepCharts = new Map<string, StepChart>();
  private distCards = new Map<string, DistCard>();
  private anomalies = new Map<string, Anomaly[] | string>();
  private anomGen = 0;
  private anomDone = 0;
  private ipc: IPC | null = null;
  private runsSig = "";

  // DOM
  readonly root: HTMLElement;
  private runList!: HTMLUListElement;
  private filterInput!: HTMLInputElement;
  private filterErr!: HTMLDivElement;
  private statusEl!: HTMLDivElement;
  private grid!: HTMLDivElement;
  private anomEl!: HTMLDivElement;
  private rangeEl!: HTMLSpanElement;
  private tabButtons!: Record<Settings["tab"], HTMLButtonElement>;
  private drillPanel: Drill;
  private stepsOnly: (HTMLInputElement | HTMLSelectElement)[] = [];

  // timing (tests and bench/ui.py read window.__tbb)
  readonly t0 = performance.now();
  firstPaintMs: number | null = null;
  lastZoomMs: number | null = null;
  private zoomT0: number | null = null;
  private readonly busy = new Set<object>();
  private loadGen = 0;

  constructor(host: HTMLElement) {
    this.settings = { ...DEFAULT_SETTINGS, ...load<Partial<Settings>>("settings", {}) };
    if (this.settings.xAxis !== "wall") this.settings.xAxis = "step";
    if (this.settings.tab !== "dists") this.settings.tab = "steps";
    this.selection = load<Record<string, boolean>>("selection", {});
    this.colorSlots = load<Record<string, number>>("colors", {});
    this.filter = load<string>("filter", "");
    this.theme = readTheme();
    this.drillPanel = new Drill(this, () => this.onDrillChange());
    this.root = this.layout();
    host.append(this.root, this.drillPanel.root);
    matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", () => {
      this.theme = readTheme();
      this.rebuildViews(true);
    });
  }

  start(): void {
    this.ipc = connectToHost();
    // The server re-reads the log directory at most about once a second: ask again a little
    // later, so that data written just before TensorBoard's reload is not missed.
    const again = debounce(() => void this.reload(), 1500);
    const reload = debounce(() => { void this.reload(); again(); }, 300);
    this.ipc?.listen(MSG_DATA_RELOADED, () => { reload(); return null; });
    this.ipc?.listen(MSG_RUNS_CHANGED, () => { reload(); return null; });
    void this.reload();
  }

  // ------------------------------------------------------------------ Ctx

  plotted(): string[] {
    const f = makeRunFilter(this.filter);
    return this.runs.map((r) => r.run).filter((r) => this.selection[r] && f.test(r));
  }

  color(run: string): string {
    return this.colors[run] ?? "#888";
  }

  tagInfo(run: string, tag: string): TagInfo | undefined {
    return this.byRun.get(run)?.get(tag);
  }

  fullRange(tag: string): Range | null {
    const rs: Range[] = [];
    for (const r of this.plotted()) {
      const t = this.tagInfo(r, tag);
      if (t && t.count > 0) rs.push({ start: t.first_step, end: t.last_step });
    }
    return unionRange(rs);
  }

  /** The union of every plotted tag's range: what the toolbar's zoom buttons act on. */
  globalRange(): Range | null {
    const rs: Range[] = [];
    for (const r of this.plotted()) for (const t of this.byRun.get(r)?.values() ?? []) {
      if (t.count > 0) rs.push({ start: t.first_step, end: t.last_step });
    }
    return unionRange(rs);
  }

  setView(r: Range | null): void {
    const full = this.globalRange();
    if (r && full) {
      r = clampRange(r, full);
      if (r.start <= full.start && r.end >= full.end) r = null;
    }
    if (!r && !this.view) return;
    if (r && this.view && r.start === this.view.start && r.end === this.view.end) return;
    this.view = r;
    this.zoomT0 = performance.now();
    this.updateRange();
    this.loadAll();
  }

  openDrill(run: string, step: number): void {
    this.drillPanel.open(run, step);
  }

  chartBusy(chart: object, busy: boolean): void {
    if (busy) this.busy.add(chart);
    else if (this.busy.delete(chart) && this.busy.size === 0) this.settled();
  }

  /** Every chart is drawn: record first-paint / zoom timings after the next frame. */
  private settled(): void {
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

  // ------------------------------------------------------------------ layout

  private layout(): HTMLElement {
    const reloadBtn = h("button", { type: "button", class: "tbb-btn", text: "⟳ Reload", title: "Reload runs and data" });
    const again = debounce(() => void this.reload(), 1500);
    reloadBtn.addEventListener("click", () => { void this.reload(true); again(); });
    this.filterInput = h("input", {
      type: "search", class: "tbb-input", placeholder: "Filter runs (regex)", "aria-label": "Filter runs by regular expression",
      spellcheck: "false", autocomplete: "off",
    });
    this.filterInput.value = this.filter;
    this.filterInput.addEventListener("input", debounce(() => {
      this.filter = this.filterInput.value;
      save("filter", this.filter);
      this.renderRunList();
      this.selectionChanged();
    }, 200));
    this.filterErr = h("div", { class: "tbb-bad tbb-small", role: "status" });
    const allBtn = h("button", { type: "button", class: "tbb-btn tbb-small", text: "All" });
    const noneBtn = h("button", { type: "button", class: "tbb-btn tbb-small", text: "None" });
    allBtn.addEventListener("click", () => this.setAll(true));
    noneBtn.addEventListener("click", () => this.setAll(false));
    this.runList = h("ul", { class: "tbb-runs", "aria-label": "Runs" });
    this.anomEl = h("div", { class: "tbb-anoms" });
    this.statusEl = h("div", { class: "tbb-status", role: "status", "aria-live": "polite" });

    const side = h(
      "nav",
      { class: "tbb-side", "aria-label": "Runs and anomalies" },
      h("div", { class: "tbb-side-head" }, h("h2", { text: "Runs" }), reloadBtn),
      this.filterInput,
      this.filterErr,
      h("div", { class: "tbb-row" }, allBtn, noneBtn),
      this.runList,
      h("h2", { text: "Anomalies" }),
      h("p", { class: "tbb-muted tbb-small", text: "NaN/Inf steps and spikes (robust score ≥ threshold). Click one to jump to it." }),
      this.anomEl,
    );

    // toolbar
    const tab = (k: Settings["tab"], label: string) => {
      const b = h("button", { type: "button", class: "tbb-tab", text: label, "data-tab": k });
      b.addEventListener("click", () => {
        this.settings.tab = k;
        this.saveSettings();
        this.rebuildViews(true);
      });
      return b;
    };
    this.tabButtons = { steps: tab("steps", "Steps"), dists: tab("dists", "Distributions") };
    const xSel = h("select", { class: "tbb-input", "aria-label": "x axis" },
      h("option", { value: "step", text: "x: step" }), h("option", { value: "wall", text: "x: wall time" }));
    xSel.value = this.settings.xAxis;
    xSel.addEventListener("change", () => {
      this.settings.xAxis = xSel.value === "wall" ? "wall" : "step";
      this.saveSettings();
      this.rebuildViews(true);
    });
    const logBox = h("input", { type: "checkbox", id: "tbb-log" });
    logBox.checked = this.settings.log;
    logBox.addEventListener("change", () => {
      this.settings.log = logBox.checked;
      this.saveSettings();
      this.rebuildViews(true);
    });
    const smoothIn = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, id: "tbb-smooth", "aria-label": "Smoothing weight (0 = off)" });
    smoothIn.value = String(this.settings.smoothing);
    const smoothVal = h("span", { class: "tbb-num tbb-small", text: this.settings.smoothing.toFixed(2) });
    smoothIn.addEventListener("input", () => (smoothVal.textContent = Number(smoothIn.value).toFixed(2)));
    smoothIn.addEventListener("change", () => {
      this.settings.smoothing = Number(smoothIn.value) || 0;
      this.saveSettings();
      this.rebuildViews(true);
    });
    const zb = (label: string, title: string, fn: () => void) => {
      const b = h("button", { type: "button", class: "tbb-btn", text: label, title, "aria-label": title });
      b.addEventListener("click", fn);
      return b;
    };
    const act = (f: (cur: Range, full: Range) => Range | null) => () => {
      const full = this.globalRange();
      if (full) this.setView(f(this.view ?? full, full));
    };
    this.stepsOnly = [xSel, logBox, smoothIn];
    this.rangeEl = h("span", { class: "tbb-muted tbb-small tbb-range", "aria-live": "polite" });
    const toolbar = h(
      "div",
      { class: "tbb-toolbar", role: "toolbar", "aria-label": "View" },
      h("div", { class: "tbb-tabs", role: "group", "aria-label": "View" }, this.tabButtons.steps, this.tabButtons.dists),
      xSel,
      h("label", { class: "tbb-check", for: "tbb-log" }, logBox, " log y"),
      h("label", { class: "tbb-check", for: "tbb-smooth" }, "smoothing ", smoothIn, smoothVal),
      h("div", { class: "tbb-row", role: "group", "aria-label": "Zoom" },
        zb("−", "Zoom out", act((c, f) => zoomRange(c, f, 2))),
        zb("+", "Zoom in", act((c, f) => zoomRange(c, f, 0.5))),
        zb("◀", "Pan left", act((c, f) => panRange(c, f, -0.25))),
        zb("▶", "Pan right", act((c, f) => panRange(c, f, 0.25))),
        zb("Reset", "Show all steps", () => this.setView(null)),
      ),
      this.rangeEl,
    );
    this.grid = h("div", { class: "tbb-grid" });
    const main = h("main", { class: "tbb-main" }, toolbar, this.statusEl, this.grid,
      h("p", { class: "tbb-help tbb-muted tbb-small", text:
        "Drag across a chart to zoom, wheel to zoom, shift+wheel to pan, double-click to show all. Click a point to open that step; ←/→ step through it. The shaded band is each pixel column's min…max: no point is hidden." }));
    return h("div", { class: "tbb-app", "data-ready": "" }, side, main);
  }

  private saveSettings(): void {
    save("settings", this.settings);
  }

  private setStatus(text: string, bad = false): void {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("tbb-bad", bad);
  }

  private updateRange(): void {
    const full = this.globalRange();
    const v = this.view ?? full;
    this.rangeEl.textContent = v ? `steps ${fmtStep(v.start)} – ${fmtStep(v.end)}${this.view ? "" : " (all)"}` : "";
  }

  // ------------------------------------------------------------------ runs

  /** Re-reads the runs; charts are re-queried when anything changed (or when `force`). */
  async reload(force = false): Promise<void> {
    try {
      const res = await fetchRuns();
      const sig = JSON.stringify(res);
      if (!force && sig === this.runsSig) return;
      this.runsSig = sig;
      this.runs = res.runs;
      this.byRun = new Map(res.runs.map((r) => [r.run, new Map(r.tags.map((t) => [t.tag, t]))]));
      const names = res.runs.map((r) => r.run);
      this.selection = { ...this.selection, ...mergeSelection(names, this.selection) };
      save("selection", this.selection);
      const c = assignColors(names, this.colorSlots);
      this.colorSlots = { ...this.colorSlots, ...c.slots };
      save("colors", this.colorSlots);
      this.colors = c.colors;
      const corrupt = res.corrupt_records ? ` · ${res.corrupt_records} corrupt records skipped` : "";
      this.setStatus(names.length ? corrupt.slice(3) : "No tb_batch data in this log directory yet. Write some with tb_batch_plugin.summary or BatchStats.");
      this.renderRunList();
      this.rebuildViews(false);
      void this.loadAnomalies();
    } catch (e) {
      this.setStatus(`Could not load runs: ${(e as Error).message}`, true);
    }
  }

  private setAll(on: boolean): void {
    const f = makeRunFilter(this.filter);
    for (const r of this.runs) if (f.test(r.run)) this.selection[r.run] = on;
    save("selection", this.selection);
    this.renderRunList();
    this.selectionChanged();
  }

  private renderRunList(): void {
    const f = makeRunFilter(this.filter);
    this.filterErr.textContent = f.error ? `Not a valid regex (${f.error}); matching as text.` : "";
    clear(this.runList);
    let shown = 0;
    for (const r of this.runs) {
      if (!f.test(r.run)) continue;
      shown++;
      const id = `tbb-run-${shown}`;
      const box = h("input", { type: "checkbox", id });
      box.checked = !!this.selection[r.run];
      box.addEventListener("change", () => {
        this.selection[r.run] = box.checked;
        save("selection", this.selection);
        this.selectionChanged();
      });
      const sampled = r.source === "sampled";
      const label = h("label", { for: id, class: "tbb-run-label", title: r.run },
        h("span", { class: "tbb-swatch", style: `background:${this.color(r.run)}` }),
        h("span", { class: "tbb-run-name", text: r.run }),
        sampled ? h("span", { class: "tbb-badge", "data-kind": "sampled", text: "sampled" }) : null,
      );
      this.runList.append(h("li", { "data-run": r.run }, box, label));
    }
    if (!shown) this.runList.append(h("li", { class: "tbb-muted", text: this.runs.length ? "No run matches the filter." : "No runs." }));
  }

  private selectionChanged = debounce(() => {
    this.rebuildViews(false);
    void this.loadAnomalies();
  }, 150);

  // ------------------------------------------------------------------ views

  /** Creates/removes charts for the current runs and tab, then (re)loads all of them. */
  private rebuildViews(recreate: boolean): void {
    for (const [k, b] of Object.entries(this.tabButtons)) b.setAttribute("aria-pressed", String(k === this.settings.tab));
    // x axis, log scale and smoothing apply to the Steps view only
    for (const el of this.stepsOnly) el.disabled = this.settings.tab !== "steps";
    const plotted = this.plotted();
    if (recreate) {
      for (const c of this.stepCharts.values()) c.destroy();
      for (const c of this.distCards.values()) c.destroy();
      this.stepCharts.clear();
      this.distCards.clear();
    }
    const kindTags = (kind: string) => {
      const s = new Set<string>();
      for (const r of plotted) for (const t of this.byRun.get(r)?.values() ?? []) if (t.kind === kind) s.add(t.tag);
      return [...s].sort();
    };
    if (this.settings.tab === "steps") {
      for (const c of this.distCards.values()) c.destroy();
      this.distCards.clear();
      const tags = kindTags("scalar");
      for (const [t, c] of this.stepCharts) if (!tags.includes(t)) { c.destroy(); this.stepCharts.delete(t); }
      for (const t of tags) if (!this.stepCharts.has(t)) this.stepCharts.set(t, new StepChart(this, t));
      for (const t of tags) this.grid.append(this.stepCharts.get(t)!.root); // keeps order
      if (!tags.length && this.runs.length) this.setStatus(plotted.length ? "The selected runs have no scalar tags." : "No run selected.");
    } else {
      for (const c of this.stepCharts.values()) c.destroy();
      this.stepCharts.clear();
      const want: string[] = [];
      for (const t of kindTags("distribution")) for (const r of plotted) if (this.tagInfo(r, t)) want.push(`${t}\u0000${r}`);
      for (const [k, c] of this.distCards) if (!want.includes(k)) { c.destroy(); this.distCards.delete(k); }
      for (const k of want) {
        if (!this.distCards.has(k)) {
          const [t, r] = k.split("\u0000");
          this.distCards.set(k, new DistCard(this, t, r));
        }
        this.grid.append(this.distCards.get(k)!.root);
      }
      if (!want.length && this.runs.length) this.setStatus(plotted.length ? "The selected runs have no distribution tags." : "No run selected.");
    }
    if (this.view) {
      const full = this.globalRange();
      if (!full) this.view = null;
    }
    this.updateRange();
    this.loadAll();
  }

  private loadAll(): void {
    this.loadGen++;
    const charts: { load(): Promise<void> }[] = [...this.stepCharts.values(), ...this.distCards.values()];
    for (const c of charts) void c.load();
    if (this.busy.size === 0) this.settled();
  }

  private onDrillChange(): void {
    const p = this.drillPanel;
    this.drill = p.isOpen && p.run !== null && p.step !== null ? { run: p.run, step: p.step } : null;
    this.root.classList.toggle("tbb-with-drill", !!this.drill);
    for (const c of this.stepCharts.values()) c.u?.redraw(false);
    for (const c of this.distCards.values()) c.redraw();
  }

  // ------------------------------------------------------------------ anomalies

  /**
   * Anomalies are scored by the server on first request (a rolling median over every step: about
   * a second per million steps), so they are asked for one run at a time, and only while no chart
   * is loading: charts and zooms always go first.
   */
  private async loadAnomalies(): Promise<void> {
    const gen = ++this.anomGen;
    const runs = this.plotted();
    this.anomalies = new Map(runs.map((r) => [r, "loading…"]));
    this.renderAnomalies();
    for (const r of runs) {
      while (this.busy.size > 0) await new Promise((res) => setTimeout(res, 50));
      if (gen !== this.anomGen) return;
      let got: Anomaly[] | string;
      try {
        got = await fetchAnomalies(r, 50);
      } catch (e) {
        got = String((e as Error).message);
      }
      if (gen !== this.anomGen) return;
      this.anomalies.set(r, got);
      this.renderAnomalies();
    }
    this.anomDone = gen;
  }

  private renderAnomalies(): void {
    clear(this.anomEl);
    if (!this.anomalies.size) {
      this.anomEl.append(h("p", { class: "tbb-muted tbb-small", text: "No run selected." }));
      return;
    }
    for (const [run, list] of this.anomalies) {
      const loading = list === "loading…";
      const n = loading ? "…" : typeof list === "string" ? "error" : String(list.length);
      const det = h("details", { class: "tbb-anom-run", "data-run": run },
        h("summary", {}, h("span", { class: "tbb-swatch", style: `background:${this.color(run)}` }),
          h("span", { class: "tbb-run-name", text: run }), h("span", { class: "tbb-muted", text: ` (${n})` })));
      if (typeof list !== "string" && list.length && list.length <= 20) det.open = true;
      if (loading) det.append(h("p", { class: "tbb-muted tbb-small", text: "scoring…" }));
      else if (typeof list === "string") det.append(h("p", { class: "tbb-bad tbb-small", text: list }));
      else if (!list.length) det.append(h("p", { class: "tbb-muted tbb-small", text: "none" }));
      else {
        const ul = h("ul", { class: "tbb-anom-list" });
        for (const a of list) {
          const b = h("button", {
            type: "button", class: "tbb-anom", "data-step": a.step, "data-kind": a.kind,
            title: a.score !== null ? `score ${fmtNum(a.score)}` : a.kind,
          },
          h("span", { class: "tbb-anom-kind", text: a.kind }),
          h("span", { text: ` ${a.tag} @ ${fmtStep(a.step)} = ${fmtNum(a.value)}` }));
          b.addEventListener("click", () => this.jumpTo(run, a.tag, a.step));
          ul.append(h("li", {}, b));
        }
        det.append(ul);
      }
      this.anomEl.append(det);
    }
  }

  /** Zooms every chart to a window around a step and opens that step. */
  jumpTo(run: string, tag: string, step: number): void {
    const full = this.fullRange(tag) ?? this.globalRange();
    if (full) this.setView(windowAround(step, full));
    this.openDrill(run, step);
  }

  // ------------------------------------------------------------------ debug (tests, bench)

  debug() {
    return {
      firstPaintMs: this.firstPaintMs,
      lastZoomMs: this.lastZoomMs,
      ready: this.root.dataset.ready,
      pending: this.busy.size,
      view: this.view,
      plotted: this.plotted(),
      charts: [...this.stepCharts.values()].map((c) => c.debug()),
      dists: [...this.distCards.values()].map((c) => c.debug()),
      drill: this.drill,
      anomaliesLoaded: this.anomDone === this.anomGen,
    };
  }

  chart(tag: string): StepChart | undefined {
    return this.stepCharts.get(tag);
  }
}
