// One chart of the Steps view: a scalar series (tag, and source where two writers wrote it),
// every plotted run of one x axis overlaid: runs one by one (line and M4 envelope), run groups
// (mean and min…max band) and validation runs placed on the training axis (one band per
// evaluation with its mean). The layers are built and read in model/step-layers.ts and
// model/step-points.ts, and drawn with ui/layer-drawing.ts; StepPointer (below) is the pointer and
// keys: tooltip with exact values, a click opens a step, drag, wheel and keys zoom.
import uPlot from "uplot";
import { fetchSeries } from "../api/client";
import type { Series } from "../api/types";
import type { Axis } from "../model/axes";
import { badgeHelp, badgeText, provenanceRuns } from "../model/badges";
import { Pin, pinnedYRange } from "../model/clipping";
import { exportFileName, exportHref } from "../model/exports";
import { hoverXLabel } from "../model/format";
import { keyRange, Range, wheelRange } from "../model/ranges";
import { nearestCandidate } from "../model/series";
import type { XMode } from "../model/settings";
import { chartHeight } from "../model/chart-size";
import { wheelAction } from "../model/wheel";
import {
  chartMembers, evalLayer, groupLayer, isConstant, Layer, layerRequests, layersSummary,
  layersXRange, layersYRange, plotData, RunLayer, runLayer, SeriesRequest, XPlacement,
} from "../model/step-layers";
import { exactKey, pointsNear, stepUnder, stepX, tipRowsAt, viewStepAt } from "../model/step-points";
import { axisNote, CardLoader, cardTitle, messageLine } from "../ui/card";
import { ChartHeader, FullScreenToggle, pinButton, showPinned } from "../ui/card-header";
import {
  DragAxis, DrawWaiters, drawDrillLine, onPlainClick, plotWidth, pointToClient, spanRange, takeSelection,
} from "../ui/chart-kit";
import type { ViewContext } from "../ui/context";
import { debounce, h } from "../ui/dom";
import { layerPlotOptions, paintOverLines, showConstants } from "../ui/layer-drawing";
import { hideTip, showTip } from "../ui/tooltip";
import { StepExtras } from "./step-extras";

const COMPACT_HEIGHT = 84;

export class StepChart {
  readonly root: HTMLElement;
  readonly plotEl: HTMLDivElement;
  private readonly header: ChartHeader;
  private readonly msgEl: HTMLDivElement;
  private readonly yChip: HTMLButtonElement;
  private readonly pinBtn: HTMLButtonElement;
  private readonly fullScreen: FullScreenToggle;
  private readonly loader: CardLoader;
  private readonly pointer: StepPointer;
  /** legend, log-y notice and data table (step-extras.ts) */
  private readonly extras: StepExtras;
  private readonly resizeObserver: ResizeObserver;
  readonly tag: string;
  /** the plot (tests read it) */
  u: uPlot | null = null;
  layers: Layer[] = [];
  /** the layer each series of the plot draws (0: x), and the key of that series set */
  private seriesLayer: (Layer | null)[] = [];
  private structKey = "";
  /** the y range drawn (tests read it) */
  yr: [number, number] = [0, 1];
  /** y range set by a modifier-drag (null: automatic) */
  yZoom: [number, number] | null = null;
  /** the pinned steps the y range was computed with */
  private pinsKey = "[]";
  range: Range | null = null;
  compact = false;
  /** the width the layers were loaded for, and the plot element's when last sized */
  loadedWidth = 0;
  private lastWidth = 0;
  private readonly draws = new DrawWaiters();

