// The Batches tab: run selector (colours, groups), toolbar, Steps / Distributions / Samples
// views, anomalies, drill-down, a sample's steps marked on the charts; follows TensorBoard's
// reload and theme, and polls `runs` while visible.
import { fetchHardest, fetchRuns, fetchSampleSteps, fetchSeries, fetchTensorBoardRuns, HardSample, RunInfo, TagInfo } from "./api";
import { AnomalyPanel } from "./anoms";
import { Axis, axisOf, isPlaced, roleOf } from "./axes";
import { isHexColor, runColors } from "./colors";
import type { Ctx, RunMeta, SampleMarks, Settings, Theme, XMode } from "./ctx";
import { DistCard } from "./dists";
import { clear, cssVar, debounce, h } from "./dom";
import { Drill } from "./drill";
import { GroupMode, groupRuns } from "./groups";
import { connectToHost, IPC, MSG_DATA_RELOADED, MSG_RUNS_CHANGED } from "./ipc";
import {
  clampRange, fmtStep, makeRunFilter, mergeSelection, panRange, Range, unionRange, windowAround, zoomRange,
} from "./logic";
import { identity, sampleKey } from "./samples";
import { ClassHeatCard, HardestCard } from "./sampleview";
import { StepChart } from "./steps";
import { load, save } from "./store";
import { keySource, keyTag, seriesKey, splitTags, tagSections } from "./tags";
import { followTheme } from "./theme";
import { hideTip } from "./tooltip";

const DEFAULT_SETTINGS: Settings = {
  xAxis: "step", log: false, smoothing: 0, tab: "steps", outliers: true, byPrefix: true, tagFilter: "",
  groupMode: "none", groupRegex: "", band: "p90", heatmaps: true,
};
const X_MODES: XMode[] = ["step", "relstep", "wall", "relwall"];
/** How often `runs` is polled while the page is visible (a small JSON; charts reload only when
 * it changed). */
export const POLL_MS = 5000;

function readTheme(dark: boolean): Theme {
  return {
    fg: cssVar("--tbb-fg") || "#222",
    muted: cssVar("--tbb-muted") || "#666",
    grid: cssVar("--tbb-grid") || "rgba(0,0,0,0.08)",
    bg: cssVar("--tbb-bg") || "#fff",
    bad: cssVar("--tbb-bad") || "#d00",
    dark,
  };
}

export class App implements Ctx {
  settings: Settings;
  theme: Theme;
  drill: { run: string; step: number } | null = null;
  private views: Record<Axis, Range | null> = { train: null, val: null };

  runs: RunInfo[] = [];
  private metas = new Map<string, RunMeta>();
  private byRun = new Map<string, TagInfo[]>();
  private selection: Record<string, boolean>;
  private overrides: Record<string, string>;
  private tbOrder: string[] | null = null;
  private colors: Record<string, string> = {};
  private filter: string;
  private pins: string[];
  private split = new Set<string>();
  private stepCharts = new Map<string, StepChart>();
  private distCards = new Map<string, DistCard>();
  private hardestCard: HardestCard | null = null;
  private classCard: ClassHeatCard | null = null;
  marks: SampleMarks | null = null;
  private markGen = 0;
  private marksChip!: HTMLSpanElement;
  private walls0 = new Map<string, number>();
  private ipc: IPC | null = null;
  private runsSig = "";
  private lastAnomalyLoad = 0;

  // DOM
  readonly root: HTMLElement;
  private main!: HTMLElement;
  private runList!: HTMLUListElement;
  private filterInput!: HTMLInputElement;
  private filterErr!: HTMLDivElement;
  private tagErr!: HTMLSpanElement;
  private statusEl!: HTMLDivElement;
  private grid!: HTMLDivElement;
  private rangeEl!: HTMLSpanElement;
  private tabButtons!: Record<Settings["tab"], HTMLButtonElement>;
  private stepsOnly: HTMLElement[] = [];
  private distsOnly: HTMLElement[] = [];
  private drillPanel: Drill;
  anomalies: AnomalyPanel;

  // timing (tests and bench/ui.py read window.__tbb)
  readonly t0 = performance.now();
  firstPaintMs: number | null = null;
  lastZoomMs: number | null = null;
  private zoomT0: number | null = null;
  private readonly busy = new Set<object>();
  private loadGen = 0;

