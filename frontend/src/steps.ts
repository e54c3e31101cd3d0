// One chart of the Steps view: a scalar series (tag, and source where two writers wrote it),
// every plotted run of one x axis overlaid: runs one by one (line and M4 envelope), run groups
// (mean and min…max band) and validation runs placed on the training axis (one band per
// evaluation with its mean).
import uPlot from "uplot";
import { fetchSeries, Series } from "./api";
import { Axis, EvalBand, evaluationBands, evaluationStepRange } from "./axes";
import { withAlpha } from "./colors";
import type { Ctx, XMode } from "./ctx";
import { clear, debounce, h, icon } from "./dom";
import { aggregate, Aggregate } from "./groups";
import {
  badgeText, buildEnvelope, columnAt, columnsNear, compactNum, Envelope, exportFileName, exportHref, fmtNum, fmtStep,
  nearestCandidate, nearestIndex, panRange, Range, robustYRange, smooth, wallToStep, yRange, zoomRange, alignSeries,
} from "./logic";
import { PROVENANCE_HELP, PROVENANCE_LABEL } from "./tags";
import { hideTip, showTip, TipRow } from "./tooltip";

export const CHART_HEIGHT = 200;
const COMPACT_HEIGHT = 84;

export { withAlpha };

interface RunLayer {
  kind: "run";
  run: string;
  color: string;
  s: Series;
  env: Envelope;
  smooth: number[] | null;
}

interface GroupLayer {
  kind: "group";
  name: string;
  runs: string[];
  color: string;
  agg: Aggregate;
  series: Series[];
}

interface EvalLayer {
  kind: "eval";
  run: string;
  color: string;
  s: Series;
  bands: EvalBand[];
  xs: number[];
}

type Layer = RunLayer | GroupLayer | EvalLayer;

/** Duration labels of the relative wall-time axis (seconds since each run's start). */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "";
  const a = Math.abs(s), sign = s < 0 ? "-" : "";
  if (a < 60) return `${sign}${+a.toPrecision(3)}s`;
  if (a < 3600) return `${sign}${+(a / 60).toPrecision(3)}m`;
  if (a < 86400 * 3) return `${sign}${+(a / 3600).toPrecision(3)}h`;
  return `${sign}${+(a / 86400).toPrecision(3)}d`;
}

const AXIS_FONT = "11px system-ui, sans-serif";
let measureCtx: CanvasRenderingContext2D | null = null;

/** Width (CSS px) the longest label of an axis needs, so that no label is clipped. */
export function labelWidth(labels: readonly string[]): number {
  measureCtx ??= document.createElement("canvas").getContext("2d");
  if (!measureCtx) return 60;
  measureCtx.font = AXIS_FONT;
  let w = 0;
  for (const l of labels) w = Math.max(w, measureCtx.measureText(l ?? "").width);
  return Math.ceil(w);
}

export function xAxisValues(mode: XMode) {
  if (mode === "wall") return undefined; // uPlot's own date/time labels
  if (mode === "relwall") return (_u: uPlot, splits: number[]) => splits.map((v) => (v == null ? "" : fmtDuration(v)));
  return (_u: uPlot, splits: number[]) => splits.map((v) => (v == null ? "" : compactNum(v)));
}

export function yAxisValues(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (v == null ? "" : fmtNum(v)));
}

export function baseAxes(ctx: Ctx, mode: XMode, xLabel = ""): uPlot.Axis[] {
  const t = ctx.theme;
  const common = {
    stroke: t.fg,
    grid: { stroke: t.grid, width: 1 },
    ticks: { stroke: t.grid, width: 1 },
    font: AXIS_FONT,
  };
  return [
    { ...common, values: xAxisValues(mode) as any, space: mode === "wall" ? 90 : 60, label: xLabel || undefined, labelSize: xLabel ? 14 : undefined, labelFont: AXIS_FONT },
    {
      ...common,
      values: yAxisValues as any,
      // as wide as the longest label (plus tick and gap): never clipped
      size: (u: uPlot, values: string[]) => (values ? labelWidth(values) + 14 : 40),
    },
  ];
}

/** Saves the canvas state of a chart and clips drawing to its plot area (restore it after). */
export function clipToPlot(u: uPlot): CanvasRenderingContext2D {
  const { left, top, width, height } = u.bbox;
  const c = u.ctx;
  c.save();
  c.beginPath();
  c.rect(left, top, width, height);
  c.clip();
  return c;
}

/** The drill-down's step on a chart: a dashed vertical line at canvas x (device pixels), when
 * inside the plot. */
export function drawDrillLine(u: uPlot, x: number, color: string): void {
  const { left, top, width, height } = u.bbox;
  if (!(x >= left && x <= left + width)) return;
  const c = u.ctx, px = uPlot.pxRatio;
  c.save();
  c.strokeStyle = color;
  c.lineWidth = px;
  c.setLineDash([4 * px, 3 * px]);
  c.beginPath();
  c.moveTo(Math.round(x) + 0.5, top);
  c.lineTo(Math.round(x) + 0.5, top + height);
  c.stroke();
  c.restore();
}

/** The sync key of a chart's cursor: charts of one x axis show one crosshair. */
export const syncKey = (axis: Axis) => `tbb-${axis}`;

export function cursorSync(axis: Axis): uPlot.Cursor.Sync {
  return {
    key: syncKey(axis),
    setSeries: false,
    // only the crosshair: a drag or click stays with its own chart
    filters: { pub: (type: string) => type === "mousemove" || type === "mouseleave" || type === "mouseenter" },
  } as uPlot.Cursor.Sync;
}

export class StepChart {
  readonly root: HTMLElement;
  private readonly plotEl: HTMLDivElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly provEl: HTMLSpanElement;
  private readonly msgEl: HTMLDivElement;
  private readonly csvList: HTMLUListElement;
  private readonly yChip: HTMLButtonElement;
  private readonly pinBtn: HTMLButtonElement;
  private readonly fullBtn: HTMLButtonElement;
  readonly tag: string;
  u: uPlot | null = null;
  private structKey = "";
  layers: Layer[] = [];
  private seriesLayer: (Layer | null)[] = [];
  private abort: AbortController | null = null;
  yr: [number, number] = [0, 1];
  range: Range | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  private drawWaiters: (() => void)[] = [];
  private hoverX: number | null = null;
  private inside = false;
  private exact = new Map<string, number>();
  private downAt: { x: number; y: number } | null = null;
  /** a mouse button is down (a drag): no tooltip */
  private pressed = false;
  private onUp = () => { this.pressed = false; };
  private lastWidth = 0;
  private ro: ResizeObserver | null = null;
  private loadedWidth = 0;
  /** y range set by a modifier-drag (null: automatic) */
  yZoom: [number, number] | null = null;
  private dragY = false;
  full = false;
  compact = false;

