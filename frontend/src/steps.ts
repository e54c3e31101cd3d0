// One chart of the Steps view: a scalar tag, every plotted run overlaid.
import uPlot from "uplot";
import { fetchSeries, Series } from "./api";
import type { Ctx } from "./ctx";
import { debounce, h, clear } from "./dom";
import {
  alignSeries, badgeText, buildEnvelope, columnAt, columnsNear, compactNum, Envelope, exportFileName, exportHref,
  fmtNum, fmtStep, HoverRow, nearestCandidate, nearestIndex, panRange, Range, smooth, SortKey, sortRows,
  wallToStep, yRange, zoomRange,
} from "./logic";

export const CHART_HEIGHT = 210;

export interface RunDraw {
  run: string;
  color: string;
  s: Series;
  env: Envelope;
  smooth: number[] | null;
}

export function withAlpha(hex: string, a: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

export function axisValues(wall: boolean) {
  return wall ? undefined : (_u: uPlot, splits: number[]) => splits.map((v) => (v == null ? "" : compactNum(v)));
}

export function yAxisValues(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (v == null ? "" : fmtNum(v)));
}

export function baseAxes(ctx: Ctx, wall: boolean): uPlot.Axis[] {
  const t = ctx.theme;
  const common = {
    stroke: t.fg,
    grid: { stroke: t.grid, width: 1 },
    ticks: { stroke: t.grid, width: 1 },
    font: "11px system-ui, sans-serif",
  };
  return [
    { ...common, values: axisValues(wall) as any, space: 60 },
    { ...common, values: yAxisValues as any, size: 58 },
  ];
}

/** Maps an x value (step, or wall time) to a step using the plotted runs' data. */
function xToStep(runs: RunDraw[], wall: boolean, x: number): number {
  if (!wall) return Math.round(x);
  for (const r of runs) {
    if (r.s.walls.length) return wallToStep(r.s.walls, r.s.steps, x);
  }
  return NaN;
}

export class StepChart {
  readonly root: HTMLElement;
  private readonly plotEl: HTMLDivElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly msgEl: HTMLDivElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly hoverHead: HTMLDivElement;
  private readonly sortButtons: Record<SortKey, HTMLButtonElement>;
  u: uPlot | null = null;
  private structKey = "";
  runs: RunDraw[] = [];
  private abort: AbortController | null = null;
  private yr: [number, number] = [0, 1];
  range: Range | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  private drawWaiters: (() => void)[] = [];
  private hoverX: number | null = null;
  private sortKey: SortKey = "run";
  private sortDesc = false;
  private exact = new Map<string, number>();
  private downAt: { x: number; y: number } | null = null;
  private lastWidth = 0;
  private ro: ResizeObserver | null = null;
  private loadedWidth = 0;

