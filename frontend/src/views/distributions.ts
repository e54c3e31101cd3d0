// One card of the Distributions view: a distribution tag, every plotted run of one axis on
// shared axes: each run's median line and a quantile band (the `distribution` endpoint), a
// hover readout of every run's quantiles at the step, and per run a histogram-over-steps
// heatmap on the shared y range with its colour scale.
import uPlot from "uplot";
import { fetchDistribution } from "../api/client";
import type { Distribution } from "../api/types";
import { evaluationOf, evaluationStepRange, type Axis } from "../model/axes";
import { distributionBadge } from "../model/badges";
import { withAlpha } from "../model/colors";
import { alignRow, BAND_PROBS, bandRows, bandYRange, medianRow, quantileTipRows } from "../model/distributions";
import { exportFileName, exportHref } from "../model/exports";
import { fmtStep } from "../model/format";
import { heatRgba, HeatScale, heatScale } from "../model/heat-norm";
import type { Range } from "../model/ranges";
import { placeDistribution, type PlacedDist } from "../model/placed-dist";
import { nearestIndex } from "../model/series";
import { axisNote, CardLoader, cardTitle, colorScale, messageLine, runLabel } from "../ui/card";
import { ChartHeader } from "../ui/card-header";
import { baseAxes } from "../ui/chart-axes";
import {
  drawDrillLine, onPlainClick, plotWidth, reloadOnResize, selectingCursor, spanRange, stepsScale, takeSelection,
} from "../ui/chart-kit";
import type { ViewContext } from "../ui/context";
import { clear, h } from "../ui/dom";
import { paintHeatmap } from "../ui/heatmap";
import { hideTip, showTip } from "../ui/tooltip";
import { legendEntries } from "../model/legend";
import { ChartLegend } from "../ui/legend";

const BAND_HEIGHT = 220;
const HEAT_HEIGHT = 64;

interface RunDist {
  run: string;
  color: string;
  dist: Distribution;
  /** a validation run placed on the training axis: each column's evaluation and batches */
  placed?: PlacedDist["evals"];
}

/** The band chart's data and series: per run its band's high and low rows (filled between) when
 * a band is drawn, and its median. */
function bandSeries(runs: readonly RunDist[], xs: number[], band: [number, number] | null, log: boolean) {
  const data: (number | null)[][] = [xs];
  const series: uPlot.Series[] = [{ label: "step" }];
  const bands: uPlot.Band[] = [];
  const add = (row: ArrayLike<number>, d: Distribution, s: uPlot.Series) => { data.push(alignRow(xs, d.steps, row, log)); series.push(s); };
  for (const { dist: d, color, placed } of runs) {
    // a placed validation run: one point per evaluation, joined by dashes (as in the Steps view)
    const ev: Partial<uPlot.Series> = placed ? { dash: [5, 4], points: { show: true, size: 6, fill: color } } : {};
    if (band) {
      const { lo, hi } = bandRows(d, band);
      add(hi, d, { label: `${d.run} ${band[1]}`, stroke: withAlpha(color, 0.5), width: 0.75, points: { show: false }, spanGaps: true });
      add(lo, d, { label: `${d.run} ${band[0]}`, stroke: withAlpha(color, 0.5), width: 0.75, points: { show: false }, spanGaps: true });
      bands.push({ series: [data.length - 2, data.length - 1], fill: withAlpha(color, 0.16) });
    }
    add(medianRow(d), d, { label: `${d.run} median`, stroke: color, width: 1.75, points: { show: false }, spanGaps: true, ...ev });
  }
  return { data, series, bands };
}

export class DistCard {
  readonly root: HTMLElement;
  private readonly bandEl: HTMLDivElement;
  private readonly heatWrap: HTMLDivElement;
  private readonly header: ChartHeader;
  private readonly legend: ChartLegend;
  private readonly msgEl: HTMLDivElement;
  private readonly loader: CardLoader;
  private readonly resizeObserver: ResizeObserver;
  private bandPlot: uPlot | null = null;
  private heatPlots: uPlot[] = [];
  runs: RunDist[] = [];
  private range: Range | null = null;
  private lastWidth = 0;
  private yr: [number, number] = [0, 1];
  private inside = false;
  private hoverStep: number | null = null;

