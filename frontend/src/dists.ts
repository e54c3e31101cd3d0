// One card of the Distributions view: a distribution tag, every plotted run of one axis on
// shared axes: each run's median line and a quantile band (the `distribution` endpoint), a
// hover readout of every run's quantiles at the step, and per run a histogram-over-steps
// heatmap on the shared y range with its colour scale.
import uPlot from "uplot";
import { Distribution, fetchDistribution } from "./api";
import type { Axis } from "./axes";
import { withAlpha } from "./colors";
import type { Ctx, Settings } from "./ctx";
import { clear, debounce, h } from "./dom";
import { quantileLabel } from "./hist";
import { exportFileName, exportHref, fmtNum, fmtStep, heatColor, maxOf2D, nearestIndex, padRange, Range, stepsXRange } from "./logic";
import { baseAxes, clipToPlot, cursorSync, drawDrillLine } from "./steps";
import { hideTip, showTip, TipRow } from "./tooltip";

const BAND_HEIGHT = 220;
const HEAT_HEIGHT = 64;

/** The quantile pair of a band setting (probabilities), null for none/min…max. */
export const BAND_PROBS: Record<Settings["band"], [number, number] | null> = {
  iqr: [0.25, 0.75], p90: [0.05, 0.95], p98: [0.01, 0.99], minmax: [0, 1], none: null,
};

interface RunDist {
  run: string;
  color: string;
  d: Distribution;
}

function probIndex(d: Distribution, p: number): number {
  return d.probs.findIndex((q) => Math.abs(q - p) < 1e-9);
}

export class DistCard {
  readonly root: HTMLElement;
  private readonly bandEl: HTMLDivElement;
  private readonly heatWrap: HTMLDivElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly msgEl: HTMLDivElement;
  private readonly csvList: HTMLUListElement;
  private bandU: uPlot | null = null;
  private heatUs: uPlot[] = [];
  runs: RunDist[] = [];
  private abort: AbortController | null = null;
  private range: Range | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  private ro: ResizeObserver;
  private lastWidth = 0;
  private yr: [number, number] = [0, 1];
  private inside = false;