  constructor(private readonly ctx: Ctx, readonly key: string, readonly axis: Axis, readonly source?: string) {
    this.tag = key.split("\u0000")[0];
    this.badgeEl = h("span", { class: "tbb-badge" });
    this.provEl = h("span", { class: "tbb-provs" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.plotEl = h("div", {
      class: "tbb-plot",
      tabindex: 0,
      role: "img",
      "aria-label": `Chart of ${this.tag}. Drag to zoom, Alt+drag zooms y, wheel zooms, shift+wheel pans; keys: + and - zoom, arrows pan, 0 resets, Enter opens the step in the middle.`,
    });
    this.yChip = h("button", { type: "button", class: "tbb-chip", text: "y zoomed ✕", title: "Back to the automatic y range", hidden: true });
    this.yChip.addEventListener("click", () => { this.yZoom = null; this.render(); });
    this.pinBtn = h("button", { type: "button", class: "tbb-icon", title: "Pin this chart to the top", "aria-pressed": "false", "aria-label": `Pin ${this.tag}`, "data-action": "pin" }, icon("pin"));
    this.pinBtn.addEventListener("click", () => this.ctx.pin(this.key));
    this.fullBtn = h("button", { type: "button", class: "tbb-icon", title: "Full screen (Esc leaves)", "aria-label": `Full screen ${this.tag}`, "data-action": "full" }, icon("full"));
    this.fullBtn.addEventListener("click", () => this.setFull(!this.full));
    this.csvList = h("ul", { class: "tbb-menu-list" });
    const csv = h("details", { class: "tbb-menu" }, h("summary", { class: "tbb-icon", text: "CSV", title: "Download every point of a run as CSV" }), this.csvList);
    const title = h("h3", { class: "tbb-title", title: this.tag }, h("span", { text: this.tag }),
      source ? h("span", { class: "tbb-muted tbb-sep", text: `· ${source}` }) : null,
      axis === "val" ? h("span", { class: "tbb-axis-note", text: "validation batches" }) : null);
    this.root = h(
      "section",
      { class: "tbb-card tbb-chart", "data-tag": this.tag, "data-source": source ?? null, "data-axis": axis, "data-state": "init" },
      h("header", { class: "tbb-card-head" }, title, this.provEl, this.badgeEl, this.yChip, csv, this.pinBtn, this.fullBtn),
      this.plotEl,
      this.msgEl,
    );
    // Alt/Ctrl/⌘ + drag selects a y range instead of a step range
    this.plotEl.addEventListener("mousedown", (e) => {
      this.dragY = e.altKey || e.ctrlKey || e.metaKey;
      if (this.u) {
        this.u.cursor.drag!.x = !this.dragY;
        this.u.cursor.drag!.y = this.dragY;
      }
    }, true);
    this.plotEl.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("mouseup", this.onUp);
    this.ro = new ResizeObserver(() => this.onResize());
    this.ro.observe(this.plotEl);
  }

  destroy(): void {
    this.abort?.abort();
    this.ctx.chartBusy(this, false);
    this.ro?.disconnect();
    document.removeEventListener("mouseup", this.onUp);
    this.u?.destroy();
    this.u = null;
    if (this.full) document.removeEventListener("keydown", this.onFullKey);
    this.root.remove();
  }

  private setState(s: StepChart["state"]): void {
    this.state = s;
    this.root.dataset.state = s;
  }

  private get mode(): XMode {
    return this.ctx.settings.xAxis;
  }

  private height(): number {
    if (this.full) return Math.max(240, window.innerHeight - 110);
    return this.compact ? COMPACT_HEIGHT : CHART_HEIGHT;
  }

  setFull(on: boolean): void {
    if (on === this.full) return;
    this.full = on;
    this.root.classList.toggle("tbb-full", on);
    this.fullBtn.setAttribute("aria-pressed", String(on));
    this.fullBtn.replaceChildren(icon(on ? "exit" : "full"));
    if (on) document.addEventListener("keydown", this.onFullKey);
    else document.removeEventListener("keydown", this.onFullKey);
    this.resize(true);
    if (!on) this.root.scrollIntoView({ block: "nearest" });
  }

  private onFullKey = (e: KeyboardEvent) => {
    if (e.key === "Escape" && !this.ctx.drill) { this.setFull(false); e.preventDefault(); }
  };

  setPinned(on: boolean): void {
    this.pinBtn.setAttribute("aria-pressed", String(on));
    this.pinBtn.title = on ? "Unpin" : "Pin this chart to the top";
  }

  /** Width of the plotting area in CSS pixels: the `width` asked of the server. */
  plotWidth(): number {
    if (this.u) return Math.max(16, Math.round(this.u.bbox.width / uPlot.pxRatio));
    return Math.max(16, (this.plotEl.clientWidth || 400) - 66);
  }

  private onResize(): void {
    this.resize(false);
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

  // ---------------------------------------------------------------- which runs, which steps

  /** The runs drawn one by one, the groups, and the validation runs placed by evaluation. */
  members(): { runs: string[]; placed: string[] } {
    const runs: string[] = [], placed: string[] = [];
    for (const r of this.ctx.plotted()) {
      const m = this.ctx.meta(r);
      const ti = this.ctx.tagInfo(r, this.tag, "scalar", this.source);
      if (!m || !ti || ti.count === 0) continue;
      if (this.axis === "val") { if (m.axis === "val") runs.push(r); }
      else if (m.placed) placed.push(r);
      else if (m.axis === "train") runs.push(r);
    }
    return { runs, placed };
  }

  private stepOffset(run: string): number {
    return this.mode === "relstep" ? this.ctx.stepOffset(run) : 0;
  }

  private xOf(run: string, step: number, wall: number): number {
    switch (this.mode) {
      case "step": return step;
      case "relstep": return step - this.ctx.stepOffset(run);
      case "wall": return wall;
      case "relwall": return wall - (this.ctx.wall0(run) ?? 0);
    }
  }

  /** Fetches every plotted run's series for the current view and redraws. */
  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.ctx.chartBusy(this, true);
    const { runs, placed } = this.members();
    const full = this.ctx.fullRange([...runs, ...placed], this.tag, this.axis, this.source);
    const view = this.ctx.view(this.axis);
    this.range = full ? (view ? { ...view } : full) : null;
    if (!runs.length && !placed.length) {
      if (!this.u) this.build([[]]);
      this.layers = [];
      this.setState("empty");
      this.msgEl.textContent = "No selected run has this tag.";
      this.render();
      await this.drawn();
      if (this.abort === ac) this.ctx.chartBusy(this, false);
      return;
    }
    this.setState("loading");
    const width = this.plotWidth();
    const sig = ac.signal;
    const src = this.source;
    const stepsMode = this.mode === "step" || this.mode === "relstep";
    try {
      const jobs: Promise<Layer | null>[] = [];
      const groups = this.ctx.groups(runs) ?? runs.map((r) => ({ name: r, runs: [r] }));
      for (const g of groups) {
        if (g.runs.length === 1) {
          const r = g.runs[0];
          const ti = this.ctx.tagInfo(r, this.tag, "scalar", src)!;
          const off = this.stepOffset(r);
          const start = view ? Math.max(view.start + off, ti.first_step) : ti.first_step;
          const end = view ? Math.min(view.end + off, ti.last_step) : ti.last_step;
          if (start > end) continue;
          jobs.push(fetchSeries(r, this.tag, width, start, end, sig, src).then((s) => this.runLayer(s, width)));
        } else {
          // every member on one column grid (the same range in x units, same width)
          const R = view ?? this.ctx.fullRange(g.runs, this.tag, this.axis, src);
          if (!R) continue;
          const parts = g.runs.map((r) => {
            const ti = this.ctx.tagInfo(r, this.tag, "scalar", src)!;
            const off = stepsMode ? this.stepOffset(r) : 0;
            if (R.end + off < ti.first_step || R.start + off > ti.last_step) return null;
            return fetchSeries(r, this.tag, width, R.start + off, R.end + off, sig, src);
          });
          jobs.push(Promise.all(parts).then((ss) => this.groupLayer(g.name, g.runs, ss.filter((s): s is Series => !!s), R, width)));
        }
      }
      for (const r of placed) {
        const m = this.ctx.meta(r)!;
        const evals = m.info.evaluations ?? [];
        const ti = this.ctx.tagInfo(r, this.tag, "scalar", src)!;
        const off = this.stepOffset(r);
        const vr = view && stepsMode ? evaluationStepRange(evals, view.start + off, view.end + off)
          : view ? evaluationStepRange(evals, view.start, view.end) : { start: ti.first_step, end: ti.last_step };
        if (!vr) continue;
        // raw up to 80,000 points (4 per column): every batch of every evaluation
        const w = Math.min(20000, Math.max(width, Math.ceil(ti.count / 4) + 1));
        const start = Math.max(vr.start, ti.first_step), end = Math.min(vr.end, ti.last_step);
        if (start > end) continue;
        jobs.push(fetchSeries(r, this.tag, w, start, end, sig, src).then((s) => this.evalLayer(s)));
      }
      // the requests are out: build the empty chart meanwhile (its size is known)
      if (!this.u) this.build([[]]);
      const got = await Promise.all(jobs);
      if (sig.aborted) return;
      this.loadedWidth = width;
      this.layers = got.filter((l): l is Layer => !!l);
      this.exact.clear();
      this.msgEl.textContent = this.layers.length ? "" : "No point of the selected runs in this range.";
      this.render();
      await this.drawn();
      if (sig.aborted) return;
      this.setState(this.layers.length ? "drawn" : "empty");
    } catch (e) {
      if (sig.aborted || (e as Error).name === "AbortError") return;
      this.layers = [];
      this.msgEl.textContent = `Could not load ${this.tag}: ${(e as Error).message}`;
      this.render();
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }

  private runLayer(s: Series, width: number): RunLayer {
    const xs = new Float64Array(s.steps.length);
    for (let i = 0; i < xs.length; i++) xs[i] = this.xOf(s.run, s.steps[i], s.walls[i]);
    const env = buildEnvelope(s.steps, s.values, xs, s.start, s.end, width, s.reduced);
    const sm = this.ctx.settings.smoothing;
    return { kind: "run", run: s.run, color: this.ctx.color(s.run), s, env, smooth: sm > 0 ? smooth(env.lineY, sm) : null };
  }

  private groupLayer(name: string, runs: string[], ss: Series[], R: Range, width: number): GroupLayer | null {
    if (!ss.length) return null;
    const stepsMode = this.mode === "step" || this.mode === "relstep";
    const members = ss.map((s) => {
      const off = stepsMode ? this.stepOffset(s.run) : 0;
      const steps = Array.from(s.steps, (v) => v - off);
      const xs = Array.from(s.steps, (v, i) => this.xOf(s.run, v, s.walls[i]));
      return { steps, values: s.values, xs, reduced: s.reduced };
    });
    const agg = aggregate(members, R.start, R.end, width);
    return { kind: "group", name, runs, color: this.ctx.color(runs[0]), agg, series: ss };
  }

  private evalLayer(s: Series): EvalLayer {
    const m = this.ctx.meta(s.run)!;
    const bands = evaluationBands(m.info.evaluations ?? [], s.steps, s.values, s.walls);
    const trainRun = m.train_run ?? s.run;
    const xs = bands.map((b) => {
      switch (this.mode) {
        case "step": return b.trainStep;
        case "relstep": return b.trainStep - this.ctx.stepOffset(trainRun);
        case "wall": return b.wall;
        case "relwall": return b.wall - (this.ctx.wall0(trainRun) ?? this.ctx.wall0(s.run) ?? 0);
      }
    });
    return { kind: "eval", run: s.run, color: this.ctx.color(s.run), s, bands, xs };
  }

  /** Resolves after uPlot's next draw (or after 2 s, should it never draw). */
  private drawn(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.drawWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  // ---------------------------------------------------------------- drawing

  private computeY(): void {
    const log = this.ctx.settings.log;
    const lines: ArrayLike<number>[] = [];
    let lo = Infinity, hi = -Infinity, pos = Infinity;
    const see = (v: number) => {
      if (!Number.isFinite(v)) return;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v > 0 && v < pos) pos = v;
    };
    for (const l of this.layers) {
      if (l.kind === "run") {
        lines.push(l.env.lineY);
        see(l.env.yMin); see(l.env.yMax); see(l.env.yMinPos);
      } else if (l.kind === "group") {
        lines.push(l.agg.mean, l.agg.lo, l.agg.hi);
        for (const v of l.agg.lo) see(v);
        for (const v of l.agg.hi) see(v);
      } else {
        const vals = l.bands.flatMap((b) => b.values);
        lines.push(vals);
        for (const v of vals) see(v);
      }
    }
    this.compact = this.layers.length > 0 && this.layers.every((l) => l.kind === "run" && l.env.yMin === l.env.yMax && l.env.markers.length === 0);
    if (this.yZoom) this.yr = this.yZoom;
    else if (this.ctx.settings.outliers && !this.compact) this.yr = robustYRange(lines, log ? pos : lo, hi, log);
    else this.yr = yRange([lo], [hi], [pos], log);
  }

  /** Rebuilds uPlot when the series set changes, else swaps the data in. */
  render(): void {
    const log = this.ctx.settings.log;
    const pos = (ys: ArrayLike<number>) => Array.from(ys, (v) => (log && !(v > 0) ? null : v));
    const lines: { x: ArrayLike<number>; y: ArrayLike<number | null> }[] = [];
    const seriesLayer: (Layer | null)[] = [null];
    for (const l of this.layers) if (l.kind === "run") { lines.push({ x: l.env.lineX, y: pos(l.env.lineY) }); seriesLayer.push(l); }
    for (const l of this.layers) if (l.kind === "run" && l.smooth) { lines.push({ x: l.env.lineX, y: pos(l.smooth) }); seriesLayer.push(l); }
    for (const l of this.layers) if (l.kind === "group") { lines.push({ x: l.agg.x, y: pos(l.agg.mean) }); seriesLayer.push(l); }
    for (const l of this.layers) if (l.kind === "eval") { lines.push({ x: l.xs, y: pos(l.bands.map((b) => b.mean)) }); seriesLayer.push(l); }
    const data = lines.length ? alignSeries(lines) : [[]];
    this.computeY();
    const key = [this.mode, log, this.compact, seriesLayer.map((l, i) => (l ? `${l.kind}:${"run" in l ? l.run : l.name}:${l.color}:${i}` : "x")).join("|"),
      this.ctx.theme.dark].join(";");
    if (!this.u || key !== this.structKey) {
      this.seriesLayer = seriesLayer;
      this.build(data, key);
    } else {
      this.u.setData(data as uPlot.AlignedData, true);
    }
    this.root.classList.toggle("tbb-compact", this.compact);
    this.renderConstants();
    this.yChip.hidden = !this.yZoom;
    this.applyXRange();
    this.renderBadges();
    this.renderCsv();
  }

  /** The distinct values of a chart whose every run is constant (at most 6). */
  private levels(): number[] {
    const v = [...new Set(this.layers.flatMap((l) => (l.kind === "run" ? [l.env.yMin] : [])))].sort((a, b) => a - b);
    return v.length <= 6 ? v : [v[0], v[v.length - 1]];
  }

  /** A constant chart says its values in words (the plot is only as tall as a strip). */
  private renderConstants(): void {
    if (!this.compact) {
      if (this.msgEl.dataset.kind === "constant") { this.msgEl.textContent = ""; delete this.msgEl.dataset.kind; }
      return;
    }
    clear(this.msgEl);
    this.msgEl.dataset.kind = "constant";
    this.msgEl.append("constant: ");
    this.layers.forEach((l, i) => {
      if (l.kind !== "run") return;
      this.msgEl.append(i ? " · " : "", h("span", { class: "tbb-swatch", style: `background:${l.color}` }),
        h("span", { text: `${fmtNum(l.env.yMin)} ` }), h("span", { class: "tbb-muted", text: l.run }));
    });
  }

  private applyXRange(): void {
    const u = this.u;
    if (!u) return;
    const r = this.xRange();
    if (r) u.setScale("x", { min: r[0], max: r[1] });
  }

  /** The x range to show: the view (steps or relative steps); on wall-time axes the data's extent. */
  private xRange(): [number, number] | null {
    if (this.mode === "step" || this.mode === "relstep") {
      if (!this.range) return null;
      const { start, end } = this.range;
      return start === end ? [start - 0.5, end + 0.5] : [start, end];
    }
    let lo = Infinity, hi = -Infinity;
    for (const l of this.layers) {
      const xs = l.kind === "run" ? l.env.lineX : l.kind === "group" ? l.agg.x : l.xs;
      for (const v of l.kind === "run" ? [...xs, ...l.env.markers.map((m) => m.x)] : xs) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (!(lo <= hi)) return null;
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  }

  private build(data: (number | null)[][], key = ""): void {
    this.u?.destroy();
    const log = this.ctx.settings.log;
    const smoothing = this.ctx.settings.smoothing > 0;
    const xLabel = this.axis === "val" ? "validation batch" : this.mode === "relstep" ? "steps since the run's start"
      : this.mode === "relwall" ? "time since the run's start" : "";
    const series: uPlot.Series[] = [{ label: "x" }];
    const smoothed = new Set<Layer>();
    for (const l of this.seriesLayer.slice(1)) {
      if (!l) continue;
      if (l.kind === "run") {
        const isSmooth = smoothed.has(l) || false;
        if (!isSmooth && l.smooth) smoothed.add(l);
        series.push(isSmooth
          ? { label: `${l.run} (smoothed)`, stroke: l.color, width: 2, spanGaps: true, points: { show: false } }
          : { label: l.run, stroke: smoothing ? withAlpha(l.color, 0.45) : l.color, width: 1.25, spanGaps: true, points: { show: false } });
      } else if (l.kind === "group") {
        series.push({ label: `${l.name} (mean)`, stroke: l.color, width: 2, spanGaps: true, points: { show: false } });
      } else {
        series.push({
          label: `${l.run} (evaluation mean)`, stroke: l.color, width: 1.5, dash: [5, 3], spanGaps: true,
          points: { show: true, size: 7, fill: l.color, stroke: this.ctx.theme.bg, width: 1.5 },
        });
      }
    }
    const opts: uPlot.Options = {
      width: this.plotEl.clientWidth || 480,
      height: this.height(),
      legend: { show: false },
      padding: [10, this.mode === "wall" ? 30 : 14, 0, 0],
      cursor: {
        drag: { x: true, y: false, setScale: false, click: () => {} },
        points: { show: false },
        y: false,
        bind: { dblclick: () => null } as any,
        sync: cursorSync(this.axis),
      },
      scales: {
        x: { time: this.mode === "wall", range: (_u, mn, mx) => this.xRange() ?? [mn, mx] },
        y: log
          ? { distr: 3, log: 10, range: () => (this.yr[0] > 0 && this.yr[1] > this.yr[0] ? this.yr : [0.1, 10]) }
          : { range: () => this.yr },
      },
      axes: (() => {
        const axes = baseAxes(this.ctx, this.mode, xLabel);
        // a constant series: one tick per level, nothing else
        if (this.compact) axes[1] = { ...axes[1], splits: () => this.levels() };
        return axes;
      })(),
      series,
      hooks: {
        drawAxes: [(u) => this.drawUnder(u)],
        draw: [(u) => this.drawOverlay(u)],
        setSelect: [(u) => this.onSelect(u)],
        setCursor: [(u) => this.onCursor(u)],
      },
    };
    this.structKey = key;
    this.u = new uPlot(opts, data as uPlot.AlignedData, this.plotEl);
    this.lastWidth = this.plotEl.clientWidth;
    const over = this.u.over;
    // (kept after a drag: the click that ends a drag is not a click on a point)
    over.addEventListener("mousedown", (e) => { this.downAt = { x: e.clientX, y: e.clientY }; this.pressed = true; hideTip(); });
    over.addEventListener("click", (e) => this.onClick(e));
    over.addEventListener("dblclick", () => { this.yZoom = null; this.ctx.setView(this.axis, null); this.render(); });
    over.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    over.addEventListener("mouseenter", () => (this.inside = true));
    over.addEventListener("mouseleave", () => { this.inside = false; hideTip(); });
  }

  /** Under the lines: M4 envelopes, group bands, evaluation bands. */
  private drawUnder(u: uPlot): void {
    const c = clipToPlot(u);
    const px = uPlot.pxRatio;
    const minW = Math.max(1, px);
    const floor = this.yr[0];
    const log = this.ctx.settings.log;
    const yPos = (v: number) => u.valToPos(log && !(v > 0) ? floor : Math.max(Math.min(v, 1e300), -1e300), "y", true);
    const faint = this.ctx.settings.smoothing > 0;
    for (const l of this.layers) {
      if (l.kind === "run" && l.s.reduced) {
        const e = l.env;
        const n = e.x0.length;
        const xa = new Float64Array(n), xb = new Float64Array(n), ya = new Float64Array(n), yb = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          xa[i] = u.valToPos(e.x0[i], "x", true);
          xb[i] = u.valToPos(e.x1[i], "x", true);
          ya[i] = yPos(e.hi[i]);
          yb[i] = yPos(e.lo[i]);
        }
        // the shaded area: each column from its min to its max
        c.fillStyle = withAlpha(l.color, faint ? 0.18 : 0.3);
        for (let i = 0; i < n; i++) {
          let x0 = xa[i], w = xb[i] - xa[i], y0 = ya[i], hh = yb[i] - ya[i];
          if (w < minW) { x0 -= (minW - w) / 2; w = minW; }
          if (hh < minW) { y0 -= (minW - hh) / 2; hh = minW; }
          c.fillRect(x0, y0, w, hh);
        }
        // its outline (through every column's max, and every column's min): a lone spike
        // stays a crisp line at any zoom
        c.strokeStyle = withAlpha(l.color, faint ? 0.35 : 0.6);
        c.lineWidth = px;
        for (const ys of [ya, yb]) {
          c.beginPath();
          for (let i = 0; i < n; i++) {
            const xm = (xa[i] + xb[i]) / 2;
            if (i === 0) c.moveTo(xm, ys[i]);
            else c.lineTo(xm, ys[i]);
          }
          c.stroke();
        }
      } else if (l.kind === "group") {
        const a = l.agg;
        if (!a.x.length) continue;
        c.fillStyle = withAlpha(l.color, 0.22);
        c.beginPath();
        for (let i = 0; i < a.x.length; i++) {
          const x = u.valToPos(a.x[i], "x", true), y = yPos(a.hi[i]);
          if (i === 0) c.moveTo(x, y); else c.lineTo(x, y);
        }
        for (let i = a.x.length - 1; i >= 0; i--) c.lineTo(u.valToPos(a.x[i], "x", true), yPos(a.lo[i]));
        c.closePath();
        c.fill();
      } else if (l.kind === "eval") {
        c.fillStyle = withAlpha(l.color, 0.35);
        c.strokeStyle = l.color;
        c.lineWidth = px;
        l.bands.forEach((b, i) => {
          if (!(b.n > 0)) return;
          const x = u.valToPos(l.xs[i], "x", true);
          const y0 = yPos(b.max), y1 = yPos(b.min);
          const w = 5 * px;
          c.fillRect(x - w / 2, y0, w, Math.max(minW, y1 - y0));
          c.beginPath();
          c.moveTo(x - w / 2, y0); c.lineTo(x + w / 2, y0);
          c.moveTo(x - w / 2, y1); c.lineTo(x + w / 2, y1);
          c.stroke();
        });
      }
    }
    c.restore();
  }

  /** Non-finite markers (NaN and +Inf at the top, -Inf at the bottom), points above the y range
   * (ignored outliers, y zoom) and the drill-down step. */
  private drawOverlay(u: uPlot): void {
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const px = uPlot.pxRatio;
    c.save();
    c.beginPath();
    c.rect(left, top - 6 * px, width, height + 12 * px);
    c.clip();
    const s = 5 * px;
    for (const l of this.layers) {
      if (l.kind !== "run") continue;
      for (const m of l.env.markers) {
        const x = u.valToPos(m.x, "x", true);
        if (x < left - 1 || x > left + width + 1) continue;
        c.fillStyle = this.ctx.theme.bad;
        c.strokeStyle = l.color;
        c.lineWidth = px;
        c.beginPath();
        if (m.kind === "-inf") {
          const y = top + height;
          c.moveTo(x - s, y - s * 1.6); c.lineTo(x + s, y - s * 1.6); c.lineTo(x, y);
        } else if (m.kind === "inf") {
          c.moveTo(x - s, top + s * 1.6); c.lineTo(x + s, top + s * 1.6); c.lineTo(x, top);
        } else {
          c.rect(x - s * 0.7, top, s * 1.4, s * 1.4);
        }
        c.closePath();
        c.fill();
        c.stroke();
      }
    }
    // values beyond the y range: a small caret in the run's colour on that edge
    const [ylo, yhi] = this.yr;
    for (const l of this.layers) {
      const hiX: number[] = [], loX: number[] = [];
      if (l.kind === "run") {
        const e = l.env;
        const xs = l.s.reduced ? e.hiX : e.lineX, ys = l.s.reduced ? e.hi : e.lineY;
        xs.forEach((x, i) => { if (ys[i] > yhi) hiX.push(x); });
        const xl = l.s.reduced ? e.loX : e.lineX, yl = l.s.reduced ? e.lo : e.lineY;
        xl.forEach((x, i) => { if (yl[i] < ylo) loX.push(x); });
      } else if (l.kind === "group") {
        l.agg.x.forEach((x, i) => { if (l.agg.hi[i] > yhi) hiX.push(x); if (l.agg.lo[i] < ylo) loX.push(x); });
      } else {
        l.bands.forEach((b, i) => { if (b.max > yhi) hiX.push(l.xs[i]); if (b.min < ylo) loX.push(l.xs[i]); });
      }
      c.fillStyle = l.color;
      let last = -Infinity;
      for (const x of hiX) {
        const xp = u.valToPos(x, "x", true);
        if (xp - last < 4 * px) continue;
        last = xp;
        c.beginPath();
        c.moveTo(xp - 3 * px, top + 5 * px); c.lineTo(xp + 3 * px, top + 5 * px); c.lineTo(xp, top);
        c.closePath();
        c.fill();
      }
      last = -Infinity;
      if (this.ctx.settings.log) continue;
      for (const x of loX) {
        const xp = u.valToPos(x, "x", true);
        if (xp - last < 4 * px) continue;
        last = xp;
        c.beginPath();
        c.moveTo(xp - 3 * px, top + height - 5 * px); c.lineTo(xp + 3 * px, top + height - 5 * px); c.lineTo(xp, top + height);
        c.closePath();
        c.fill();
      }
    }
    // the marked sample's steps: a faint line and a mark on the bottom edge, in its run's colour
    const mk = this.ctx.marks;
    if (mk) {
      const color = this.ctx.color(mk.run);
      c.lineWidth = px;
      c.strokeStyle = withAlpha(color, 0.45);
      c.fillStyle = color;
      let last = -Infinity;
      for (const st of mk.steps) {
        const x = this.drillX(mk.run, st);
        if (x === null) continue;
        const xp = u.valToPos(x, "x", true);
        if (xp < left || xp > left + width) continue;
        c.beginPath();
        c.moveTo(Math.round(xp) + 0.5, top);
        c.lineTo(Math.round(xp) + 0.5, top + height);
        c.stroke();
        if (xp - last < 3 * px) continue;
        last = xp;
        c.beginPath();
        c.moveTo(xp - 4 * px, top + height - 7 * px); c.lineTo(xp + 4 * px, top + height - 7 * px); c.lineTo(xp, top + height);
        c.closePath();
        c.fill();
      }
    }
    c.restore();
    const d = this.ctx.drill;
    const dx = d ? this.drillX(d.run, d.step) : null;
    if (dx !== null) drawDrillLine(u, u.valToPos(dx, "x", true), this.ctx.theme.fg);
    const waiters = this.drawWaiters;
    this.drawWaiters = [];
    for (const w of waiters) w();
  }

  /** x of the drill-down's step on this chart (a placed validation step: its evaluation's). */
  private drillX(run: string, step: number): number | null {
    const m = this.ctx.meta(run);
    if (!m || (this.axis === "val") !== (m.axis === "val")) return null;
    if (m.placed) {
      const l = this.layers.find((q): q is EvalLayer => q.kind === "eval" && q.run === run);
      if (!l) return null;
      const i = l.bands.findIndex((b) => b.steps.includes(step));
      return i >= 0 ? l.xs[i] : null;
    }
    if (this.mode === "step") return step;
    if (this.mode === "relstep") return step - this.ctx.stepOffset(run);
    const l = this.layers.find((q): q is RunLayer => q.kind === "run" && q.run === run)
      ?? this.layers.find((q): q is RunLayer => q.kind === "run");
    if (!l || !l.s.steps.length) return null;
    const i = nearestIndex(l.s.steps, step);
    return this.xOf(l.run, l.s.steps[i], l.s.walls[i]);
  }

  // ---------------------------------------------------------------- interaction

  /** An x value of this chart as a step of the view (wall-time axes map through a run's points). */
  private xToView(x: number): number {
    if (this.mode === "step" || this.mode === "relstep") return Math.round(x);
    const l = this.layers.find((q): q is RunLayer => q.kind === "run" && q.s.walls.length > 0);
    if (!l) return NaN;
    const w0 = this.mode === "relwall" ? this.ctx.wall0(l.run) ?? 0 : 0;
    return wallToStep(l.s.walls, l.s.steps, x + w0);
  }

  private onSelect(u: uPlot): void {
    const sel = u.select;
    if (this.dragY) {
      if (sel.height < 4) return;
      const a = u.posToVal(sel.top + sel.height, "y"), b = u.posToVal(sel.top, "y");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.dragY = false;
      u.cursor.drag!.x = true;
      u.cursor.drag!.y = false;
      if (b > a) { this.yZoom = [a, b]; this.render(); }
      return;
    }
    if (sel.width < 4) return;
    const a = u.posToVal(sel.left, "x");
    const b = u.posToVal(sel.left + sel.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const s0 = this.xToView(a), s1 = this.xToView(b);
    if (!Number.isFinite(s0) || !Number.isFinite(s1)) return;
    this.ctx.setView(this.axis, { start: Math.floor(Math.min(s0, s1)), end: Math.ceil(Math.max(s0, s1)) });
  }

  private fullX(): Range | null {
    const { runs, placed } = this.members();
    return this.ctx.fullRange([...runs, ...placed], this.tag, this.axis, this.source);
  }

  private onWheel(e: WheelEvent): void {
    const u = this.u;
    const full = this.fullX();
    if (!u || !full || this.mode === "wall" || this.mode === "relwall") return;
    e.preventDefault();
    const cur = this.ctx.view(this.axis) ?? full;
    const horizontal = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (horizontal) {
      const d = e.shiftKey ? e.deltaY : e.deltaX;
      this.ctx.setView(this.axis, panRange(cur, full, d > 0 ? 0.15 : -0.15));
      return;
    }
    const rect = u.over.getBoundingClientRect();
    const center = u.posToVal(e.clientX - rect.left, "x");
    this.ctx.setView(this.axis, zoomRange(cur, full, e.deltaY > 0 ? 1.3 : 1 / 1.3, center));
  }

  private onKey(e: KeyboardEvent): void {
    const full = this.fullX();
    if (!full) return;
    const cur = this.ctx.view(this.axis) ?? full;
    if (e.key === "+" || e.key === "=") this.ctx.setView(this.axis, zoomRange(cur, full, 0.5));
    else if (e.key === "-" || e.key === "_") this.ctx.setView(this.axis, zoomRange(cur, full, 2));
    else if (e.key === "0" || e.key === "Home") { this.yZoom = null; this.ctx.setView(this.axis, null); }
    else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !this.ctx.drill) {
      this.ctx.setView(this.axis, panRange(cur, full, e.key === "ArrowLeft" ? -0.2 : 0.2));
    } else if (e.key === "Enter" && this.layers.length) {
      const l = this.layers.find((q): q is RunLayer => q.kind === "run");
      if (l) this.ctx.openDrill(l.run, Math.round((cur.start + cur.end) / 2) + this.stepOffset(l.run), this.root);
    } else return;
    e.preventDefault();
  }

  /** A click opens the drill-down at the point nearest the cursor: column extremes included, so
   * clicking a spike's column opens the spike's step; an evaluation band opens its nearest batch. */
  private onClick(e: MouseEvent): void {
    const u = this.u;
    if (!u || !this.layers.length) return;
    if (this.downAt && Math.hypot(e.clientX - this.downAt.x, e.clientY - this.downAt.y) > 4) return;
    const rect = u.over.getBoundingClientRect();
    const cx = e.clientX - rect.left, cy = e.clientY - rect.top;
    const x = u.posToVal(cx, "x");
    const slack = Math.abs(u.posToVal(cx + 3, "x") - x);
    const cands: { px: number; py: number; run: string; step: number }[] = [];
    // a value beyond the y range (ignored outliers, y zoom) counts as on that edge
    const yOf = (v: number) => (Number.isFinite(v) ? Math.min(rect.height, Math.max(0, u.valToPos(v, "y"))) : v === Infinity || Number.isNaN(v) ? 0 : rect.height);
    const add = (run: string, xv: number, yv: number, step: number) => cands.push({ run, step, px: u.valToPos(xv, "x"), py: yOf(yv) });
    const near = Math.abs(u.posToVal(cx + 4, "x") - x);
    for (const l of this.layers) {
      if (l.kind === "run") {
        const e2 = l.env;
        // every line point within 4 px (and at least the nearest two)
        const i = nearestIndex(e2.lineX, x);
        let a = i, b = i;
        while (a > 0 && (a > i - 1 || e2.lineX[a - 1] >= x - near)) a--;
        while (b >= 0 && b < e2.lineX.length - 1 && (b < i + 1 || e2.lineX[b + 1] <= x + near)) b++;
        for (let j = Math.max(0, a); j <= b && j < e2.lineX.length; j++) add(l.run, e2.lineX[j], e2.lineY[j], e2.lineStep[j]);
        if (l.s.reduced) {
          for (const c of columnsNear(e2, x, slack)) {
            add(l.run, e2.hiX[c], e2.hi[c], e2.hiStep[c]);
            add(l.run, e2.loX[c], e2.lo[c], e2.loStep[c]);
          }
        }
        for (const m of e2.markers) add(l.run, m.x, m.kind === "-inf" ? -Infinity : m.kind === "inf" ? Infinity : NaN, m.step);
      } else if (l.kind === "group") {
        // a group opens its members' step (they are compared side by side there)
        const s = l.series[0];
        if (!s || !s.steps.length) continue;
        const i = nearestIndex(l.agg.x, x);
        if (i < 0) continue;
        const j = nearestIndex(Array.from(s.steps, (v, k) => this.xOf(s.run, v, s.walls[k])), l.agg.x[i]);
        for (const v of [l.agg.mean[i], l.agg.lo[i], l.agg.hi[i]]) add(s.run, l.agg.x[i], v, s.steps[j]);
      } else {
        l.bands.forEach((b, i) => b.steps.forEach((st, k) => add(l.run, l.xs[i], b.values[k], st)));
      }
    }
    const best = nearestCandidate(cands, cx, cy);
    if (best) this.ctx.openDrill(best.run, best.step, this.root);
  }

  private onCursor(u: uPlot): void {
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

  /** The step under the cursor of a run (its nearest loaded point on wall-time axes). */
  private stepAt(l: RunLayer, x: number): number {
    if (this.mode === "step") return Math.round(x);
    if (this.mode === "relstep") return Math.round(x) + this.ctx.stepOffset(l.run);
    const w0 = this.mode === "relwall" ? this.ctx.wall0(l.run) ?? 0 : 0;
    return wallToStep(l.s.walls, l.s.steps, x + w0);
  }

  private xLabel(x: number): string {
    switch (this.mode) {
      case "step": return `${this.axis === "val" ? "validation batch" : "step"} ${fmtStep(x)}`;
      case "relstep": return `${fmtStep(x)} steps since start`;
      case "wall": return new Date(x * 1000).toLocaleString();
      case "relwall": return `${fmtDuration(x)} since start`;
    }
  }

  /** Every run's (group's, evaluation's) value at the hovered x. */
  tipRows(): TipRow[] {
    const x = this.hoverX;
    const rows: TipRow[] = [];
    if (x === null || !this.u) return rows;
    const pxSlack = Math.abs(this.u.posToVal(12, "x") - this.u.posToVal(0, "x"));
    for (const l of this.layers) {
      if (l.kind === "run") {
        const step = this.stepAt(l, x);
        const tol = (l.s.end - l.s.start + 1) / Math.max(1, this.loadedWidth);
        if (!Number.isFinite(step) || step < l.s.start - tol || step > l.s.end + tol) continue;
        const e = l.env;
        let value = NaN, exact = false, at = step;
        const k = `${l.run}\u0000${step}`;
        if (this.exact.has(k)) { value = this.exact.get(k)!; exact = true; }
        else {
          const i = nearestIndex(e.lineStep, step);
          if (i >= 0) { value = e.lineY[i]; at = e.lineStep[i]; exact = !l.s.reduced || at === step; }
          for (const m of e.markers) if (m.step === step) { value = m.kind === "nan" ? NaN : m.kind === "inf" ? Infinity : -Infinity; exact = true; }
        }
        let note = this.mode === "step" ? "" : `step ${fmtStep(at)}`;
        if (l.s.reduced) {
          const c = columnAt(e, x, 0);
          if (c >= 0) note = `${note ? note + " · " : ""}col ${fmtNum(e.lo[c])}…${fmtNum(e.hi[c])}`;
        }
        rows.push({ color: l.color, label: l.run, value, text: (exact ? "" : "≈ ") + fmtNum(value), note, bad: !Number.isFinite(value) });
      } else if (l.kind === "group") {
        const i = nearestIndex(l.agg.x, x);
        if (i < 0 || Math.abs(l.agg.x[i] - x) > Math.max(pxSlack, 1)) continue;
        rows.push({
          color: l.color, label: `${l.name} (${l.runs.length} runs)`, value: l.agg.mean[i],
          text: (l.agg.exact ? "" : "≈ ") + fmtNum(l.agg.mean[i]), note: `${fmtNum(l.agg.lo[i])}…${fmtNum(l.agg.hi[i])} · n=${l.agg.n[i]}`,
        });
      } else {
        const i = nearestIndex(l.xs, x);
        if (i < 0 || Math.abs(l.xs[i] - x) > pxSlack) continue;
        const b = l.bands[i];
        const ep = b.evaluation.epoch;
        rows.push({
          color: l.color, label: l.run, value: b.mean, text: `mean ${fmtNum(b.mean)}`,
          note: `${fmtNum(b.min)}…${fmtNum(b.max)} · ${b.n} batches${ep !== null ? ` · after epoch ${ep + 1}` : ""}`,
        });
      }
    }
    return rows;
  }

  private showTooltip(): void {
    const x = this.hoverX;
    if (x === null) { hideTip(); return; }
    const rows = this.tipRows();
    if (!rows.length) { hideTip(); return; }
    const note = this.layers.some((l) => l.kind === "run" && l.s.reduced) ? "≈: nearest drawn point; exact value follows" : "";
    const u = this.u!, r = u.over.getBoundingClientRect();
    showTip(r.left + (u.cursor.left ?? 0), r.top + (u.cursor.top ?? 0), this.xLabel(x), rows, note);
  }

  /** For reduced data the point under the cursor may not be loaded: ask for that one step (one
   * request per run). Not during a drag, and not while a chart loads: a zoom's requests go first
   * (this asks again once every chart is drawn). */
  private fetchExact = debounce(async () => {
    const x = this.hoverX;
    if (x === null || !this.inside || this.pressed) return;
    if (this.ctx.loading()) { this.fetchExact(); return; }
    const todo = this.layers.filter((l): l is RunLayer => l.kind === "run" && l.s.reduced).map((l) => ({ l, step: this.stepAt(l, x) }))
      .filter(({ l, step }) => Number.isFinite(step) && !this.exact.has(`${l.run}\u0000${step}`) && step >= l.s.start && step <= l.s.end);
    if (!todo.length) return;
    const got = await Promise.all(todo.map(({ l, step }) => fetchSeries(l.run, this.tag, 1, step, step, undefined, this.source).catch(() => null)));
    got.forEach((s, i) => {
      if (s && s.steps.length && s.steps[0] === todo[i].step) this.exact.set(`${todo[i].l.run}\u0000${todo[i].step}`, s.values[0]);
    });
    if (this.hoverX === x && this.inside) this.showTooltip();
  }, 120);

  private provSig = "";

  private renderBadges(): void {
    const runs = this.layers.filter((l): l is RunLayer => l.kind === "run");
    const all = [...runs.map((l) => l.s), ...this.layers.flatMap((l) => (l.kind === "group" ? l.series : l.kind === "eval" ? [l.s] : []))];
    const b = badgeText(all.map((s) => ({ reduced: s.reduced, count: s.count, points: s.steps.length, sampled: s.sampled })));
    this.badgeEl.textContent = b.text;
    this.badgeEl.dataset.kind = b.kind;
    this.badgeEl.title = b.kind === "raw"
      ? "Every point in this range is drawn."
      : "Each pixel column shows the min…max of its points (shaded) and a line through its first and last points; zoom in to reach single steps.";
    // provenance: where the values come from, one badge per kind with the runs it applies to
    const byProv = new Map<string, string[]>();
    for (const s of all) {
      const p = this.ctx.tagInfo(s.run, this.tag, "scalar", this.source)?.provenance;
      if (!p) continue;
      if (!byProv.has(p)) byProv.set(p, []);
      byProv.get(p)!.push(s.run);
    }
    const sig = JSON.stringify([...byProv]);
    if (sig === this.provSig) return;
    this.provSig = sig;
    clear(this.provEl);
    for (const [p, rs] of byProv) {
      const many = byProv.size > 1;
      this.provEl.append(h("span", {
        class: "tbb-badge tbb-prov", "data-prov": p,
        text: (PROVENANCE_LABEL[p] ?? p) + (many ? ` (${rs.length})` : ""),
        title: `${PROVENANCE_HELP[p] ?? ""}${many ? `\nRuns: ${rs.join(", ")}` : ""}`,
      }));
    }
  }

  private csvSig = "";

  private renderCsv(): void {
    const runs = new Set<string>();
    for (const l of this.layers) for (const r of l.kind === "group" ? l.runs : [l.run]) runs.add(r);
    const sig = [...runs].map((r) => r + this.ctx.color(r)).join("\u0000");
    if (sig === this.csvSig) return; // unchanged (a zoom): no DOM work
    this.csvSig = sig;
    clear(this.csvList);
    for (const r of runs) {
      const href = exportHref(r, this.tag) + (this.source ? `&source=${encodeURIComponent(this.source)}` : "");
      this.csvList.append(h("li", { "data-run": r }, h("a", {
        href, download: exportFileName(r, this.tag), class: "tbb-link", title: `Every point of ${this.tag} in ${r}`,
      }, h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(r)}` }), h("span", { text: r }))));
    }
  }

  redraw(): void {
    this.u?.redraw(false);
  }

  /** The runs' colours changed: redraw with them (no new request). */
  recolor(): void {
    for (const l of this.layers) l.color = this.ctx.color(l.kind === "group" ? l.runs[0] : l.run);
    if (this.layers.length) this.render();
  }

  /** Summary for tests and the benchmark (window.__tbb). */
  debug() {
    return {
      tag: this.tag,
      key: this.key,
      axis: this.axis,
      state: this.state,
      width: this.loadedWidth,
      range: this.range,
      badge: this.badgeEl.textContent,
      provenance: Array.from(this.provEl.children, (e) => (e as HTMLElement).dataset.prov),
      compact: this.compact,
      runs: this.layers.filter((l): l is RunLayer => l.kind === "run").map((l) => {
        let hiMax = -Infinity, hiStep = NaN;
        l.env.hi.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = l.env.hiStep[i]; } });
        l.env.lineY.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = l.env.lineStep[i]; } });
        return {
          run: l.run, reduced: l.s.reduced, count: l.s.count, points: l.s.steps.length,
          columns: l.env.x0.length, yMax: l.env.yMax, maxValue: hiMax, maxStep: hiStep,
          markers: l.env.markers.length, start: l.s.start, end: l.s.end,
          xMin: l.env.lineX.length ? Math.min(...l.env.lineX) : null,
        };
      }),
      groups: this.layers.filter((l): l is GroupLayer => l.kind === "group").map((l) => ({
        name: l.name, runs: l.runs, points: l.agg.x.length, exact: l.agg.exact,
        meanMax: Math.max(...l.agg.mean), hiMax: Math.max(...l.agg.hi), loMin: Math.min(...l.agg.lo),
      })),
      evaluations: this.layers.filter((l): l is EvalLayer => l.kind === "eval").map((l) => ({
        run: l.run, xs: l.xs, trainSteps: l.bands.map((b) => b.trainStep), firstSteps: l.bands.map((b) => b.evaluation.first_step),
        means: l.bands.map((b) => b.mean), counts: l.bands.map((b) => b.n),
      })),
      yRange: this.yr,
      yZoom: this.yZoom,
      marks: this.ctx.marks ? this.ctx.marks.steps.map((st) => this.drillX(this.ctx.marks!.run, st)).filter((x) => x !== null) : [],
    };
  }

  /** Canvas position (CSS px, relative to the page of the frame) of a data point, for tests. */
  pointToClient(x: number, y: number): { x: number; y: number } | null {
    const u = this.u;
    if (!u) return null;
    const r = u.over.getBoundingClientRect();
    return { x: r.left + u.valToPos(x, "x"), y: r.top + u.valToPos(y, "y") };
  }
}