  constructor(private readonly app: ViewContext, readonly tag: string, readonly axis: Axis) {
    this.msgEl = messageLine();
    this.bandEl = h("div", { class: "tbb-plot", tabindex: 0, role: "img", "aria-label": `Quantiles of ${tag} over steps, every run; click opens a step` });
    this.heatWrap = h("div", { class: "tbb-heats" });
    this.header = new ChartHeader({
      title: cardTitle(tag, axisNote(axis)), provenance: false, chips: [],
      csvTitle: "Every step's count, moments, quantiles and histogram as CSV", buttons: [],
    });
    this.legend = new ChartLegend(tag);
    this.root = h("section", { class: "tbb-card tbb-dist tbb-wide", "data-tag": tag, "data-axis": axis, "data-state": "init" },
      this.header.root, this.legend.root, this.bandEl, this.heatWrap, this.msgEl);
    this.loader = new CardLoader(this.root, (on) => this.app.chartBusy(this, on));
    this.resizeObserver = reloadOnResize(this.bandEl, () => this.lastWidth, () => void this.load());
  }

  get state(): CardLoader["state"] {
    return this.loader.state;
  }

  destroy(): void {
    this.loader.dispose();
    this.resizeObserver.disconnect();
    this.bandPlot?.destroy();
    for (const u of this.heatPlots) u.destroy();
    this.root.remove();
  }

  private members(): string[] {
    return this.app.plotted().filter((r) => {
      const m = this.app.meta(r);
      return m && (m.axis === "val") === (this.axis === "val") && this.app.tagInfo(r, this.tag, "distribution");
    });
  }

  /** The step offset of a run on the relative step axis (0 on the others). */
  private offset(run: string): number {
    return this.app.settings.xAxis === "relstep" ? this.app.stepOffset(run) : 0;
  }

  load(): Promise<void> {
    return this.loader.run(async (signal) => {
      const runs = this.members();
      const v = this.app.view(this.axis);
      const full = this.app.fullRange(runs, this.tag, this.axis);
      this.range = full ? (v ? { ...v } : full) : null;
      const width = plotWidth(this.bandPlot, this.bandEl, 66);
      const got = await Promise.all(runs.map((r) => {
        const ti = this.app.tagInfo(r, this.tag, "distribution")!;
        const off = this.offset(r);
        const m = this.app.meta(r)!;
        if (m.placed && this.axis === "train") {
          // validation batches of the evaluations whose training step is in view, one column
          // per batch (up to 2000), merged per evaluation at the step it followed
          const evals = m.info.evaluations ?? [];
          const vr = v ? evaluationStepRange(evals, v.start + off, v.end + off) : { start: ti.first_step, end: ti.last_step };
          if (!vr) return Promise.resolve(null);
          const cols = Math.min(2000, Math.max(width, vr.end - vr.start + 1));
          return fetchDistribution(r, this.tag, cols, vr.start, vr.end, 32, signal).then((d) => {
            const p = placeDistribution(d, evals, off);
            return { run: r, color: this.app.color(r), dist: p.dist, placed: p.evals };
          });
        }
        const start = v ? Math.max(v.start + off, ti.first_step) : ti.first_step;
        const end = v ? Math.min(v.end + off, ti.last_step) : ti.last_step;
        if (start > end) return Promise.resolve(null);
        return fetchDistribution(r, this.tag, width, start, end, 32, signal).then((d) => {
          if (off) for (const a of [d.steps, d.stepEnds]) for (let i = 0; i < a.length; i++) a[i] -= off;
          return { run: r, color: this.app.color(r), dist: d };
        });
      }));
      if (signal.aborted) return;
      this.runs = got.filter((x): x is RunDist => !!x);
      this.msgEl.textContent = this.runs.length ? "" : "No step of the selected runs in this range.";
      this.draw();
      return this.runs.length ? "drawn" : "empty";
    }, (e) => { this.msgEl.textContent = `Could not load ${this.tag}: ${e.message}`; });
  }