  constructor(host: HTMLElement) {
    this.settings = { ...DEFAULT_SETTINGS, ...load<Partial<Settings>>("settings", {}) };
    if (!X_MODES.includes(this.settings.xAxis)) this.settings.xAxis = "step";
    if (this.settings.tab !== "dists" && this.settings.tab !== "samples") this.settings.tab = "steps";
    if (!["none", "prefix", "regex"].includes(this.settings.groupMode)) this.settings.groupMode = "none";
    this.selection = load<Record<string, boolean>>("selection", {});
    this.overrides = load<Record<string, string>>("colorOverrides", {});
    this.filter = load<string>("filter", "");
    this.pins = load<string[]>("pins", []).filter((p) => typeof p === "string");
    const dark = followTheme((d) => this.themeChanged(d));
    this.theme = readTheme(dark);
    this.drillPanel = new Drill(this, () => this.onDrillChange());
    this.anomalies = new AnomalyPanel({
      plotted: () => this.plotted(),
      color: (r) => this.color(r),
      busy: () => this.loading(),
      jumpTo: (r, t, s) => this.jumpTo(r, t, s),
    });
    this.root = this.layout();
    host.append(this.root, this.drillPanel.root);
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
    // a growing run advances on its own: a cheap `runs` request while the page is visible
    setInterval(() => {
      if (document.visibilityState === "visible" && this.busy.size === 0) void this.reload();
    }, POLL_MS);
  }

  private themeChanged(dark: boolean): void {
    this.theme = readTheme(dark);
    this.recolor();
    this.renderRunList();
    this.rebuildViews(true);
    this.anomalies.render();
  }

  // ------------------------------------------------------------------ Ctx

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

  tagInfo(run: string, tag: string, kind?: string, source?: string): TagInfo | undefined {
    const ts = this.byRun.get(run);
    if (!ts) return undefined;
    const m = ts.filter((t) => t.tag === tag && (!kind || t.kind === kind) && (!source || (t.source ?? "tb_batch") === source));
    return m.find((t) => (t.source ?? "tb_batch") === "tb_batch") ?? m[0];
  }

  stepOffset(run: string): number {
    if (this.settings.xAxis !== "relstep") return 0;
    const m = this.metas.get(run);
    if (!m) return 0;
    const t = m.placed && m.train_run ? this.metas.get(m.train_run) : undefined;
    return (t ?? m).first;
  }

  wall0(run: string): number | undefined {
    return this.walls0.get(run);
  }

  view(axis: Axis): Range | null {
    return this.views[axis];
  }