  constructor(readonly app: ViewContext, readonly key: string, readonly axis: Axis, readonly source?: string) {
    this.tag = key.split("\u0000")[0];
    this.msgEl = messageLine();
    this.plotEl = h("div", {
      class: "tbb-plot", tabindex: 0, role: "img",
      "aria-label": `Chart of ${this.tag}. Drag to zoom, Alt+drag zooms y, Ctrl or Command+wheel zooms, shift+wheel pans; keys: + and - zoom, arrows pan, 0 resets, Enter opens the step in the middle.`,
    });
    this.yChip = h("button", { type: "button", class: "tbb-chip", text: "y zoomed ✕", title: "Back to the automatic y range", hidden: true });
    this.yChip.addEventListener("click", () => { this.yZoom = null; this.render(); });
    this.pinBtn = pinButton(this.tag, () => this.app.pin(this.key));
    this.fullScreen = new FullScreenToggle(() => this.root, this.tag, () => !!this.app.drill, () => this.resize(true));
    this.extras = new StepExtras(this);
    this.header = new ChartHeader({
      title: cardTitle(this.tag, source ? h("span", { class: "tbb-muted tbb-sep", text: `· ${source}` }) : null, axisNote(axis)),
      provenance: true, chips: [this.yChip, this.extras.logNotice], csvTitle: "Download every point of a run as CSV", buttons: [this.pinBtn, this.fullScreen.button],
    });
    this.root = h("section",
      { class: "tbb-card tbb-chart", "data-tag": this.tag, "data-source": source ?? null, "data-axis": axis, "data-state": "init" },
      this.header.root, this.extras.legend.root, this.plotEl, this.msgEl, this.extras.table.root);
    this.loader = new CardLoader(this.root, (on) => this.app.chartBusy(this, on));
    this.pointer = new StepPointer(this);
    this.resizeObserver = new ResizeObserver(() => this.resize(false));
    this.resizeObserver.observe(this.plotEl);
  }

  get state(): CardLoader["state"] {
    return this.loader.state;
  }

  get mode(): XMode {
    return this.app.settings.xAxis;
  }

  /** Where the runs' points lie on this chart's x axis. */
  get place(): XPlacement {
    return { mode: this.mode, stepOffset: (r) => this.app.stepOffset(r), wall0: (r) => this.app.wall0(r) };
  }

  destroy(): void {
    this.loader.dispose();
    this.resizeObserver.disconnect();
    this.pointer.destroy();
    this.fullScreen.dispose();
    this.u?.destroy();
    this.u = null;
    this.root.remove();
  }

  setPinned(on: boolean): void {
    showPinned(this.pinBtn, on);
  }

  private height(): number {
    if (this.fullScreen.active) return Math.max(240, window.innerHeight - 110);
    return this.compact ? COMPACT_HEIGHT : chartHeight(this.app.settings.chartSize);
  }

  /** Width of the plotting area in CSS pixels: the `width` asked of the server. */
  plotWidth(): number {
    return plotWidth(this.u, this.plotEl, 66);
  }

  private resize(force: boolean): void {
    const w = this.plotEl.clientWidth;
    if (!this.u || w === 0 || (!force && Math.abs(w - this.lastWidth) < 2)) return;
    this.lastWidth = w;
    this.u.setSize({ width: w, height: this.height() });
    this.reloadAfterResize();
  }

  private reloadAfterResize = debounce(() => {
    if (Math.abs(this.plotWidth() - this.loadedWidth) > 4) void this.load();
  }, 250);

  /** The runs drawn one by one (or grouped), and the validation runs placed by evaluation. */
  members(): { runs: string[]; placed: string[] } {
    return chartMembers(this.app.plotted(), this.axis, (r) => this.app.meta(r), (r) => this.app.tagInfo(r, this.tag, "scalar", this.source)?.count ?? 0);
  }

  /** The union of the members' ranges (x units). */
  fullX(): Range | null {
    const { runs, placed } = this.members();
    return this.app.fullRange([...runs, ...placed], this.tag, this.axis, this.source);
  }

  /** Fetches every plotted run's series for the current view and redraws. */
  load(): Promise<void> {
    return this.loader.run((signal) => this.loadLayers(signal), (e) => {
      this.layers = [];
      this.msgEl.textContent = `Could not load ${this.tag}: ${e.message}`;
      this.render();
    });
  }