  constructor(private readonly ctx: Ctx, readonly tag: string, readonly axis: Axis) {
    this.badgeEl = h("span", { class: "tbb-badge" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.bandEl = h("div", { class: "tbb-plot", tabindex: 0, role: "img", "aria-label": `Quantiles of ${tag} over steps, every run; click opens a step` });
    this.heatWrap = h("div", { class: "tbb-heats" });
    this.csvList = h("ul", { class: "tbb-menu-list" });
    const csv = h("details", { class: "tbb-menu" }, h("summary", { class: "tbb-icon", text: "CSV", title: "Every step's count, moments, quantiles and histogram as CSV" }), this.csvList);
    this.root = h(
      "section",
      { class: "tbb-card tbb-dist tbb-wide", "data-tag": tag, "data-axis": axis, "data-state": "init" },
      h("header", { class: "tbb-card-head" }, h("h3", { class: "tbb-title", title: tag }, h("span", { text: tag }),
        axis === "val" ? h("span", { class: "tbb-axis-note", text: "validation batches" }) : null), this.badgeEl, csv),
      this.bandEl,
      this.heatWrap,
      this.msgEl,
    );
    this.ro = new ResizeObserver(debounce(() => {
      const w = this.bandEl.clientWidth;
      if (w && Math.abs(w - this.lastWidth) > 4) void this.load();
    }, 250));
    this.ro.observe(this.bandEl);
  }

  destroy(): void {
    this.abort?.abort();
    this.ctx.chartBusy(this, false);
    this.ro.disconnect();
    this.bandU?.destroy();
    for (const u of this.heatUs) u.destroy();
    this.root.remove();
  }

  private setState(s: DistCard["state"]): void {
    this.state = s;
    this.root.dataset.state = s;
  }

  private plotWidth(): number {
    if (this.bandU) return Math.max(16, Math.round(this.bandU.bbox.width / uPlot.pxRatio));
    return Math.max(16, (this.bandEl.clientWidth || 400) - 66);
  }

  private members(): string[] {
    return this.ctx.plotted().filter((r) => {
      const m = this.ctx.meta(r);
      return m && (m.axis === "val") === (this.axis === "val") && this.ctx.tagInfo(r, this.tag, "distribution");
    });
  }

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.ctx.chartBusy(this, true);
    const runs = this.members();
    const v = this.ctx.view(this.axis);
    const full = this.ctx.fullRange(runs, this.tag, this.axis);
    this.range = full ? (v ? { ...v } : full) : null;
    this.setState("loading");
    try {
      const width = this.plotWidth();
      const got = await Promise.all(runs.map((r) => {
        const ti = this.ctx.tagInfo(r, this.tag, "distribution")!;
        const off = this.ctx.settings.xAxis === "relstep" ? this.ctx.stepOffset(r) : 0;
        const start = v ? Math.max(v.start + off, ti.first_step) : ti.first_step;
        const end = v ? Math.min(v.end + off, ti.last_step) : ti.last_step;
        if (start > end) return Promise.resolve(null);
        return fetchDistribution(r, this.tag, width, start, end, 32, ac.signal).then((d) => {
          if (off) for (const a of [d.steps, d.stepEnds]) for (let i = 0; i < a.length; i++) a[i] -= off;
          return { run: r, color: this.ctx.color(r), d };
        });
      }));
      if (ac.signal.aborted) return;
      this.runs = got.filter((x): x is RunDist => !!x);
      this.msgEl.textContent = this.runs.length ? "" : "No step of the selected runs in this range.";
      this.draw();
      this.setState(this.runs.length ? "drawn" : "empty");
    } catch (e) {
      if (ac.signal.aborted || (e as Error).name === "AbortError") return;
      this.msgEl.textContent = `Could not load ${this.tag}: ${(e as Error).message}`;
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }


  /** The shared y range: the drawn band's extent over every run (min…max when no band). */
  private yRangeOf(): [number, number] {
    const log = this.ctx.settings.log;
    const band = BAND_PROBS[this.ctx.settings.band] ?? [0, 1];
    let lo = Infinity, hi = -Infinity;
    for (const { d } of this.runs) {
      const a = probIndex(d, band[0]), b = probIndex(d, band[1]), m = probIndex(d, 0.5);
      const cols = [a >= 0 ? d.quantiles[a] : d.min, b >= 0 ? d.quantiles[b] : d.max, m >= 0 ? d.quantiles[m] : d.mean];
      for (const col of cols) for (const v of col) {
        if (!Number.isFinite(v) || (log && !(v > 0))) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return padRange(lo, hi, log);
  }

  private draw(): void {
    this.lastWidth = this.bandEl.clientWidth;
    this.bandU?.destroy();
    for (const u of this.heatUs) u.destroy();
    this.heatUs = [];
    clear(this.heatWrap);
    const width = this.bandEl.clientWidth || 480;
    const log = this.ctx.settings.log;
    const band = BAND_PROBS[this.ctx.settings.band];
    const xsAll = new Set<number>();
    for (const { d } of this.runs) for (const s of d.steps) xsAll.add(s);
    const xs = [...xsAll].sort((a, b) => a - b);
    const data: (number | null)[][] = [xs];
    const series: uPlot.Series[] = [{ label: "step" }];
    const bands: uPlot.Band[] = [];
    const col = (d: Distribution, arr: Float64Array) => {
      const out: (number | null)[] = new Array(xs.length).fill(null);
      let j = 0;
      for (let i = 0; i < d.steps.length; i++) {
        while (xs[j] < d.steps[i]) j++;
        const v = arr[i];
        out[j] = Number.isFinite(v) && (!log || v > 0) ? v : null;
      }
      return out;
    };
    for (const { d, color } of this.runs) {
      if (band) {
        const a = probIndex(d, band[0]), b = probIndex(d, band[1]);
        const lo = a >= 0 ? d.quantiles[a] : d.min, hi = b >= 0 ? d.quantiles[b] : d.max;
        data.push(col(d, hi));
        series.push({ label: `${d.run} ${band[1]}`, stroke: withAlpha(color, 0.5), width: 0.75, points: { show: false }, spanGaps: true });
        const hiIdx = data.length - 1;
        data.push(col(d, lo));
        series.push({ label: `${d.run} ${band[0]}`, stroke: withAlpha(color, 0.5), width: 0.75, points: { show: false }, spanGaps: true });
        bands.push({ series: [hiIdx, data.length - 1], fill: withAlpha(color, 0.16) });
      }
      const m = probIndex(d, 0.5);
      data.push(col(d, m >= 0 ? d.quantiles[m] : d.mean));
      series.push({ label: `${d.run} median`, stroke: color, width: 1.75, points: { show: false }, spanGaps: true });
    }
    this.yr = this.yRangeOf();
    const mode = this.ctx.settings.xAxis === "relstep" ? "relstep" : "step";
    const onSelect = (u: uPlot) => {
      if (u.select.width < 4) return;
      const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.ctx.setView(this.axis, { start: Math.floor(Math.min(a, b)), end: Math.ceil(Math.max(a, b)) });
    };
    const xLabel = this.axis === "val" ? "validation batch" : mode === "relstep" ? "steps since the run's start" : "";
    // what the band chart and the heatmaps share: step x range, y range, crosshair, drag-zoom
    const common = (height: number, top: number) => ({
      width, height,
      legend: { show: false },
      padding: [top, 14, 0, 0] as uPlot.Padding,
      cursor: { drag: { x: true, y: false, setScale: false, click: () => {} }, points: { show: false }, y: false, bind: { dblclick: () => null } as any, sync: cursorSync(this.axis) },
      scales: {
        x: { time: false, range: (_u: uPlot, mn: number, mx: number) => stepsXRange(this.range, mn, mx) },
        y: log ? { distr: 3, log: 10, range: () => this.yr } : { range: () => this.yr },
      } as uPlot.Scales,
    });
    this.bandU = new uPlot({
      ...common(BAND_HEIGHT, 8),
      axes: baseAxes(this.ctx, mode, xLabel),
      series, bands,
      hooks: {
        setSelect: [onSelect],
        draw: [(u) => this.drawDrill(u)],
        setCursor: [(u) => this.onCursor(u)],
      },
    }, data as uPlot.AlignedData, this.bandEl);
    this.wire(this.bandU);
    // one heatmap per run on the shared y range, with a colour scale
    if (this.ctx.settings.heatmaps && this.runs.length) {
      let maxCount = 0;
      for (const { d } of this.runs) maxCount = Math.max(maxCount, maxOf2D(d.counts));
      for (const r of this.runs) {
        const el = h("div", { class: "tbb-plot tbb-heat", role: "img", "data-run": r.run, "aria-label": `Histogram over steps of ${this.tag}, run ${r.run}` });
        const label = h("div", { class: "tbb-heat-label" }, h("span", { class: "tbb-swatch", style: `background:${r.color}` }), h("span", { class: "tbb-run-name", text: r.run }));
        this.heatWrap.append(label, el);
        const u = new uPlot({
          ...common(HEAT_HEIGHT, 4),
          // the band chart's y axis width: every plot of the card starts at the same x
          axes: [{ ...baseAxes(this.ctx, mode)[0], show: false, size: 0 }, { ...baseAxes(this.ctx, mode)[1], space: 24, size: () => this.yAxisSize() }],
          series: [{ label: "step" }, { label: "", stroke: "transparent", points: { show: false } }],
          hooks: { drawAxes: [(uu) => this.drawHeat(uu, r, maxCount)], setSelect: [onSelect], draw: [(uu) => this.drawDrill(uu)] },
        }, [xs, xs.map(() => null)] as uPlot.AlignedData, el);
        this.heatUs.push(u);
        this.wire(u);
      }
      this.heatWrap.append(this.colorScale(maxCount));
    }
    const n = this.runs.reduce((a, r) => a + r.d.count, 0).toLocaleString("en-US");
    const reduced = this.runs.some((r) => r.d.reduced);
    this.badgeEl.textContent = this.runs.length ? (reduced ? `reduced from ${n} steps` : `raw · ${n} steps`) : "no data";
    this.badgeEl.dataset.kind = this.runs.length ? (reduced ? "reduced" : "raw") : "empty";
    clear(this.csvList);
    for (const r of this.runs) {
      this.csvList.append(h("li", { "data-run": r.run }, h("a", { class: "tbb-link", href: exportHref(r.run, this.tag), download: exportFileName(r.run, this.tag) },
        h("span", { class: "tbb-swatch", style: `background:${r.color}` }), h("span", { text: r.run }))));
    }
  }

  private yAxisSize(): number {
    const a = (this.bandU?.axes[1] as { _size?: number } | undefined)?._size;
    return a && a > 0 ? a : 50;
  }

  private wire(u: uPlot): void {
    let down: { x: number; y: number } | null = null;
    u.over.addEventListener("mousedown", (e) => (down = { x: e.clientX, y: e.clientY }));
    u.over.addEventListener("dblclick", () => this.ctx.setView(this.axis, null));
    u.over.addEventListener("mouseenter", () => (this.inside = true));
    u.over.addEventListener("mouseleave", () => { this.inside = false; hideTip(); });
    u.over.addEventListener("click", (e) => {
      if (!this.runs.length || (down && Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4)) return;
      const x = u.posToVal(e.clientX - u.over.getBoundingClientRect().left, "x");
      const run = (u.root.parentElement as HTMLElement | null)?.dataset.run ?? this.runs[0].run;
      const off = this.ctx.settings.xAxis === "relstep" ? this.ctx.stepOffset(run) : 0;
      const r = this.runs.find((q) => q.run === run) ?? this.runs[0];
      const i = nearestIndex(r.d.steps, x);
      this.ctx.openDrill(r.run, (i >= 0 ? r.d.steps[i] : Math.round(x)) + off, this.root);
    });
  }

  /** The colour scale of the heatmaps: log count from 1 to the largest bin count. */
  private colorScale(max: number): HTMLElement {
    const cv = h("canvas", { class: "tbb-scale-bar", width: 160, height: 10, role: "img", "aria-label": `Colour scale: bin count from 1 to ${max}, log scale` });
    const c = cv.getContext("2d");
    if (c && max > 0) {
      for (let i = 0; i < 160; i++) {
        const count = Math.expm1((i / 159) * Math.log1p(max));
        const [r, g, b, a] = heatColor(Math.max(count, 1e-9), max, this.ctx.theme.dark);
        c.fillStyle = `rgba(${r},${g},${b},${(a / 255).toFixed(3)})`;
        c.fillRect(i, 0, 1, 10);
      }
    }
    const mid = Math.round(Math.expm1(0.5 * Math.log1p(max)));
    return h("div", { class: "tbb-scale" },
      h("span", { class: "tbb-muted", text: "samples per bin (log): " }),
      h("span", { class: "tbb-num", text: "1" }), cv, h("span", { class: "tbb-num", text: fmtNum(+max.toPrecision(3)) }),
      h("span", { class: "tbb-muted", text: ` (middle ≈ ${fmtNum(mid)})` }));
  }

  private drawHeat(u: uPlot, r: RunDist, max: number): void {
    const d = r.d;
    if (!d.counts.length || d.edges.length < 2) return;
    const c = clipToPlot(u);
    const log = this.ctx.settings.log;
    const minW = Math.max(1, uPlot.pxRatio);
    const yPos = (v: number) => u.valToPos(log ? Math.max(v, this.yr[0]) : v, "y", true);
    for (let j = 0; j < d.counts.length; j++) {
      const x0 = u.valToPos(d.steps[j], "x", true);
      const x1 = u.valToPos(d.stepEnds[j] + 1, "x", true);
      const w = Math.max(minW, x1 - x0);
      const row = d.counts[j];
      for (let b = 0; b < row.length; b++) {
        const [rr, g, bl, a] = heatColor(row[b], max, this.ctx.theme.dark);
        if (a === 0 || (log && !(d.edges[b + 1] > 0))) continue;
        const ya = yPos(d.edges[b + 1]);
        const yb = yPos(d.edges[b]);
        c.fillStyle = `rgba(${rr},${g},${bl},${(a / 255).toFixed(3)})`;
        c.fillRect(x0, ya, w, Math.max(minW, yb - ya));
      }
    }
    c.restore();
  }

  private drawDrill(u: uPlot): void {
    const dr = this.ctx.drill;
    if (!dr) return;
    const m = this.ctx.meta(dr.run);
    if (!m || (m.axis === "val") !== (this.axis === "val") || m.placed) return;
    const off = this.ctx.settings.xAxis === "relstep" ? this.ctx.stepOffset(dr.run) : 0;
    drawDrillLine(u, u.valToPos(dr.step - off, "x", true), this.ctx.theme.fg);
  }

  private hoverStep: number | null = null;

  private onCursor(u: uPlot): void {
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) { this.hoverStep = null; return; }
    this.hoverStep = u.posToVal(left, "x");
    if (this.inside) {
      const r = u.over.getBoundingClientRect();
      this.showTooltip(r.left + left, r.top + (u.cursor.top ?? 0));
    }
  }

  /** Every run's quantiles at the hovered step (its pixel column's when reduced). */
  tipRows(): TipRow[] {
    const x = this.hoverStep;
    if (x === null) return [];
    const rows: TipRow[] = [];
    for (const { d, color } of this.runs) {
      let i = -1;
      for (let k = 0; k < d.steps.length; k++) if (d.steps[k] <= x + 0.5) i = k; else break;
      if (i < 0 || x > d.stepEnds[i] + 1) continue;
      const q = (p: number) => { const j = probIndex(d, p); return j >= 0 ? d.quantiles[j][i] : NaN; };
      const med = q(0.5);
      const parts = [0, 0.05, 0.25, 0.75, 0.95, 1].filter((p) => probIndex(d, p) >= 0)
        .map((p) => `${quantileLabel(p)} ${fmtNum(q(p))}`);
      rows.push({
        color, label: d.run, value: med, text: `median ${fmtNum(med)}`,
        note: `${parts.join(" · ")} · mean ${fmtNum(d.mean[i])}${d.reduced ? ` (steps ${fmtStep(d.steps[i])}–${fmtStep(d.stepEnds[i])})` : ""}`,
      });
    }
    return rows;
  }

  private showTooltip(cx: number, cy: number): void {
    const rows = this.tipRows();
    if (!rows.length || this.hoverStep === null) { hideTip(); return; }
    const reduced = this.runs.some((r) => r.d.reduced);
    showTip(cx, cy, `${this.axis === "val" ? "validation batch" : "step"} ${fmtStep(this.hoverStep)}`, rows,
      reduced ? "reduced: per pixel column, low quantiles are the column's min, high ones its max, the median the mean of medians" : "");
  }

  /** The runs' colours changed: redraw with them (no new request). */
  recolor(): void {
    for (const r of this.runs) r.color = this.ctx.color(r.run);
    if (this.runs.length) this.draw();
  }

  redraw(): void {
    this.bandU?.redraw(false);
    for (const u of this.heatUs) u.redraw(false);
  }

  debug() {
    return {
      tag: this.tag, axis: this.axis, state: this.state, badge: this.badgeEl.textContent,
      runs: this.runs.map((r) => ({ run: r.run, points: r.d.steps.length, reduced: r.d.reduced, bins: r.d.edges.length - 1 })),
      heatmaps: this.heatUs.length, yRange: this.yr,
    };
  }
}