  fullRange(runs: readonly string[], tag: string, axis: Axis, source?: string): Range | null {
    const rs: Range[] = [];
    const rel = this.settings.xAxis === "relstep";
    for (const r of runs) {
      const m = this.metas.get(r);
      if (!m || (m.axis === "val") !== (axis === "val")) continue;
      const off = rel ? this.stepOffset(r) : 0;
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
  globalRange(axis: Axis): Range | null {
    const rs: Range[] = [];
    for (const r of this.plotted()) {
      for (const t of new Set((this.byRun.get(r) ?? []).map((x) => x.tag))) {
        const f = this.fullRange([r], t, axis);
        if (f) rs.push(f);
      }
    }
    return unionRange(rs);
  }

  groups(runs: readonly string[]): { name: string; runs: string[] }[] | null {
    const mode = this.settings.groupMode;
    if (mode === "none") return null;
    let re: RegExp | null = null;
    if (mode === "regex") {
      try { re = this.settings.groupRegex ? new RegExp(this.settings.groupRegex) : null; } catch { re = null; }
      if (!re) return null;
    }
    return groupRuns(runs, mode, re);
  }

  setView(axis: Axis, r: Range | null): void {
    const full = this.globalRange(axis);
    if (r && full) {
      r = clampRange(r, full);
      if (r.start <= full.start && r.end >= full.end) r = null;
    }
    const cur = this.views[axis];
    if (!r && !cur) return;
    if (r && cur && r.start === cur.start && r.end === cur.end) return;
    this.views[axis] = r;
    this.zoomT0 = performance.now();
    this.updateRange();
    this.loadAll(axis);
  }

  openDrill(run: string, step: number, from?: Element | null): void {
    this.drillPanel.open(run, step, from);
  }

  chartBusy(chart: object, busy: boolean): void {
    if (busy) this.busy.add(chart);
    else if (this.busy.delete(chart) && this.busy.size === 0) this.settled();
  }

  loading(): boolean {
    return this.busy.size > 0;
  }

  pin(key: string): void {
    this.pins = this.pins.includes(key) ? this.pins.filter((k) => k !== key) : [...this.pins, key];
    save("pins", this.pins);
    this.rebuildViews(false, false);
  }

  isPinned(key: string): boolean {
    return this.pins.includes(key);
  }

  markSample(run: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): void {
    const key = sampleKey(sample);
    if (this.marks && this.marks.run === run && this.marks.key === key) { this.setMarks(null); return; }
    void this.loadMarks(run, key, sample, known);
  }

  /** Every step of the sample (the server's `samples?fingerprint=`); a server without it: the
   * first and last step `hardest` gives (over all steps, when `known` is not given). */
  private async loadMarks(run: string, key: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): Promise<void> {
    const gen = ++this.markGen;
    const base = { run, key, fingerprint: sample.fingerprint, id: sample.id };
    let got: { steps: number[] } | null = null;
    try { got = await fetchSampleSteps(run, sample); } catch { got = null; }
    if (gen !== this.markGen) return;
    if (got) { this.setMarks({ ...base, steps: got.steps, complete: true, count: got.steps.length }); return; }
    let k = known;
    if (!k) {
      const all = await fetchHardest(run, undefined, undefined, 1000).catch(() => null);
      k = all?.samples.find((x) => sampleKey(x) === key);
    }
    if (gen !== this.markGen) return;
    const steps = k ? [...new Set([k.first_step, k.last_step])] : [];
    this.setMarks({ ...base, steps, complete: false, count: k?.count ?? 0 });
  }

  private setMarks(m: SampleMarks | null): void {
    if (!m) this.markGen++;
    this.marks = m;
    clear(this.marksChip);
    this.marksChip.hidden = !m;
    if (m) {
      const who = identity(m.fingerprint, m.id);
      const off = h("button", { type: "button", class: "tbb-linkbtn", text: "✕", title: "Unmark", "aria-label": "Unmark the sample" });
      off.addEventListener("click", () => this.setMarks(null));
      this.marksChip.append(h("span", { class: "tbb-mark-glyph", style: `color:${this.color(m.run)}`, text: "▼" }),
        h("span", { class: "tbb-mono", text: who.text, title: who.full }),
        h("span", {
          text: ` of ${m.run}: ${m.complete ? `${m.count} step${m.count === 1 ? "" : "s"} marked` : `first and last of its ${m.count} steps`}`,
          title: m.complete ? "Every step at which it was among its batch's highest-loss samples" : "This server does not list every step of a sample: only the first and last are marked",
        }), " ", off);
    }
    for (const c of this.stepCharts.values()) c.redraw();
    this.classCard?.redraw();
    this.hardestCard?.marksChanged();
    this.drillPanel.marksChanged();
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
    this.statusEl = h("div", { class: "tbb-status", role: "status", "aria-live": "polite" });

    // run groups
    const groupSel = h("select", { class: "tbb-input tbb-small", "aria-label": "Group runs" },
      h("option", { value: "none", text: "runs one by one" }),
      h("option", { value: "prefix", text: "group by path prefix" }),
      h("option", { value: "regex", text: "group by regex" }));
    groupSel.value = this.settings.groupMode;
    const groupRe = h("input", {
      type: "text", class: "tbb-input tbb-small", placeholder: "regex, e.g. (lr_[^/]+)", "aria-label": "Group runs by regex (captured groups name the group)",
      spellcheck: "false", hidden: this.settings.groupMode !== "regex",
    });
    groupRe.value = this.settings.groupRegex;
    groupSel.addEventListener("change", () => {
      this.settings.groupMode = groupSel.value as GroupMode;
      groupRe.hidden = this.settings.groupMode !== "regex";
      this.saveSettings();
      this.rebuildViews(true);
    });
    groupRe.addEventListener("input", debounce(() => {
      this.settings.groupRegex = groupRe.value;
      this.saveSettings();
      this.rebuildViews(true);
    }, 300));

    const side = h(
      "nav",
      { class: "tbb-side", "aria-label": "Runs and anomalies" },
      h("div", { class: "tbb-side-head" }, h("h2", { text: "Runs" }), reloadBtn),
      this.filterInput,
      this.filterErr,
      h("div", { class: "tbb-row" }, allBtn, noneBtn),
      this.runList,
      h("div", { class: "tbb-row tbb-groups", title: "A group is drawn as its runs' mean with a min…max band" }, groupSel, groupRe),
      h("h2", { text: "Anomalies" }),
      this.anomalies.root,
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
    this.tabButtons = { steps: tab("steps", "Steps"), dists: tab("dists", "Distributions"), samples: tab("samples", "Samples") };
    const xSel = h("select", { class: "tbb-input", "aria-label": "x axis" },
      h("option", { value: "step", text: "x: step" }),
      h("option", { value: "relstep", text: "x: steps since start" }),
      h("option", { value: "wall", text: "x: wall time" }),
      h("option", { value: "relwall", text: "x: time since start" }));
    xSel.value = this.settings.xAxis;
    xSel.addEventListener("change", () => {
      this.settings.xAxis = (X_MODES as string[]).includes(xSel.value) ? (xSel.value as XMode) : "step";
      this.views = { train: null, val: null };
      this.saveSettings();
      this.updateRange();
      this.rebuildViews(true);
    });
    const check = (id: string, label: string, key: "log" | "outliers" | "byPrefix" | "heatmaps", title: string) => {
      const box = h("input", { type: "checkbox", id });
      box.checked = this.settings[key];
      box.addEventListener("change", () => {
        this.settings[key] = box.checked;
        this.saveSettings();
        this.rebuildViews(true);
      });
      return h("label", { class: "tbb-check", for: id, title }, box, ` ${label}`);
    };
    const smoothIn = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, id: "tbb-smooth", "aria-label": "Smoothing weight (0 = off)" });
    smoothIn.value = String(this.settings.smoothing);
    const smoothVal = h("span", { class: "tbb-num tbb-small", text: this.settings.smoothing.toFixed(2) });
    smoothIn.addEventListener("input", () => (smoothVal.textContent = Number(smoothIn.value).toFixed(2)));
    smoothIn.addEventListener("change", () => {
      this.settings.smoothing = Number(smoothIn.value) || 0;
      this.saveSettings();
      this.rebuildViews(true);
    });
    const tagIn = h("input", {
      type: "search", class: "tbb-input", placeholder: "Filter tags (regex)", "aria-label": "Filter tags by regular expression",
      spellcheck: "false", autocomplete: "off",
    });
    tagIn.value = this.settings.tagFilter;
    this.tagErr = h("span", { class: "tbb-bad tbb-small" });
    tagIn.addEventListener("input", debounce(() => {
      this.settings.tagFilter = tagIn.value;
      this.saveSettings();
      this.rebuildViews(false);
    }, 250));
    const bandSel = h("select", { class: "tbb-input", "aria-label": "Quantile band around each run's median" },
      h("option", { value: "iqr", text: "band: 25…75%" }), h("option", { value: "p90", text: "band: 5…95%" }),
      h("option", { value: "p98", text: "band: 1…99%" }), h("option", { value: "minmax", text: "band: min…max" }),
      h("option", { value: "none", text: "median only" }));
    bandSel.value = this.settings.band;
    bandSel.addEventListener("change", () => {
      this.settings.band = bandSel.value as Settings["band"];
      this.saveSettings();
      this.rebuildViews(true);
    });
    const zb = (label: string, title: string, fn: () => void) => {
      const b = h("button", { type: "button", class: "tbb-btn", text: label, title, "aria-label": title });
      b.addEventListener("click", fn);
      return b;
    };
    const act = (f: (cur: Range, full: Range) => Range | null) => () => {
      const full = this.globalRange("train");
      if (full) this.setView("train", f(this.views.train ?? full, full));
    };
    const smoothLabel = h("label", { class: "tbb-check", for: "tbb-smooth" }, "smoothing ", smoothIn, smoothVal);
    const outl = check("tbb-outliers", "ignore outliers", "outliers", "y range from the 5th…95th percentile (as TensorBoard's default); points beyond are marked at the edge");
    const heat = check("tbb-heat", "heatmaps", "heatmaps", "Histogram over steps of each run, with its colour scale");
    this.stepsOnly = [xSel, smoothLabel, outl];
    this.marksChip = h("span", { class: "tbb-chip tbb-marks", hidden: true, role: "status" });
    this.distsOnly = [bandSel, heat];
    this.rangeEl = h("span", { class: "tbb-muted tbb-small tbb-range", "aria-live": "polite" });
    const help = h("details", { class: "tbb-menu tbb-help" }, h("summary", { class: "tbb-btn", text: "?" }),
      h("div", { class: "tbb-menu-list tbb-help-text" },
        h("p", { text: "Drag across a chart to zoom (Alt/Ctrl+drag: zoom y), wheel to zoom, shift+wheel to pan, double-click to show all." }),
        h("p", { text: "Click a point to open that step; ←/→ step through it, Esc closes. The step's samples with the highest loss are listed there (copy a fingerprint: tbb.find(x, [fingerprint]) gives its row in your data)." }),
        h("p", { text: "Samples: the samples that keep coming back among their batch's highest losses in the steps shown (click one: its steps are marked ▼ on the charts), and each class's loss per step." }),
        h("p", { text: "Shaded band: each pixel column's min…max, no point is hidden. Carets on an edge: values beyond the y range." }),
        h("p", { text: "Validation runs with evaluation markers are drawn on the training axis: one band (min…max of its batches) and the mean per evaluation, at the step it ran. Without markers they get their own validation-batch axis." })));
    const toolbar = h(
      "div",
      { class: "tbb-toolbar", role: "toolbar", "aria-label": "View" },
      h("div", { class: "tbb-tabs", role: "group", "aria-label": "View" }, this.tabButtons.steps, this.tabButtons.dists, this.tabButtons.samples),
      xSel,
      h("span", { class: "tbb-tagfilter" }, tagIn, this.tagErr),
      check("tbb-prefix", "group by prefix", "byPrefix", "One section per tag prefix (per_sample_loss/…)"),
      check("tbb-log", "log y", "log", "Logarithmic y axis (values ≤ 0 are left out)"),
      outl,
      smoothLabel,
      bandSel,
      heat,
      h("div", { class: "tbb-row", role: "group", "aria-label": "Zoom" },
        zb("−", "Zoom out", act((c, f) => zoomRange(c, f, 2))),
        zb("+", "Zoom in", act((c, f) => zoomRange(c, f, 0.5))),
        zb("◀", "Pan left", act((c, f) => panRange(c, f, -0.25))),
        zb("▶", "Pan right", act((c, f) => panRange(c, f, 0.25))),
        zb("Reset", "Show all steps", () => { this.setView("train", null); this.setView("val", null); }),
      ),
      this.rangeEl,
      this.marksChip,
      help,
    );
    this.grid = h("div", { class: "tbb-sections" });
    this.main = h("main", { class: "tbb-main" }, toolbar, this.statusEl, this.grid);
    return h("div", { class: "tbb-app", "data-ready": "" }, side, this.main);
  }

  private saveSettings(): void {
    save("settings", this.settings);
  }

  private setStatus(text: string, bad = false): void {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("tbb-bad", bad);
  }

  private updateRange(): void {
    const full = this.globalRange("train");
    const v = this.views.train ?? full;
    const unit = this.settings.xAxis === "relstep" ? "steps since start" : "steps";
    this.rangeEl.textContent = v ? `${unit} ${fmtStep(v.start)} – ${fmtStep(v.end)}${this.views.train ? "" : " (all)"}` : "";
  }

  // ------------------------------------------------------------------ runs

  /** Re-reads the runs; charts are re-queried when anything changed (or when `force`). */
  async reload(force = false): Promise<void> {
    try {
      const first = this.runsSig === "";
      const res = await fetchRuns();
      const sig = JSON.stringify(res);
      if (!force && sig === this.runsSig) return;
      this.runsSig = sig;
      this.runs = res.runs;
      const names = res.runs.map((r) => r.run);
      // TensorBoard's own run order (the colours) is not waited for: the charts draw at once
      // (in name order, usually the same) and take its colours when it comes
      if (first || force || names.some((n) => !this.tbOrder?.includes(n))) void this.loadTensorBoardOrder();
      this.byRun = new Map(res.runs.map((r) => [r.run, r.tags]));
      this.metas = new Map(res.runs.map((r) => {
        const { role, train_run } = roleOf(r, names);
        const first = Math.min(...r.tags.map((t) => t.first_step));
        return [r.run, { info: r, role, train_run, axis: axisOf(r, role), placed: isPlaced(r, role), first: Number.isFinite(first) ? first : 0 }];
      }));
      this.selection = { ...this.selection, ...mergeSelection(names, this.selection) };
      save("selection", this.selection);
      this.recolor();
      const skipped = res.corrupt_records ? `${res.corrupt_records} corrupt records skipped` : "";
      this.setStatus(names.length ? skipped : "No data in this log directory yet. Write some with BatchStats or tb_batch_plugin.summary.");
      this.rebuildViews(false); // first: its requests go out while the run list is drawn
      this.renderRunList();
      // spike scores of a growing run are redone at most every 30 s (they hold the server)
      if (force || first || performance.now() - this.lastAnomalyLoad > 30_000) {
        this.lastAnomalyLoad = performance.now();
        void this.anomalies.load();
      }
    } catch (e) {
      this.setStatus(`Could not load runs: ${(e as Error).message}`, true);
    }
  }

  private recolor(): void {
    this.colors = runColors(this.runs.map((r) => r.run), this.tbOrder, this.overrides, this.theme.dark);
  }

  private async loadTensorBoardOrder(): Promise<void> {
    const order = await fetchTensorBoardRuns();
    if (!order || JSON.stringify(order) === JSON.stringify(this.tbOrder)) return;
    this.tbOrder = order;
    const before = JSON.stringify(this.colors);
    this.recolor();
    if (JSON.stringify(this.colors) === before) return;
    this.renderRunList();
    this.anomalies.render();
    for (const c of this.stepCharts.values()) c.recolor();
    for (const c of this.distCards.values()) c.recolor();
    this.hardestCard?.recolor();
    this.classCard?.recolor();
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
      const pick = h("input", { type: "color", class: "tbb-color", value: this.color(r.run), title: "Change this run's colour", "aria-label": `Colour of ${r.run}` });
      pick.addEventListener("change", () => {
        if (!isHexColor(pick.value)) return;
        this.overrides[r.run] = pick.value;
        save("colorOverrides", this.overrides);
        this.recolor();
        this.renderRunList();
        this.rebuildViews(true);
        this.anomalies.render();
      });
      const m = this.metas.get(r.run);
      const badges: HTMLElement[] = [];
      if (r.source === "sampled") badges.push(h("span", { class: "tbb-badge", "data-kind": "sampled", text: "sampled" }));
      if (m?.placed) {
        badges.push(h("span", { class: "tbb-badge tbb-role", text: `${m.info.evaluations!.length} evals`, title: `Validation: each evaluation drawn on the training axis${m.train_run ? ` of ${m.train_run}` : ""}, at the step it ran` }));
      } else if (m?.axis === "val") {
        badges.push(h("span", { class: "tbb-badge tbb-role", text: "own axis", title: "Validation without evaluation markers (older logs): drawn on its own validation-batch axis, never over training steps" }));
      }
      const label = h("label", { for: id, class: "tbb-run-label", title: r.run }, h("span", { class: "tbb-run-name", text: r.run }), ...badges);
      const reset = isHexColor(this.overrides[r.run]) ? h("button", { type: "button", class: "tbb-linkbtn tbb-small", text: "↺", title: "Back to TensorBoard's colour" }) : null;
      reset?.addEventListener("click", () => {
        delete this.overrides[r.run];
        save("colorOverrides", this.overrides);
        this.recolor();
        this.renderRunList();
        this.rebuildViews(true);
      });
      this.runList.append(h("li", { "data-run": r.run }, box, pick, label, reset));
    }
    if (!shown) this.runList.append(h("li", { class: "tbb-muted", text: this.runs.length ? "No run matches the filter." : "No runs." }));
  }