  private async loadLayers(signal: AbortSignal): Promise<"drawn" | "empty" | void> {
    const { runs, placed } = this.members();
    const view = this.app.view(this.axis);
    const full = this.fullX();
    this.range = full ? (view ? { ...view } : full) : null;
    if (!runs.length && !placed.length) {
      if (!this.u) this.build([[]]);
      this.layers = [];
      this.loader.setState("empty");
      this.msgEl.textContent = "No selected run has this tag.";
      this.render();
      return this.draws.next();
    }
    const width = this.plotWidth();
    const jobs = fetchLayers(this, runs, placed, view, width, signal);
    // the requests are out: build the empty chart meanwhile (its size is known)
    if (!this.u) this.build([[]]);
    const got = await Promise.all(jobs);
    if (signal.aborted) return;
    this.loadedWidth = width;
    this.layers = got.filter((l): l is Layer => !!l);
    this.pointer.clearExact();
    this.msgEl.textContent = this.layers.length ? "" : "No point of the selected runs in this range.";
    this.render();
    await this.draws.next();
    return this.layers.length ? "drawn" : "empty";
  }

  /** Rebuilds uPlot when the series set changes, else swaps the data in. */
  render(): void {
    const { log, outliers } = this.app.settings;
    const { data, seriesLayer } = plotData(this.layers, log);
    this.compact = isConstant(this.layers);
    this.yr = layersYRange(this.layers, { log, outliers, yZoom: this.yZoom });
    // ignoring outliers never clips the step the user opened or marked (model/clipping.ts)
    const pins = this.pins();
    this.pinsKey = JSON.stringify(pins);
    if (outliers && !this.yZoom && !this.compact) this.yr = pinnedYRange(this.yr, this.layers, pins, log);
    const key = [this.mode, log, this.compact, seriesLayer.map((l, i) => (l ? `${l.kind}:${"run" in l ? l.run : l.name}:${l.color}:${i}` : "x")).join("|"),
      this.app.theme.dark].join(";");
    if (!this.u || key !== this.structKey) {
      this.seriesLayer = seriesLayer;
      this.build(data, key);
    } else {
      this.u.setData(data as uPlot.AlignedData, true);
    }
    this.root.classList.toggle("tbb-compact", this.compact);
    showConstants(this.msgEl, this.compact ? this.layers : null);
    this.yChip.hidden = !this.yZoom;
    const x = this.xRange();
    if (this.u && x) this.u.setScale("x", { min: x[0], max: x[1] });
    this.renderBadges();
    this.extras.render();
  }

  /** The x range to show: the view (steps or relative steps); on wall-time axes the data's extent. */
  private xRange(): [number, number] | null {
    return layersXRange(this.layers, this.mode, this.range);
  }

  private build(data: (number | null)[][], key = ""): void {
    this.u?.destroy();
    this.structKey = key;
    const { log, smoothing } = this.app.settings;
    this.u = new uPlot(layerPlotOptions({
      axis: this.axis, mode: this.mode, theme: this.app.theme, log, smoothing, compact: this.compact, seriesLayer: this.seriesLayer,
      width: this.plotEl.clientWidth || 480, height: this.height(), layers: () => this.layers, xRange: () => this.xRange(), yRange: () => this.yr,
      hooks: { draw: (u) => this.drawOverlay(u), select: (u) => this.pointer.onSelect(u), cursor: (u) => this.pointer.onCursor(u) },
    }), data as uPlot.AlignedData, this.plotEl);
    this.lastWidth = this.plotEl.clientWidth;
    this.pointer.wire(this.u.over);
  }

  /** Over the lines: markers, carets and the marked sample (ui/layer-drawing.ts), the drill-down's
   * step; then whoever waits for a draw. */
  private drawOverlay(u: uPlot): void {
    const marks = this.app.marks;
    paintOverLines(u, this.layers, {
      yRange: this.yr, log: this.app.settings.log, bad: this.app.theme.bad, marks: marks ? { xs: this.marksX(), color: this.app.color(marks.run) } : null,
    });
    const d = this.app.drill;
    const dx = d ? this.stepX(d.run, d.step) : null;
    if (dx !== null) drawDrillLine(u, u.valToPos(dx, "x", true), this.app.theme.fg);
    this.draws.release();
  }

  /** x of a run's step on this chart (a placed validation step: its evaluation's). */
  stepX(run: string, step: number): number | null {
    return stepX(this.layers, this.app.meta(run), this.axis, this.place, run, step);
  }

