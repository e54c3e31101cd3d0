// One card of the Distributions view: a distribution tag of one run, as quantile bands over
// steps and as a histogram-over-steps heatmap (the `distribution` endpoint).
import uPlot from "uplot";
import { Distribution, fetchDistribution } from "./api";
import type { Ctx } from "./ctx";
import { debounce, h } from "./dom";
import { bandPairs, exportFileName, exportHref, fmtNum, heatColor, maxOf2D, Range } from "./logic";
import { baseAxes, withAlpha } from "./steps";

const BAND_HEIGHT = 170;
const HEAT_HEIGHT = 150;

export class DistCard {
  readonly root: HTMLElement;
  private readonly bandEl: HTMLDivElement;
  private readonly heatEl: HTMLDivElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly msgEl: HTMLDivElement;
  private bandU: uPlot | null = null;
  private heatU: uPlot | null = null;
  private d: Distribution | null = null;
  private abort: AbortController | null = null;
  private range: Range | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  private ro: ResizeObserver;
  private lastWidth = 0;

  constructor(private readonly ctx: Ctx, readonly tag: string, readonly run: string) {
    this.badgeEl = h("span", { class: "tbb-badge" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.bandEl = h("div", { class: "tbb-plot", tabindex: 0, role: "img", "aria-label": `Quantile bands of ${tag} for run ${run}; click opens a step` });
    this.heatEl = h("div", { class: "tbb-plot", role: "img", "aria-label": `Histogram over steps of ${tag} for run ${run}` });
    const title = h(
      "h3",
      { class: "tbb-title" },
      h("span", { class: "tbb-swatch", style: `background:${ctx.color(run)}` }),
      h("span", { text: tag }),
      h("span", { class: "tbb-muted tbb-sep", text: "·" }),
      h("span", { class: "tbb-run-name", text: run }),
    );
    const csv = h("a", {
      class: "tbb-link", href: exportHref(run, tag), download: exportFileName(run, tag), text: "CSV",
      title: "Download every step's count, moments, quantiles and histogram as CSV",
    });
    this.root = h(
      "section",
      { class: "tbb-card tbb-dist", "data-tag": tag, "data-run": run, "data-state": "init" },
      h("header", { class: "tbb-card-head" }, title, this.badgeEl, csv),
      h("div", { class: "tbb-sub", text: "quantile bands (min…max, 1…99%, 5…95%, 10…90%, 25…75%), median line, mean dashed" }),
      this.bandEl,
      h("div", { class: "tbb-sub", text: "histogram over steps (color: log count)" }),
      this.heatEl,
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
    this.heatU?.destroy();
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

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    const ti = this.ctx.tagInfo(this.run, this.tag);
    const v = this.ctx.view;
    if (!ti) return;
    this.ctx.chartBusy(this, true);
    const start = v ? Math.max(v.start, ti.first_step) : ti.first_step;
    const end = v ? Math.min(v.end, ti.last_step) : ti.last_step;
    this.range = v ? { start: v.start, end: v.end } : { start: ti.first_step, end: ti.last_step };
    if (start > end) {
      this.d = null;
      this.msgEl.textContent = "No step of this run in the step range.";
      this.setState("empty");
      this.draw();
      this.ctx.chartBusy(this, false);
      return;
    }
    this.setState("loading");
    try {
      const d = await fetchDistribution(this.run, this.tag, this.plotWidth(), start, end, 32, ac.signal);
      if (ac.signal.aborted) return;
      this.d = d;
      this.msgEl.textContent = "";
      this.draw();
      this.setState("drawn");
    } catch (e) {
      if (ac.signal.aborted || (e as Error).name === "AbortError") return;
      this.msgEl.textContent = `Could not load ${this.tag}: ${(e as Error).message}`;
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }

  private xr(mn: number, mx: number): [number, number] {
    const r = this.range;
    if (!r) return [mn, mx];
    return r.start === r.end ? [r.start - 0.5, r.end + 0.5] : [r.start, r.end + 1];
  }

  private draw(): void {
    const d = this.d;
    this.lastWidth = this.bandEl.clientWidth;
    this.bandU?.destroy();
    this.heatU?.destroy();
    this.bandU = this.heatU = null;
    const color = this.ctx.color(this.run);
    const width = this.bandEl.clientWidth || 480;
    const xs = d ? Array.from(d.steps) : [];
    const { pairs, median } = bandPairs(d?.probs ?? []);
    const series: uPlot.Series[] = [{ label: "step" }];
    const data: (number | null)[][] = [xs];
    const bands: uPlot.Band[] = [];
    const fin = (a: Float64Array) => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
    if (d) {
      pairs.forEach(([lo, hi], k) => {
        const alpha = 0.14 + (0.34 * k) / Math.max(1, pairs.length - 1);
        data.push(fin(d.quantiles[hi]));
        series.push({ label: `q${d.probs[hi]}`, stroke: "transparent", width: 0, points: { show: false }, spanGaps: true });
        const hiIdx = data.length - 1;
        data.push(fin(d.quantiles[lo]));
        series.push({ label: `q${d.probs[lo]}`, stroke: "transparent", width: 0, points: { show: false }, spanGaps: true });
        bands.push({ series: [hiIdx, data.length - 1], fill: withAlpha(color, alpha) });
      });
      if (median >= 0) {
        data.push(fin(d.quantiles[median]));
        series.push({ label: "median", stroke: color, width: 1.5, points: { show: false }, spanGaps: true });
      }
      data.push(fin(d.mean));
      series.push({ label: "mean", stroke: this.ctx.theme.fg, width: 1, dash: [4, 3], points: { show: false }, spanGaps: true });
    }
    let lo = Infinity, hi = -Infinity;
    if (d) {
      for (const v of d.min) if (Number.isFinite(v) && v < lo) lo = v;
      for (const v of d.max) if (Number.isFinite(v) && v > hi) hi = v;
    }
    if (!(lo <= hi)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.04;
    const common = {
      legend: { show: false },
      padding: [8, 12, 0, 0] as uPlot.Padding,
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false }, bind: { dblclick: () => null } as any },
      axes: baseAxes(this.ctx, false),
    };
    const onSelect = (u: uPlot) => {
      if (u.select.width < 4) return;
      const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.ctx.setView({ start: Math.floor(Math.min(a, b)), end: Math.ceil(Math.max(a, b)) });
    };
    this.bandU = new uPlot({
      ...common,
      width, height: BAND_HEIGHT,
      scales: { x: { time: false, range: (_u, mn, mx) => this.xr(mn, mx) }, y: { range: () => [lo - pad, hi + pad] } },
      series, bands,
      hooks: { setSelect: [onSelect], draw: [(u) => this.drawDrill(u)] },
    }, data as uPlot.AlignedData, this.bandEl);
    const edges = d?.edges ?? [];
    const y0 = edges.length ? edges[0] : lo, y1 = edges.length ? edges[edges.length - 1] : hi;
    this.heatU = new uPlot({
      ...common,
      width, height: HEAT_HEIGHT,
      scales: {
        x: { time: false, range: (_u, mn, mx) => this.xr(mn, mx) },
        y: { range: () => (y0 < y1 ? [y0, y1] : [y0 - 0.5, y1 + 0.5]) },
      },
      series: [{ label: "step" }, { label: "", stroke: "transparent", points: { show: false } }],
      hooks: { drawAxes: [(u) => this.drawHeat(u)], setSelect: [onSelect], draw: [(u) => this.drawDrill(u)] },
    }, [xs, xs.map(() => null)] as uPlot.AlignedData, this.heatEl);
    for (const u of [this.bandU, this.heatU]) {
      let down: { x: number; y: number } | null = null;
      u.over.addEventListener("mousedown", (e) => (down = { x: e.clientX, y: e.clientY }));
      u.over.addEventListener("dblclick", () => this.ctx.setView(null));
      u.over.addEventListener("click", (e) => {
        if (!d || !d.steps.length || (down && Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4)) return;
        const x = u.posToVal(e.clientX - u.over.getBoundingClientRect().left, "x");
        this.ctx.openDrill(this.run, Math.round(x));
      });
    }
    if (d) {
      const n = d.count.toLocaleString("en-US");
      this.badgeEl.textContent = d.reduced ? `reduced from ${n} steps` : `raw · ${n} steps`;
      this.badgeEl.dataset.kind = d.reduced ? "reduced" : "raw";
    } else {
      this.badgeEl.textContent = "no data";
      this.badgeEl.dataset.kind = "empty";
    }
    this.bandEl.setAttribute("aria-label", d
      ? `Quantile bands of ${this.tag} for run ${this.run}: values from ${fmtNum(lo)} to ${fmtNum(hi)}`
      : `No data for ${this.tag}`);
  }

  private drawHeat(u: uPlot): void {
    const d = this.d;
    if (!d || !d.counts.length || d.edges.length < 2) return;
    const c = u.ctx;
    const { left, top, width, height } = u.bbox;
    c.save();
    c.beginPath();
    c.rect(left, top, width, height);
    c.clip();
    const max = maxOf2D(d.counts);
    const minW = Math.max(1, uPlot.pxRatio);
    for (let j = 0; j < d.counts.length; j++) {
      const x0 = u.valToPos(d.steps[j], "x", true);
      const x1 = u.valToPos(d.stepEnds[j] + 1, "x", true);
      const w = Math.max(minW, x1 - x0);
      const row = d.counts[j];
      for (let b = 0; b < row.length; b++) {
        const [r, g, bl, a] = heatColor(row[b], max, this.ctx.theme.dark);
        if (a === 0) continue;
        const ya = u.valToPos(d.edges[b + 1], "y", true);
        const yb = u.valToPos(d.edges[b], "y", true);
        c.fillStyle = `rgba(${r},${g},${bl},${(a / 255).toFixed(3)})`;
        c.fillRect(x0, ya, w, Math.max(minW, yb - ya));
      }
    }
    c.restore();
  }

  private drawDrill(u: uPlot): void {
    const dr = this.ctx.drill;
    if (!dr) return;
    const { left, top, width, height } = u.bbox;
    const x = u.valToPos(dr.step, "x", true);
    if (x < left || x > left + width) return;
    const c = u.ctx;
    c.save();
    c.strokeStyle = this.ctx.theme.fg;
    c.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
    c.beginPath();
    c.moveTo(Math.round(x) + 0.5, top);
    c.lineTo(Math.round(x) + 0.5, top + height);
    c.stroke();
    c.restore();
  }

  redraw(): void {
    this.bandU?.redraw(false);
    this.heatU?.redraw(false);
  }

  debug() {
    const d = this.d;
    return {
      tag: this.tag, run: this.run, state: this.state, badge: this.badgeEl.textContent,
      points: d ? d.steps.length : 0, reduced: d?.reduced ?? false, bins: d ? d.edges.length - 1 : 0,
    };
  }
}