  private selectionChanged = debounce(() => {
    this.rebuildViews(false);
    void this.anomalies.load();
  }, 150);

  // ------------------------------------------------------------------ views

  /** Chart keys of the plotted runs' scalar (or distribution) series on an axis. */
  private keys(kind: "scalar" | "distribution", axis: Axis): string[] {
    const f = makeRunFilter(this.settings.tagFilter);
    this.tagErr.textContent = f.error ? " not a valid regex" : "";
    const out = new Set<string>();
    for (const r of this.plotted()) {
      const m = this.metas.get(r);
      if (!m || (m.axis === "val") !== (axis === "val")) continue;
      for (const t of this.byRun.get(r) ?? []) {
        if (t.kind !== kind || !f.test(t.tag)) continue;
        out.add(kind === "scalar" ? seriesKey(t.tag, t.source ?? "tb_batch", this.split.has(t.tag)) : t.tag);
      }
    }
    return [...out];
  }

  /** Creates/removes charts for the current runs and tab, lays them out in sections, then
   * (re)loads all of them (unless `reload` is false: a pin only moves charts). */
  private rebuildViews(recreate: boolean, reload = true): void {
    for (const [k, b] of Object.entries(this.tabButtons)) b.setAttribute("aria-pressed", String(k === this.settings.tab));
    const tab = this.settings.tab;
    const steps = tab === "steps";
    for (const el of this.stepsOnly) el.hidden = tab === "dists";
    for (const el of this.distsOnly) el.hidden = tab !== "dists";
    hideTip();
    if (recreate) {
      for (const c of this.stepCharts.values()) c.destroy();
      for (const c of this.distCards.values()) c.destroy();
      this.stepCharts.clear();
      this.distCards.clear();
      this.dropSampleCards();
    }
    clear(this.grid);
    const plotted = this.plotted();
    // a tag is split by writer only where a plotted run has it from two
    this.split = splitTags(this.runs.filter((r) => plotted.includes(r.run)));
    const section = (key: string, title: string, note: string, cards: HTMLElement[]) => {
      if (!cards.length) return;
      const head = title ? h("h2", { class: "tbb-section-title" }, h("span", { text: title }), note ? h("span", { class: "tbb-muted tbb-small tbb-sep", text: note }) : null) : null;
      this.grid.append(h("section", { class: "tbb-section", "data-section": key }, head, h("div", { class: "tbb-grid" }, ...cards)));
    };
    let count = 0;
    if (tab === "samples") {
      for (const c of this.distCards.values()) c.destroy();
      this.distCards.clear();
      // the loss above the samples: a marked sample's steps are seen against it
      const want = new Map<string, { key: string; axis: Axis }>();
      for (const axis of ["train", "val"] as Axis[]) for (const key of this.keys("scalar", axis)) if (keyTag(key) === "loss") want.set(`${axis}|${key}`, { key, axis });
      for (const [id, c] of this.stepCharts) if (!want.has(id)) { c.destroy(); this.stepCharts.delete(id); }
      for (const [id, { key, axis }] of want) if (!this.stepCharts.has(id)) this.stepCharts.set(id, new StepChart(this, key, axis, keySource(key)));
      section("samples-loss", "", "", [...want.keys()].map((id) => { const r = this.stepCharts.get(id)!.root; r.classList.add("tbb-wide"); return r; }));
      this.hardestCard ??= new HardestCard(this);
      this.classCard ??= new ClassHeatCard(this);
      section("samples", "", "", [this.hardestCard.root, this.classCard.root]);
      count = want.size + 2;
    } else if (steps) {
      this.dropSampleCards();
      for (const c of this.stepCharts.values()) c.root.classList.remove("tbb-wide");
      for (const c of this.distCards.values()) c.destroy();
      this.distCards.clear();
      const want = new Map<string, { key: string; axis: Axis }>();
      for (const axis of ["train", "val"] as Axis[]) for (const key of this.keys("scalar", axis)) want.set(`${axis}|${key}`, { key, axis });
      for (const [id, c] of this.stepCharts) if (!want.has(id)) { c.destroy(); this.stepCharts.delete(id); }
      for (const [id, { key, axis }] of want) if (!this.stepCharts.has(id)) this.stepCharts.set(id, new StepChart(this, key, axis, keySource(key)));
      count = want.size;
      for (const axis of ["train", "val"] as Axis[]) {
        const ids = [...want.keys()].filter((id) => id.startsWith(`${axis}|`));
        const pinIds = this.pins.map((k) => `${axis}|${k}`);
        const secs = tagSections(ids, (id) => keyTag(id.slice(id.indexOf("|") + 1)), pinIds, this.settings.byPrefix);
        for (const s of secs) {
          const cards = s.items.map((id) => { const c = this.stepCharts.get(id)!; c.setPinned(this.pins.includes(c.key)); return c.root; });
          if (axis === "val") section(`val-${s.key}`, s.title ? `Validation batches · ${s.title}` : "Validation batches",
            "no evaluation markers in these logs: validation on its own axis, not over training steps", cards);
          else section(s.key, s.title, "", cards);
        }
      }
      if (!count && this.runs.length) this.setStatus(plotted.length ? "No scalar tag of the selected runs matches." : "No run selected.");
    } else {
      this.dropSampleCards();
      for (const c of this.stepCharts.values()) c.destroy();
      this.stepCharts.clear();
      const want = new Map<string, { tag: string; axis: Axis }>();
      for (const axis of ["train", "val"] as Axis[]) for (const tag of this.keys("distribution", axis)) want.set(`${axis}|${tag}`, { tag, axis });
      for (const [id, c] of this.distCards) if (!want.has(id)) { c.destroy(); this.distCards.delete(id); }
      for (const [id, { tag, axis }] of want) if (!this.distCards.has(id)) this.distCards.set(id, new DistCard(this, tag, axis));
      count = want.size;
      for (const axis of ["train", "val"] as Axis[]) {
        const ids = [...want.keys()].filter((id) => id.startsWith(`${axis}|`));
        const secs = tagSections(ids, (id) => id.slice(id.indexOf("|") + 1), [], this.settings.byPrefix);
        for (const s of secs) section(`${axis}-${s.key}`, axis === "val" ? `Validation batches${s.title ? ` · ${s.title}` : ""}` : s.title, "",
          s.items.map((id) => this.distCards.get(id)!.root));
      }
      if (!count && this.runs.length) this.setStatus(plotted.length ? "No distribution tag of the selected runs matches." : "No run selected.");
    }
    if (count && this.statusEl.textContent && !/corrupt/.test(this.statusEl.textContent)) this.setStatus("");
    for (const axis of ["train", "val"] as Axis[]) if (this.views[axis] && !this.globalRange(axis)) this.views[axis] = null;
    this.updateRange();
    if (reload) this.loadAll();
  }