  /** The xs of the marked sample's steps drawn on this chart. */
  private marksX(): number[] {
    const marks = this.app.marks;
    return marks ? marks.steps.map((st) => this.stepX(marks.run, st)).filter((x): x is number => x !== null) : [];
  }

  /** The badge (raw, reduced, sampled), one per provenance, and the CSV menu. */
  private renderBadges(): void {
    const all = [...this.layers.filter((l): l is RunLayer => l.kind === "run").map((l) => l.series),
      ...this.layers.flatMap((l) => (l.kind === "group" ? l.series : l.kind === "eval" ? [l.series] : []))];
    const b = badgeText(all.map((s) => ({ reduced: s.reduced, count: s.count, points: s.steps.length, sampled: s.sampled })));
    this.header.setBadge(b.text, b.kind, badgeHelp(b.kind));
    this.header.setProvenance(provenanceRuns(all, (r) => this.app.tagInfo(r, this.tag, "scalar", this.source)?.provenance));
    const runs = new Set(this.layers.flatMap((l) => (l.kind === "group" ? l.runs : [l.run])));
    this.header.setCsv([...runs].map((r) => ({
      run: r, color: this.app.color(r), download: exportFileName(r, this.tag), title: `Every point of ${this.tag} in ${r}`,
      href: exportHref(r, this.tag) + (this.source ? `&source=${encodeURIComponent(this.source)}` : ""),
    })));
  }

  /** The steps the y range keeps in view: the drill-down's and the marked sample's. */
  private pins(): Pin[] {
    const d = this.app.drill, m = this.app.marks;
    return [...(d ? [{ run: d.run, steps: [d.step] }] : []), ...(m ? [{ run: m.run, steps: m.steps }] : [])];
  }

  /** Redraws; anew with the y range when the pinned steps changed (a step opened, a sample marked). */
  redraw(): void {
    this.extras.update();
    if (this.layers.length && JSON.stringify(this.pins()) !== this.pinsKey) this.render();
    else this.u?.redraw(false);
  }

  /** The runs' colours changed: redraw with them (no new request). */
  recolor(): void {
    for (const l of this.layers) l.color = this.app.color(l.kind === "group" ? l.runs[0] : l.run);
    if (this.layers.length) this.render();
  }

  /** Summary for tests and the benchmark (window.__tbb). */
  debug() {
    return {
      tag: this.tag, key: this.key, axis: this.axis, state: this.state, width: this.loadedWidth, range: this.range,
      badge: this.header.badgeText, provenance: this.header.provenances(),
      compact: this.compact, ...layersSummary(this.layers), yRange: this.yr, yZoom: this.yZoom, marks: this.marksX(),
    };
  }

  /** Client position of a data point, for tests. */
  pointToClient(x: number, y: number): { x: number; y: number } | null {
    return this.u ? pointToClient(this.u, x, y) : null;
  }
}

/** Asks for every layer of a chart (model/step-layers.ts: which requests) and builds each from
 * its answer. */
function fetchLayers(
  chart: StepChart, runs: string[], placed: string[], view: Range | null, width: number, signal: AbortSignal,
): Promise<Layer | null>[] {
  const { app, tag, source, place, axis } = chart;
  const smoothing = app.settings.smoothing;
  const get = (r: SeriesRequest) => fetchSeries(r.run, tag, r.width, r.start, r.end, signal, source);
  return layerRequests({
    runs, placed, groups: app.groups(runs), view, width, place,
    tagInfo: (r) => app.tagInfo(r, tag, "scalar", source)!,
    evaluations: (r) => app.meta(r)!.info.evaluations ?? [],
    fullRange: (rs) => app.fullRange(rs, tag, axis, source),
  }).map((q): Promise<Layer | null> => {
    if (q.kind === "run") return get(q.request).then((s) => runLayer(s, width, app.color(s.run), smoothing, place));
    if (q.kind === "eval") return get(q.request).then((s) => evalLayer(s, app.meta(s.run)!, app.color(s.run), place));
    return Promise.all(q.requests.map(get)).then((ss: Series[]) => groupLayer(q.name, q.runs, ss, q.range, width, app.color(q.runs[0]), place));
  });
}