  constructor(private readonly ctx: Ctx, readonly tag: string) {
    this.badgeEl = h("span", { class: "tbb-badge" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.plotEl = h("div", {
      class: "tbb-plot",
      tabindex: 0,
      role: "img",
      "aria-label": `Chart of ${tag}. Drag to zoom, wheel zooms, shift+wheel pans; keys: + and - zoom, arrows pan, 0 resets, Enter opens the step in the middle.`,
    });
    const mk = (key: SortKey, label: string) => {
      const b = h("button", { type: "button", class: "tbb-sort", text: label, "data-key": key });
      b.addEventListener("click", () => {
        if (this.sortKey === key) this.sortDesc = !this.sortDesc;
        else { this.sortKey = key; this.sortDesc = key === "value"; }
        this.renderTable();
      });
      return b;
    };
    this.sortButtons = { run: mk("run", "Run"), step: mk("step", "Step"), value: mk("value", "Value") };
    this.tbody = h("tbody");
    this.hoverHead = h("div", { class: "tbb-hover-head", text: "Hover a chart to read every run's value at a step." });
    const table = h(
      "table",
      { class: "tbb-hover" },
      h("thead", {}, h("tr", {},
        h("th", { "aria-sort": "none", "data-col": "run" }, this.sortButtons.run),
        h("th", { "data-col": "step" }, this.sortButtons.step),
        h("th", { "data-col": "value" }, this.sortButtons.value),
        h("th", { text: "column min … max" }),
        h("th", { text: "export" }),
      )),
      this.tbody,
    );
    const title = h("h3", { class: "tbb-title", text: tag });
    this.root = h(
      "section",
      { class: "tbb-card tbb-chart", "data-tag": tag, "data-state": "init" },
      h("header", { class: "tbb-card-head" }, title, this.badgeEl),
      this.plotEl,
      this.msgEl,
      this.hoverHead,
      h("div", { class: "tbb-hover-wrap" }, table),
    );
    this.plotEl.addEventListener("keydown", (e) => this.onKey(e));
    this.ro = new ResizeObserver(() => this.onResize());
    this.ro.observe(this.plotEl);
  }

  destroy(): void {
    this.abort?.abort();
    this.ctx.chartBusy(this, false);
    this.ro?.disconnect();
    this.u?.destroy();
    this.u = null;
    this.root.remove();
  }

  private setState(s: StepChart["state"]): void {
    this.state = s;
    this.root.dataset.state = s;
  }

  /** Width of the plotting area in CSS pixels: the `width` asked of the server. */
  plotWidth(): number {
    if (this.u) return Math.max(16, Math.round(this.u.bbox.width / uPlot.pxRatio));
    return Math.max(16, (this.plotEl.clientWidth || 400) - 66);
  }

  private onResize(): void {
    const w = this.plotEl.clientWidth;
    if (!this.u || w === 0 || Math.abs(w - this.lastWidth) < 2) return;
    this.lastWidth = w;
    this.u.setSize({ width: w, height: CHART_HEIGHT });
    this.reloadAfterResize();
  }

  private reloadAfterResize = debounce(() => {
    if (Math.abs(this.plotWidth() - this.loadedWidth) > 4) void this.load();
  }, 250);

  /** Runs to draw and the step range to ask each of them for. */
  private plan(): { run: string; start: number; end: number }[] {
    const out: { run: string; start: number; end: number }[] = [];
    const v = this.ctx.view;
    for (const run of this.ctx.plotted()) {
      const ti = this.ctx.tagInfo(run, this.tag);
      if (!ti || ti.count === 0) continue;
      const start = v ? Math.max(v.start, ti.first_step) : ti.first_step;
      const end = v ? Math.min(v.end, ti.last_step) : ti.last_step;
      if (start > end) continue;
      out.push({ run, start, end });
    }
    return out;
  }

  /** Fetches every plotted run's series for the current view and redraws. */
  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.ctx.chartBusy(this, true);
    const full = this.ctx.fullRange(this.tag);
    const view = this.ctx.view;
    this.range = full ? (view ? { start: view.start, end: view.end } : full) : null;
    if (!this.u) this.build([[]]);
    const plan = this.plan();
    if (plan.length === 0) {
      this.runs = [];
      this.setState("empty");
      this.msgEl.textContent = full ? "No point of the selected runs in this step range." : "No selected run has this tag.";
      this.render();
      await this.drawn();
      if (this.abort === ac) this.ctx.chartBusy(this, false);
      return;
    }
    this.setState("loading");
    const width = this.plotWidth();
    try {
      const list = await Promise.all(
        plan.map((p) => fetchSeries(p.run, this.tag, width, p.start, p.end, ac.signal)),
      );
      if (ac.signal.aborted) return;
      this.loadedWidth = width;
      const wall = this.ctx.settings.xAxis === "wall";
      const sm = this.ctx.settings.smoothing;
      this.runs = list.map((s) => {
        const env = buildEnvelope(s.steps, s.values, wall ? s.walls : s.steps, s.start, s.end, width, s.reduced);
        return { run: s.run, color: this.ctx.color(s.run), s, env, smooth: sm > 0 ? smooth(env.lineY, sm) : null };
      });
      this.exact.clear();
      this.msgEl.textContent = "";
      this.render();
      await this.drawn();
      if (ac.signal.aborted) return;
      this.setState("drawn");
    } catch (e) {
      if (ac.signal.aborted || (e as Error).name === "AbortError") return;
      this.runs = [];
      this.msgEl.textContent = `Could not load ${this.tag}: ${(e as Error).message}`;
      this.render();
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }

  /** Resolves after uPlot's next draw (or after 2 s, should it never draw). */
  private drawn(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.drawWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** Rebuilds uPlot when the series set changes, else swaps the data in. */
  render(): void {
    const wall = this.ctx.settings.xAxis === "wall";
    const log = this.ctx.settings.log;
    const lines = this.runs.map((r) => ({
      x: r.env.lineX,
      y: log ? r.env.lineY.map((v) => (v > 0 ? v : null)) : r.env.lineY,
    }));
    const smooths = this.runs
      .filter((r) => r.smooth)
      .map((r) => ({ x: r.env.lineX, y: log ? r.smooth!.map((v) => (v > 0 ? v : null)) : r.smooth! }));
    const data = this.runs.length ? alignSeries([...lines, ...smooths]) : [[]];
    this.yr = yRange(
      this.runs.map((r) => r.env.yMin),
      this.runs.map((r) => r.env.yMax),
      this.runs.map((r) => r.env.yMinPos),
      log,
    );
    const key = [wall, log, smooths.length, this.runs.map((r) => r.run + r.color).join("\u0000"), this.ctx.theme.dark].join(";");
    if (!this.u || key !== this.structKey) {
      this.build(data, key);
    } else {
      this.u.setData(data as uPlot.AlignedData, true);
    }
    this.applyXRange();
    this.renderBadge();
    this.renderTable();
  }

  private applyXRange(): void {
    const u = this.u;
    if (!u) return;
    const r = this.xRange();
    if (r) u.setScale("x", { min: r[0], max: r[1] });
  }

  /** The x range to show: the view in steps; in wall-time mode the data's extent. */
  private xRange(): [number, number] | null {
    const wall = this.ctx.settings.xAxis === "wall";
    if (!wall) {
      if (!this.range) return null;
      const { start, end } = this.range;
      return start === end ? [start - 0.5, end + 0.5] : [start, end];
    }
    let lo = Infinity, hi = -Infinity;
    for (const r of this.runs) {
      const w = r.s.walls;
      if (w.length) {
        lo = Math.min(lo, w[0]);
        hi = Math.max(hi, w[w.length - 1]);
      }
    }
    if (!(lo <= hi)) return null;
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  }

  private build(data: (number | null)[][], key = ""): void {
    this.u?.destroy();
    const wall = this.ctx.settings.xAxis === "wall";
    const log = this.ctx.settings.log;
    const smoothing = this.ctx.settings.smoothing > 0;
    const series: uPlot.Series[] = [{ label: wall ? "wall time" : "step" }];
    for (const r of this.runs) {
      series.push({
        label: r.run,
        stroke: smoothing ? withAlpha(r.color, 0.45) : r.color,
        width: 1.25,
        spanGaps: true,
        points: { show: false },
      });
    }
    if (smoothing) {
      for (const r of this.runs) {
        series.push({ label: `${r.run} (smoothed)`, stroke: r.color, width: 2, spanGaps: true, points: { show: false } });
      }
    }
    const opts: uPlot.Options = {
      width: this.plotEl.clientWidth || 480,
      height: CHART_HEIGHT,
      legend: { show: false },
      padding: [10, 12, 0, 0],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { show: false },
        bind: { dblclick: () => null } as any,
      },
      scales: {
        x: { time: wall, range: (_u, mn, mx) => this.xRange() ?? [mn, mx] },
        y: log
          ? { distr: 3, log: 10, range: () => (this.yr[0] > 0 && this.yr[1] > this.yr[0] ? this.yr : [0.1, 10]) }
          : { range: () => this.yr },
      },
      axes: baseAxes(this.ctx, wall),
      series,
      hooks: {
        drawAxes: [(u) => this.drawEnvelopes(u)],
        draw: [(u) => this.drawOverlay(u)],
        setSelect: [(u) => this.onSelect(u)],
        setCursor: [(u) => this.onCursor(u)],
      },
    };
    this.structKey = key;
    this.u = new uPlot(opts, data as uPlot.AlignedData, this.plotEl);
    this.lastWidth = this.plotEl.clientWidth;
    const over = this.u.over;
    over.addEventListener("mousedown", (e) => (this.downAt = { x: e.clientX, y: e.clientY }));
    over.addEventListener("click", (e) => this.onClick(e));
    over.addEventListener("dblclick", () => this.ctx.setView(null));
    over.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
  }

  /** The shaded envelope: one rectangle per pixel column from its min to its max. */
  private drawEnvelopes(u: uPlot): void {
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    c.save();
    c.beginPath();
    c.rect(left, top, width, height);
    c.clip();
    const minW = Math.max(1, uPlot.pxRatio);
    const floor = this.yr[0];
    const faint = this.ctx.settings.smoothing > 0;
    for (const r of this.runs) {
      if (!r.s.reduced) continue;
      const e = r.env;
      const n = e.x0.length;
      const xa = new Float64Array(n), xb = new Float64Array(n), ya = new Float64Array(n), yb = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        xa[i] = u.valToPos(e.x0[i], "x", true);
        xb[i] = u.valToPos(e.x1[i], "x", true);
        ya[i] = u.valToPos(e.hi[i], "y", true);
        yb[i] = u.valToPos(this.ctx.settings.log && !(e.lo[i] > 0) ? floor : e.lo[i], "y", true);
      }
      // the shaded area: each column from its min to its max
      c.fillStyle = withAlpha(r.color, faint ? 0.18 : 0.3);
      for (let i = 0; i < n; i++) {
        let x0 = xa[i], w = xb[i] - xa[i], y0 = ya[i], hh = yb[i] - ya[i];
        if (w < minW) { x0 -= (minW - w) / 2; w = minW; }
        if (hh < minW) { y0 -= (minW - hh) / 2; hh = minW; }
        c.fillRect(x0, y0, w, hh);
      }
      // its outline (through every column's max, and every column's min): a lone spike
      // stays a crisp line at any zoom
      c.strokeStyle = withAlpha(r.color, faint ? 0.35 : 0.6);
      c.lineWidth = uPlot.pxRatio;
      for (const ys of [ya, yb]) {
        c.beginPath();
        for (let i = 0; i < n; i++) {
          const xm = (xa[i] + xb[i]) / 2;
          if (i === 0) c.moveTo(xm, ys[i]);
          else c.lineTo(xm, ys[i]);
        }
        c.stroke();
      }
    }
    c.restore();
  }

  /** Non-finite markers (NaN and +Inf at the top, -Inf at the bottom) and the drill-down step. */
  private drawOverlay(u: uPlot): void {
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const px = uPlot.pxRatio;
    c.save();
    c.beginPath();
    c.rect(left, top - 6 * px, width, height + 12 * px);
    c.clip();
    for (const r of this.runs) {
      for (const m of r.env.markers) {
        const x = u.valToPos(m.x, "x", true);
        if (x < left - 1 || x > left + width + 1) continue;
        const s = 5 * px;
        c.fillStyle = this.ctx.theme.bad;
        c.strokeStyle = r.color;
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
    const d = this.ctx.drill;
    if (d) {
      let x: number | null = null;
      if (this.ctx.settings.xAxis === "step") x = d.step;
      else {
        const r = this.runs.find((q) => q.run === d.run) ?? this.runs[0];
        if (r && r.s.steps.length) {
          const i = nearestIndex(r.s.steps, d.step);
          x = r.s.walls[i];
        }
      }
      if (x !== null) {
        const xp = u.valToPos(x, "x", true);
        if (xp >= left && xp <= left + width) {
          c.strokeStyle = this.ctx.theme.fg;
          c.lineWidth = px;
          c.setLineDash([4 * px, 3 * px]);
          c.beginPath();
          c.moveTo(Math.round(xp) + 0.5, top);
          c.lineTo(Math.round(xp) + 0.5, top + height);
          c.stroke();
        }
      }
    }
    c.restore();
    const waiters = this.drawWaiters;
    this.drawWaiters = [];
    for (const w of waiters) w();
  }

  private onSelect(u: uPlot): void {
    const sel = u.select;
    if (sel.width < 4) return;
    const a = u.posToVal(sel.left, "x");
    const b = u.posToVal(sel.left + sel.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const wall = this.ctx.settings.xAxis === "wall";
    const s0 = xToStep(this.runs, wall, a);
    const s1 = xToStep(this.runs, wall, b);
    if (!Number.isFinite(s0) || !Number.isFinite(s1)) return;
    this.downAt = null;
    this.ctx.setView({ start: Math.floor(Math.min(s0, s1)), end: Math.ceil(Math.max(s0, s1)) });
  }

  private onWheel(e: WheelEvent): void {
    const u = this.u;
    const full = this.ctx.fullRange(this.tag);
    if (!u || !full || this.ctx.settings.xAxis === "wall") return;
    e.preventDefault();
    const cur = this.ctx.view ?? full;
    const horizontal = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (horizontal) {
      const d = e.shiftKey ? e.deltaY : e.deltaX;
      this.ctx.setView(panRange(cur, full, d > 0 ? 0.15 : -0.15));
      return;
    }
    const rect = u.over.getBoundingClientRect();
    const center = u.posToVal(e.clientX - rect.left, "x");
    this.ctx.setView(zoomRange(cur, full, e.deltaY > 0 ? 1.3 : 1 / 1.3, center));
  }

  private onKey(e: KeyboardEvent): void {
    const full = this.ctx.fullRange(this.tag);
    if (!full) return;
    const cur = this.ctx.view ?? full;
    if (e.key === "+" || e.key === "=") this.ctx.setView(zoomRange(cur, full, 0.5));
    else if (e.key === "-" || e.key === "_") this.ctx.setView(zoomRange(cur, full, 2));
    else if (e.key === "0" || e.key === "Home") this.ctx.setView(null);
    else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !this.ctx.drill) {
      this.ctx.setView(panRange(cur, full, e.key === "ArrowLeft" ? -0.2 : 0.2));
    } else if (e.key === "Enter" && this.runs.length) {
      this.ctx.openDrill(this.runs[0].run, Math.round((cur.start + cur.end) / 2));
    } else return;
    e.preventDefault();
  }

  /** A click opens the drill-down at the point nearest the cursor: column extremes included, so
   * clicking a spike's column opens the spike's step. */
  private onClick(e: MouseEvent): void {
    const u = this.u;
    if (!u || !this.runs.length) return;
    if (this.downAt && Math.hypot(e.clientX - this.downAt.x, e.clientY - this.downAt.y) > 4) return;
    const rect = u.over.getBoundingClientRect();
    const cx = e.clientX - rect.left, cy = e.clientY - rect.top;
    const x = u.posToVal(cx, "x");
    const slack = Math.abs(u.posToVal(cx + 3, "x") - x);
    const cands: { px: number; py: number; run: string; step: number }[] = [];
    const add = (run: string, xv: number, yv: number, step: number) => {
      const py = Number.isFinite(yv) ? u.valToPos(yv, "y") : yv === Infinity || Number.isNaN(yv) ? 0 : rect.height;
      cands.push({ run, step, px: u.valToPos(xv, "x"), py });
    };
    for (const r of this.runs) {
      const e2 = r.env;
      const i = nearestIndex(e2.lineX, x);
      for (const j of [i - 1, i, i + 1]) {
        if (j >= 0 && j < e2.lineX.length) add(r.run, e2.lineX[j], e2.lineY[j], e2.lineStep[j]);
      }
      if (r.s.reduced) {
        for (const c of columnsNear(e2, x, slack)) {
          add(r.run, e2.hiX[c], e2.hi[c], e2.hiStep[c]);
          add(r.run, e2.loX[c], e2.lo[c], e2.loStep[c]);
        }
      }
      for (const m of e2.markers) add(r.run, m.x, m.kind === "-inf" ? -Infinity : m.kind === "inf" ? Infinity : NaN, m.step);
    }
    const best = nearestCandidate(cands, cx, cy);
    if (best) this.ctx.openDrill(best.run, best.step);
  }

  private onCursor(u: uPlot): void {
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) return;
    this.hoverX = u.posToVal(left, "x");
    this.renderTable();
    this.fetchExact();
  }

  /** The step under the cursor (steps mode) or the nearest point's step (wall time). */
  private hoverStep(): number | null {
    if (this.hoverX === null) return null;
    if (this.ctx.settings.xAxis === "step") return Math.round(this.hoverX);
    const s = xToStep(this.runs, true, this.hoverX);
    return Number.isFinite(s) ? s : null;
  }

  hoverRows(): HoverRow[] {
    const x = this.hoverX;
    const step = this.hoverStep();
    return this.runs.map((r) => {
      const row: HoverRow = { run: r.run, color: r.color, step: NaN, value: NaN, exact: false };
      if (x === null || step === null) return row;
      // no value outside the run's steps (a shorter run is not extrapolated)
      const tol = (r.s.end - r.s.start + 1) / Math.max(1, this.loadedWidth);
      if (step < r.s.start - tol || step > r.s.end + tol) return row;
      const e = r.env;
      const key = `${r.run}\u0000${step}`;
      if (this.exact.has(key)) {
        row.step = step;
        row.value = this.exact.get(key)!;
        row.exact = true;
      } else {
        const i = nearestIndex(e.lineStep, step);
        if (i >= 0) {
          row.step = e.lineStep[i];
          row.value = e.lineY[i];
          row.exact = !r.s.reduced || e.lineStep[i] === step;
        }
        for (const m of e.markers) {
          if (m.step === step) {
            row.step = step;
            row.value = m.kind === "nan" ? NaN : m.kind === "inf" ? Infinity : -Infinity;
            row.exact = true;
          }
        }
      }
      if (r.s.reduced) {
        const c = columnAt(e, x, 0);
        if (c >= 0) { row.lo = e.lo[c]; row.hi = e.hi[c]; }
      }
      return row;
    });
  }

  /** For reduced data the point under the cursor may not be loaded: ask for that one step. */
  private fetchExact = debounce(async () => {
    const step = this.hoverStep();
    if (step === null) return;
    const todo = this.runs.filter((r) => r.s.reduced && !this.exact.has(`${r.run}\u0000${step}`)
      && step >= r.s.start && step <= r.s.end);
    if (!todo.length) return;
    const got = await Promise.all(todo.map((r) => fetchSeries(r.run, this.tag, 1, step, step).catch(() => null)));
    got.forEach((s, i) => {
      if (s && s.steps.length && s.steps[0] === step) this.exact.set(`${todo[i].run}\u0000${step}`, s.values[0]);
    });
    if (this.hoverStep() === step) this.renderTable();
  }, 120);

  private renderTable(): void {
    const step = this.hoverStep();
    this.hoverHead.textContent = step === null
      ? "Hover a chart to read every run's value at a step; click to open that step."
      : `Values at step ${fmtStep(step)} (≈ marks the nearest loaded point of a reduced series)`;
    for (const k of Object.keys(this.sortButtons) as SortKey[]) {
      const th = this.sortButtons[k].parentElement!;
      th.setAttribute("aria-sort", k === this.sortKey ? (this.sortDesc ? "descending" : "ascending") : "none");
    }
    const rows = sortRows(this.hoverRows(), this.sortKey, this.sortDesc);
    clear(this.tbody);
    for (const r of rows) {
      const a = h("a", {
        href: exportHref(r.run, this.tag),
        download: exportFileName(r.run, this.tag),
        class: "tbb-link",
        text: "CSV",
        title: `Download every point of ${this.tag} for this run as CSV`,
      });
      const nonFinite = !Number.isFinite(r.value) && !Number.isNaN(r.step);
      this.tbody.append(h(
        "tr",
        { "data-run": r.run },
        h("td", { class: "tbb-run-cell" }, h("span", { class: "tbb-swatch", style: `background:${r.color}` }), h("span", { text: r.run })),
        h("td", { class: "tbb-num", text: Number.isNaN(r.step) ? "–" : fmtStep(r.step) }),
        h("td", {
          class: "tbb-num" + (nonFinite ? " tbb-bad" : ""),
          text: Number.isNaN(r.step) ? "–" : (r.exact ? "" : "≈ ") + fmtNum(r.value),
          title: Number.isNaN(r.step) ? null : String(r.value),
        }),
        h("td", { class: "tbb-num tbb-muted", text: r.lo !== undefined ? `${fmtNum(r.lo)} … ${fmtNum(r.hi)}` : "" }),
        h("td", {}, a),
      ));
    }
  }

  private renderBadge(): void {
    const b = badgeText(this.runs.map((r) => ({
      reduced: r.s.reduced, count: r.s.count, points: r.s.steps.length, sampled: r.s.sampled,
    })));
    this.badgeEl.textContent = b.text;
    this.badgeEl.dataset.kind = b.kind;
    this.badgeEl.title = b.kind === "raw"
      ? "Every point in this range is drawn."
      : "Each pixel column shows the min…max of its points (shaded) and a line through its first and last points; zoom in to reach single steps.";
  }

  /** Summary for tests and the benchmark (window.__tbb). */
  debug() {
    return {
      tag: this.tag,
      state: this.state,
      width: this.loadedWidth,
      range: this.range,
      badge: this.badgeEl.textContent,
      runs: this.runs.map((r) => {
        let hiMax = -Infinity, hiStep = NaN;
        r.env.hi.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = r.env.hiStep[i]; } });
        r.env.lineY.forEach((v, i) => { if (v > hiMax) { hiMax = v; hiStep = r.env.lineStep[i]; } });
        return {
          run: r.run, reduced: r.s.reduced, count: r.s.count, points: r.s.steps.length,
          columns: r.env.x0.length, yMax: r.env.yMax, maxValue: hiMax, maxStep: hiStep,
          markers: r.env.markers.length, start: r.s.start, end: r.s.end,
        };
      }),
      yRange: this.yr,
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