  private dropSampleCards(): void {
    this.hardestCard?.destroy();
    this.classCard?.destroy();
    this.hardestCard = this.classCard = null;
  }

  /** First wall time of every plotted run (the relative wall-time axis), one 1-point request each. */
  private async ensureWalls0(): Promise<void> {
    const todo = this.plotted().filter((r) => !this.walls0.has(r));
    await Promise.all(todo.map(async (r) => {
      const ts = (this.byRun.get(r) ?? []).filter((t) => t.kind === "scalar" && t.count > 0);
      const t = ts.reduce((a, b) => (b.first_step < a.first_step ? b : a), ts[0]);
      if (!t) return;
      try {
        const s = await fetchSeries(r, t.tag, 1, t.first_step, t.first_step, undefined, this.split.has(t.tag) ? t.source : undefined);
        if (s.walls.length) this.walls0.set(r, s.walls[0]);
      } catch { /* no offset: 0 */ }
    }));
  }

  private loadAll(axis?: Axis): void {
    this.loadGen++;
    const charts: { load(): Promise<void>; axis: Axis | "any" }[] = [...this.stepCharts.values(), ...this.distCards.values(),
      ...(this.hardestCard ? [this.hardestCard] : []), ...(this.classCard ? [this.classCard] : [])]
      .filter((c) => !axis || c.axis === axis || c.axis === "any");
    if (this.settings.xAxis === "relwall" && this.plotted().some((r) => !this.walls0.has(r))) {
      const marker = {};
      this.chartBusy(marker, true);
      void this.ensureWalls0().then(() => {
        for (const c of charts) void c.load();
        this.chartBusy(marker, false);
      });
      return;
    }
    for (const c of charts) void c.load();
    if (this.busy.size === 0) this.settled();
  }