/** The pointer and keys of a Steps chart: the tooltip (exact values fetched for reduced data), a
 * click opens the nearest point's step, a drag zooms x (Alt/Ctrl/⌘+drag: y), Ctrl/⌘+wheel and
 * keys zoom and pan the axis' shared view, a double-click shows everything. */
class StepPointer {
  private hoverX: number | null = null;
  private inside = false;
  /** a mouse button is down (a drag): no tooltip */
  private pressed = false;
  private readonly dragAxis: DragAxis;
  private readonly exact = new Map<string, number>();
  private readonly onUp = () => { this.pressed = false; };
  /** Shift is held: the tooltip shows every digit */
  private allDigits = false;
  private readonly onShift = (e: KeyboardEvent) => {
    if (e.key !== "Shift" || this.allDigits === (e.type === "keydown")) return;
    this.allDigits = e.type === "keydown";
    if (this.inside && !this.pressed) this.showTooltip();
  };

  constructor(private readonly chart: StepChart) {
    this.dragAxis = new DragAxis(chart.plotEl, () => chart.u);
    chart.plotEl.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("mouseup", this.onUp);
    document.addEventListener("keydown", this.onShift);
    document.addEventListener("keyup", this.onShift);
    // a mouse event carries Shift even when the keys go to TensorBoard's page, not this frame
    // (capturing: before uPlot's own listener draws the tooltip)
    chart.plotEl.addEventListener("mousemove", (e) => { this.allDigits = e.shiftKey; }, true);
  }

  destroy(): void {
    document.removeEventListener("mouseup", this.onUp);
    document.removeEventListener("keydown", this.onShift);
    document.removeEventListener("keyup", this.onShift);
  }

  clearExact(): void {
    this.exact.clear();
  }

  /** Listens to a newly built plot. */
  wire(over: HTMLElement): void {
    const chart = this.chart;
    // (kept after a drag: the click that ends a drag is not a click on a point)
    over.addEventListener("mousedown", () => { this.pressed = true; hideTip(); });
    onPlainClick(over, (e) => this.onClick(e));
    over.addEventListener("dblclick", () => { chart.yZoom = null; chart.app.setView(chart.axis, null); chart.render(); });
    over.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    over.addEventListener("mouseenter", () => (this.inside = true));
    over.addEventListener("mouseleave", () => { this.inside = false; hideTip(); });
  }

  onSelect(u: uPlot): void {
    const chart = this.chart;
    if (this.dragAxis.selectsY) {
      const span = takeSelection(u, "y");
      if (!span) return;
      this.dragAxis.reset(u);
      if (span[1] > span[0]) { chart.yZoom = span; chart.render(); }
      return;
    }
    const span = takeSelection(u, "x");
    if (!span) return;
    const s0 = viewStepAt(chart.layers, span[0], chart.place), s1 = viewStepAt(chart.layers, span[1], chart.place);
    if (!Number.isFinite(s0) || !Number.isFinite(s1)) return;
    chart.app.setView(chart.axis, spanRange([Math.min(s0, s1), Math.max(s0, s1)]));
  }

  private onWheel(e: WheelEvent): void {
    const { u, app, axis, mode } = this.chart;
    const full = this.chart.fullX();
    // the plain wheel scrolls the page (model/wheel.ts)
    const action = wheelAction(e);
    if (!action || !u || !full || mode === "wall" || mode === "relwall") return;
    e.preventDefault();
    const center = u.posToVal(e.clientX - u.over.getBoundingClientRect().left, "x");
    app.setView(axis, wheelRange(app.view(axis) ?? full, full, { deltaX: e.deltaX, deltaY: e.deltaY, shiftKey: action === "pan" }, center));
  }

  private onKey(e: KeyboardEvent): void {
    const chart = this.chart, app = chart.app;
    const full = chart.fullX();
    if (!full) return;
    const cur = app.view(chart.axis) ?? full;
    const zoomed = (e.key === "ArrowLeft" || e.key === "ArrowRight") && app.drill ? null : keyRange(e.key, cur, full);
    if (zoomed) app.setView(chart.axis, zoomed);
    else if (e.key === "0" || e.key === "Home") { chart.yZoom = null; app.setView(chart.axis, null); }
    else if (e.key === "Enter" && chart.layers.length) {
      const l = chart.layers.find((q): q is RunLayer => q.kind === "run");
      if (l) app.openDrill(l.run, Math.round((cur.start + cur.end) / 2) + chart.place.stepOffset(l.run), chart.root);
    } else return;
    e.preventDefault();
  }