  private draw(): void {
    this.lastWidth = this.bandEl.clientWidth;
    this.bandPlot?.destroy();
    for (const u of this.heatPlots) u.destroy();
    this.heatPlots = [];
    clear(this.heatWrap);
    const width = this.bandEl.clientWidth || 480;
    const { log, band } = this.app.settings;
    const xs = [...new Set(this.runs.flatMap(({ dist }) => Array.from(dist.steps)))].sort((a, b) => a - b);
    const { data, series, bands } = bandSeries(this.runs, xs, BAND_PROBS[band], log);
    this.yr = bandYRange(this.runs.map((r) => r.dist), band, log);
    const mode = this.app.settings.xAxis === "relstep" ? "relstep" : "step";
    const onSelect = (u: uPlot) => {
      const span = takeSelection(u, "x");
      if (span) this.app.setView(this.axis, spanRange(span));
    };
    const xLabel = this.axis === "val" ? "validation batch" : mode === "relstep" ? "steps since the run's start" : "";
    // what the band chart and the heatmaps share: step x range, y range, crosshair, drag-zoom
    const common = (height: number, top: number) => ({
      width, height,
      legend: { show: false },
      padding: [top, 14, 0, 0] as uPlot.Padding,
      cursor: selectingCursor(this.axis),
      scales: { x: stepsScale(() => this.range), y: log ? { distr: 3, log: 10, range: () => this.yr } : { range: () => this.yr } } as uPlot.Scales,
    });
    this.bandPlot = new uPlot({
      ...common(BAND_HEIGHT, 8),
      axes: baseAxes(this.app.theme, mode, xLabel),
      series, bands,
      hooks: { setSelect: [onSelect], draw: [(u) => this.drawDrill(u)], setCursor: [(u) => this.onCursor(u)] },
    }, data as uPlot.AlignedData, this.bandEl);
    this.wire(this.bandPlot);
    // one heatmap per run on the shared y range, with a colour scale
    if (this.app.settings.heatmaps && this.runs.length) {
      const scale = heatScale(this.runs.map(({ dist }) => dist.counts), this.app.settings.heatNorm);
      const [xAxis, yAxis] = baseAxes(this.app.theme, mode);
      for (const r of this.runs) {
        const el = h("div", { class: "tbb-plot tbb-heat", role: "img", "data-run": r.run, "aria-label": `Histogram over steps of ${this.tag}, run ${r.run}` });
        this.heatWrap.append(runLabel(r.run, r.color), el);
        const u = new uPlot({
          ...common(HEAT_HEIGHT, 4),
          // the band chart's y axis width: every plot of the card starts at the same x
          axes: [{ ...xAxis, show: false, size: 0 }, { ...yAxis, space: 24, size: () => this.yAxisSize() }],
          series: [{ label: "step" }, { label: "", stroke: "transparent", points: { show: false } }],
          hooks: { drawAxes: [(uu) => this.drawHeat(uu, r, scale)], setSelect: [onSelect], draw: [(uu) => this.drawDrill(uu)] },
        }, [xs, xs.map(() => null)] as uPlot.AlignedData, el);
        this.heatPlots.push(u);
        this.wire(u);
      }
      this.heatWrap.append(this.countScale(scale));
    }
    this.legend.set(legendEntries(this.runs.map((r) => ({ kind: "run" as const, run: r.run, color: r.color })), (r) => this.app.color(r)));
    const badge = distributionBadge(this.runs.map((r) => r.dist));
    this.header.setBadge(badge.text, badge.kind);
    this.header.setCsv(this.runs.map((r) => ({ run: r.run, color: r.color, href: exportHref(r.run, this.tag), download: exportFileName(r.run, this.tag) })));
  }

  private yAxisSize(): number {
    const a = (this.bandPlot?.axes[1] as { _size?: number } | undefined)?._size;
    return a && a > 0 ? a : 50;
  }

  /** A click opens the step nearest it of the plot's run (the band chart: the first run). */
  private wire(u: uPlot): void {
    u.over.addEventListener("dblclick", () => this.app.setView(this.axis, null));
    u.over.addEventListener("mouseenter", () => (this.inside = true));
    u.over.addEventListener("mouseleave", () => { this.inside = false; hideTip(); });
    onPlainClick(u.over, (e) => {
      if (!this.runs.length) return;
      const x = u.posToVal(e.clientX - u.over.getBoundingClientRect().left, "x");
      const run = (u.root.parentElement as HTMLElement | null)?.dataset.run ?? this.runs[0].run;
      const off = this.offset(run);
      const r = this.runs.find((q) => q.run === run) ?? this.runs[0];
      const i = nearestIndex(r.dist.steps, x);
      // a placed evaluation opens its first batch (the drill-down steps through the others)
      if (r.placed) { if (i >= 0) this.app.openDrill(r.run, r.placed[i].first, this.root); return; }
      this.app.openDrill(r.run, (i >= 0 ? r.dist.steps[i] : Math.round(x)) + off, this.root);
    });
  }