  private onDrillChange(): void {
    const p = this.drillPanel;
    this.drill = p.isOpen && p.run !== null && p.step !== null ? { run: p.run, step: p.step } : null;
    this.root.classList.toggle("tbb-with-drill", !!this.drill);
    // room below the last charts, so that any chart can be scrolled above the sheet
    this.main.style.paddingBottom = this.drill ? `${Math.ceil(p.height()) + 16}px` : "";
    for (const c of this.stepCharts.values()) c.redraw();
    for (const c of this.distCards.values()) c.redraw();
    this.classCard?.redraw();
  }

  // ------------------------------------------------------------------ anomalies

  /** Zooms the charts to a window around a step, scrolls its chart into view and opens it. */
  jumpTo(run: string, tag: string, step: number): void {
    const m = this.metas.get(run);
    const axis: Axis = m?.axis ?? "train";
    let x = step - this.stepOffset(run);
    if (m?.placed) {
      const e = (m.info.evaluations ?? []).filter((q) => q.first_step <= step).pop();
      if (e) x = e.train_step - this.stepOffset(run);
    }
    const full = this.fullRange([run], tag, axis) ?? this.globalRange(axis);
    if (full && (this.settings.xAxis === "step" || this.settings.xAxis === "relstep")) this.setView(axis, windowAround(x, full));
    const chart = [...this.stepCharts.values()].find((c) => c.tag === tag && c.axis === axis);
    chart?.root.scrollIntoView({ block: "nearest" });
    this.openDrill(run, step, chart?.root ?? null);
  }