  /** A click opens the drill-down at the point nearest the cursor: column extremes included, so
   * clicking a spike's column opens the spike's step; an evaluation band opens its nearest batch. */
  private onClick(e: MouseEvent): void {
    const u = this.chart.u;
    if (!u || !this.chart.layers.length) return;
    const rect = u.over.getBoundingClientRect();
    const cx = e.clientX - rect.left, cy = e.clientY - rect.top;
    const x = u.posToVal(cx, "x");
    const slack = Math.abs(u.posToVal(cx + 3, "x") - x);
    const near = Math.abs(u.posToVal(cx + 4, "x") - x);
    // a value beyond the y range (ignored outliers, y zoom) counts as on that edge
    const yOf = (v: number) => (Number.isFinite(v) ? Math.min(rect.height, Math.max(0, u.valToPos(v, "y"))) : v === Infinity || Number.isNaN(v) ? 0 : rect.height);
    const candidates = pointsNear(this.chart.layers, x, near, slack, this.chart.place)
      .map((p) => ({ run: p.run, step: p.step, px: u.valToPos(p.x, "x"), py: yOf(p.y) }));
    const best = nearestCandidate(candidates, cx, cy);
    if (best) this.chart.app.openDrill(best.run, best.step, this.chart.root);
  }

  onCursor(u: uPlot): void {
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) {
      this.hoverX = null;
      if (this.inside) hideTip();
      return;
    }
    this.hoverX = u.posToVal(left, "x");
    if (this.inside && !this.pressed) {
      this.showTooltip();
      this.fetchExact();
    }
  }

  private showTooltip(): void {
    const x = this.hoverX, u = this.chart.u;
    if (x === null || !u) { hideTip(); return; }
    const pxSlack = Math.abs(u.posToVal(12, "x") - u.posToVal(0, "x"));
    const rows = tipRowsAt(this.chart.layers, x, { place: this.chart.place, exact: this.exact, loadedWidth: this.chart.loadedWidth, pxSlack, allDigits: this.allDigits });
    if (!rows.length) { hideTip(); return; }
    const note = [this.chart.layers.some((l) => l.kind === "run" && l.series.reduced) ? "≈: nearest drawn point; exact value follows" : "",
      this.allDigits ? "" : "Shift: every digit"].filter(Boolean).join(" · ");
    const r = u.over.getBoundingClientRect();
    showTip(r.left + (u.cursor.left ?? 0), r.top + (u.cursor.top ?? 0), hoverXLabel(this.chart.mode, this.chart.axis, x), rows, note);
  }

  /** For reduced data the point under the cursor may not be loaded: ask for that one step (one
   * request per run). Not during a drag, and not while a chart loads: a zoom's requests go first
   * (this asks again once every chart is drawn). */
  private fetchExact = debounce(async () => {
    const x = this.hoverX;
    const { app, tag, source, place } = this.chart;
    if (x === null || !this.inside || this.pressed) return;
    if (app.loading()) { this.fetchExact(); return; }
    const todo = this.chart.layers.filter((l): l is RunLayer => l.kind === "run" && l.series.reduced).map((l) => ({ l, step: stepUnder(l, x, place) }))
      .filter(({ l, step }) => Number.isFinite(step) && !this.exact.has(exactKey(l.run, step)) && step >= l.series.start && step <= l.series.end);
    if (!todo.length) return;
    const got = await Promise.all(todo.map(({ l, step }) => fetchSeries(l.run, tag, 1, step, step, undefined, source).catch(() => null)));
    got.forEach((s, i) => {
      if (s && s.steps.length && s.steps[0] === todo[i].step) this.exact.set(exactKey(todo[i].l.run, todo[i].step), s.values[0]);
    });
    if (this.hoverX === x && this.inside) this.showTooltip();
  }, 120);
}