  /** The colour legend of the heatmaps, in the words of the chosen scale (model/heat-norm.ts). */
  private countScale(s: HeatScale | null): HTMLElement {
    const dark = this.app.theme.dark;
    const o = s ?? { label: "samples per bin (log): ", low: "1", high: "0", after: "" };
    return colorScale({
      label: o.label, ariaLabel: `Colour scale: ${o.label}${o.low} to ${o.high}`, low: o.low, high: o.high, after: o.after,
      colorAt: s ? (t) => heatRgba(t, dark) : null,
    });
  }

  private drawHeat(u: uPlot, r: RunDist, s: HeatScale | null): void {
    const d = r.dist;
    if (!s || !d.counts.length || d.edges.length < 2) return;
    const log = this.app.settings.log, dark = this.app.theme.dark;
    // a placed evaluation is one step wide: drawn 3 px wide around its step, so that it shows
    const half = r.placed ? Math.abs(u.posToVal(1.5, "x") - u.posToVal(0, "x")) : 0;
    paintHeatmap(u, {
      columns: d.counts.length, x: (j) => (r.placed ? [d.steps[j] - half, d.steps[j] + half] : [d.steps[j], d.stepEnds[j] + 1]), rows: (j) => d.counts[j].length,
      cell: (j, b) => {
        const t = s.t(d.counts[j][b], d.counts[j]);
        if (t <= 0 || (log && !(d.edges[b + 1] > 0))) return null;
        return { fill: heatRgba(t, dark), top: d.edges[b + 1], bottom: d.edges[b] };
      },
      yPos: (v) => u.valToPos(log ? Math.max(v, this.yr[0]) : v, "y", true),
    });
  }

  private drawDrill(u: uPlot): void {
    const dr = this.app.drill;
    if (!dr) return;
    const m = this.app.meta(dr.run);
    if (!m || (m.axis === "val") !== (this.axis === "val")) return;
    // a placed validation batch: at the training step its evaluation followed
    const e = m.placed ? evaluationOf(m.info.evaluations ?? [], dr.step) : null;
    if (m.placed && !e) return;
    drawDrillLine(u, u.valToPos((e ? e.train_step : dr.step) - this.offset(dr.run), "x", true), this.app.theme.fg);
  }

  /** Every run's quantiles at the hovered step (its pixel column's when reduced). */
  private onCursor(u: uPlot): void {
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) { this.hoverStep = null; return; }
    this.hoverStep = u.posToVal(left, "x");
    if (!this.inside) return;
    const rows = quantileTipRows(this.runs, this.hoverStep);
    for (const row of rows) {
      const r = this.runs.find((q) => q.run === row.label);
      const i = r?.placed ? nearestIndex(r.dist.steps, this.hoverStep) : -1;
      const p = i >= 0 ? r!.placed![i] : null;
      if (p) row.note = `eval at step ${fmtStep(p.evaluation.train_step)}${p.evaluation.epoch !== null ? ` (epoch ${p.evaluation.epoch + 1})` : ""}, batches ${fmtStep(p.first)}–${fmtStep(p.last)} merged · ${row.note}`;
    }
    if (!rows.length) { hideTip(); return; }
    const r = u.over.getBoundingClientRect();
    showTip(r.left + left, r.top + (u.cursor.top ?? 0), `${this.axis === "val" ? "validation batch" : "step"} ${fmtStep(this.hoverStep)}`, rows,
      this.runs.some((q) => q.dist.reduced) ? "reduced: per pixel column, low quantiles are the column's min, high ones its max, the median the mean of medians" : "");
  }

  /** The runs' colours changed: redraw with them (no new request). */
  recolor(): void {
    for (const r of this.runs) r.color = this.app.color(r.run);
    if (this.runs.length) this.draw();
  }

  redraw(): void {
    this.bandPlot?.redraw(false);
    for (const u of this.heatPlots) u.redraw(false);
  }

  debug() {
    return {
      tag: this.tag, axis: this.axis, state: this.state, badge: this.header.badgeText,
      runs: this.runs.map((r) => ({
        run: r.run, points: r.dist.steps.length, reduced: r.dist.reduced, bins: r.dist.edges.length - 1,
        steps: Array.from(r.dist.steps), batches: r.placed?.map((p) => [p.first, p.last]) ?? null,
      })),
      heatmaps: this.heatPlots.length, yRange: this.yr,
    };
  }
}