  // ------------------------------------------------------------------ debug (tests, bench)

  debug() {
    return {
      firstPaintMs: this.firstPaintMs,
      lastZoomMs: this.lastZoomMs,
      ready: this.root.dataset.ready,
      pending: this.busy.size,
      view: this.views.train,
      views: this.views,
      plotted: this.plotted(),
      colors: { ...this.colors },
      tbOrder: this.tbOrder,
      dark: this.theme.dark,
      metas: Object.fromEntries([...this.metas].map(([r, m]) => [r, { role: m.role, axis: m.axis, placed: m.placed, train_run: m.train_run }])),
      charts: [...this.stepCharts.values()].map((c) => c.debug()),
      dists: [...this.distCards.values()].map((c) => c.debug()),
      drill: this.drill,
      drillInfo: this.drillPanel.debug(),
      tab: this.settings.tab,
      marks: this.marks,
      hardest: this.hardestCard?.debug() ?? null,
      classes: this.classCard?.debug() ?? null,
      anomaliesLoaded: this.anomalies.loaded,
      anomalies: this.anomalies.rows().map((a) => ({ run: a.run, tag: a.tag, step: a.step, kind: a.kind, score: a.score })),
    };
  }

  /** The per-class heatmaps (tests). */
  classHeat(): ClassHeatCard | null {
    return this.classCard;
  }

  /** The chart of a tag on an axis (tests). */
  chart(tag: string, axis: Axis = "train"): StepChart | undefined {
    return [...this.stepCharts.values()].find((c) => c.tag === tag && c.axis === axis);
  }
}
