// The Samples view (with the loss chart above it, from app.ts): per run, the samples that kept
// coming back among their batch's highest losses over the visible steps (the `hardest` endpoint;
// a click marks every step of a sample on the charts), and a class × step heatmap of each run's
// per-class mean loss (the `per_class` endpoint, one column per pixel), on one colour scale; a
// click on a cell opens the drill-down at that step.
import uPlot from "uplot";
import { fetchHardest, fetchPerClass, HardSample, Hardest, PerClass } from "./api";
import { Axis, evaluationStepRange } from "./axes";
import { withAlpha } from "./colors";
import type { Ctx } from "./ctx";
import { clear, copyButton, debounce, h } from "./dom";
import { fmtNum, fmtStep, Range, rampColor, stepsXRange } from "./logic";
import { columnOfStep, identity, lossColor, lossScale, sampleKey, worstStepOfClass } from "./samples";
import { baseAxes, clipToPlot, cursorSync, drawDrillLine } from "./steps";
import { hideTip, showTip } from "./tooltip";

/** A wide card of the Samples view: a title, a note after it, its body. */
function card(cls: string, title: string, note: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", { class: `tbb-card tbb-wide ${cls}`, "data-state": "init" },
    h("header", { class: "tbb-card-head" }, h("h3", { class: "tbb-title" }, h("span", { text: title }),
      h("span", { class: "tbb-muted tbb-sep tbb-small", text: `· ${note}` }))), ...body);
}

/** Highlights the marked sample's rows (tr[data-fingerprint]) in the per-run parts
 * (`partSelector`, each with its data-run) of a table block. */
export function highlightMarked(root: Element, partSelector: string, m: { run: string; fingerprint: string } | null): void {
  root.querySelectorAll<HTMLElement>(partSelector).forEach((part) => {
    part.querySelectorAll<HTMLElement>("tr[data-fingerprint]").forEach((tr) => {
      if (m && m.run === part.dataset.run && m.fingerprint === tr.dataset.fingerprint) tr.setAttribute("aria-selected", "true");
      else tr.removeAttribute("aria-selected");
    });
  });
}

/** How many of the hardest samples each run lists. */
export const HARDEST_TOP = 50;
const ROW_PX = 13;

/** The steps of a run (its own numbering) that the view of its axis shows, undefined for all;
 * null when the view holds none of them (a placed validation run: the evaluations in view). */
export function viewStepsOf(ctx: Ctx, run: string): { start: number; end: number } | undefined | null {
  const m = ctx.meta(run);
  if (!m) return undefined;
  const v = ctx.view(m.axis);
  if (!v) return undefined;
  const off = ctx.settings.xAxis === "relstep" ? ctx.stepOffset(run) : 0;
  if (m.placed) return evaluationStepRange(m.info.evaluations ?? [], v.start + off, v.end + off);
  return { start: v.start + off, end: v.end + off };
}

function rangeText(r: Hardest, placed: boolean): string {
  return `${placed ? "validation batches" : "steps"} ${fmtStep(r.start)}–${fmtStep(r.end)}`;
}

/** The hardest samples of every plotted run that recorded samples, one table per run. */
export class HardestCard {
  readonly root: HTMLElement;
  readonly axis = "any" as const;
  private readonly body: HTMLDivElement;
  private readonly msgEl: HTMLDivElement;
  private abort: AbortController | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  results: { run: string; res: Hardest | null; error: string }[] = [];

  constructor(private readonly ctx: Ctx) {
    this.body = h("div", { class: "tbb-hardest-runs" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.root = card("tbb-hardest", "Hardest samples",
      "most often among their batch's highest losses in the steps shown; click one to mark its steps", this.body, this.msgEl);
  }

  /** Plotted runs with samples: training runs first, then validation runs. */
  members(): string[] {
    const runs = this.ctx.plotted().filter((r) => this.ctx.meta(r)?.info.samples);
    const val = (r: string) => (this.ctx.meta(r)?.role === "validation" ? 1 : 0);
    return runs.map((r, i) => ({ r, i })).sort((a, b) => val(a.r) - val(b.r) || a.i - b.i).map((x) => x.r);
  }

  private setState(s: HardestCard["state"]): void {
    this.state = s;
    this.root.dataset.state = s;
  }

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.ctx.chartBusy(this, true);
    this.setState("loading");
    try {
      const runs = this.members();
      const got = await Promise.all(runs.map(async (run) => {
        const r = viewStepsOf(this.ctx, run);
        if (r === null) return { run, res: null, error: "no evaluation in the steps shown" };
        try {
          return { run, res: await fetchHardest(run, r?.start, r?.end, HARDEST_TOP, ac.signal), error: "" };
        } catch (e) {
          if (ac.signal.aborted) throw e;
          return { run, res: null, error: (e as Error).message };
        }
      }));
      if (ac.signal.aborted) return;
      this.results = got;
      this.render();
      this.msgEl.textContent = runs.length ? "" : "None of the selected runs recorded samples (BatchStats(samples=8), the default, records them).";
      this.setState(runs.length ? "drawn" : "empty");
    } catch (e) {
      if (ac.signal.aborted || (e as Error).name === "AbortError") return;
      this.msgEl.textContent = `Could not load the hardest samples: ${(e as Error).message}`;
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }

  render(): void {
    clear(this.body);
    for (const { run, res, error } of this.results) {
      const placed = !!this.ctx.meta(run)?.placed;
      const part = h("div", { class: "tbb-hardest-run", "data-run": run },
        h("div", { class: "tbb-samples-head" }, h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(run)}` }),
          h("span", { class: "tbb-run-name", text: run }),
          res ? h("span", { class: "tbb-muted tbb-small tbb-sep", text: rangeText(res, placed) }) : null));
      this.body.append(part);
      if (!res) { part.append(h("p", { class: "tbb-muted tbb-small", text: error })); continue; }
      if (!res.samples.length) { part.append(h("p", { class: "tbb-muted tbb-small", text: "No samples recorded in these steps." })); continue; }
      const head = h("tr", {}, h("th", { class: "tbb-num", text: "#" }), h("th", { text: "sample" }),
        h("th", { class: "tbb-num", text: "times", title: "At how many steps it was among its batch's highest-loss samples" }),
        h("th", { class: "tbb-num", text: "mean loss", title: "Its mean loss over those steps" }),
        h("th", { class: "tbb-num", text: "max loss" }),
        h("th", { class: "tbb-num", text: "first", title: "The first and last of those steps (click: open it)" }),
        h("th", { class: "tbb-num", text: "last" }),
        h("th", { text: "label → last prediction" }));
      const tb = h("tbody");
      res.samples.forEach((s, i) => tb.append(this.row(run, s, i)));
      part.append(h("div", { class: "tbb-scroll tbb-hardest-scroll" }, h("table", { class: "tbb-table tbb-samples tbb-hardest-table" }, h("thead", {}, head), tb)));
    }
    this.marksChanged();
  }

  private row(run: string, s: HardSample, i: number): HTMLTableRowElement {
    const who = identity(s.fingerprint, s.id);
    const step = (st: number) => {
      const b = h("button", { type: "button", class: "tbb-linkbtn", text: fmtStep(st), title: `Open step ${fmtStep(st)}` });
      b.addEventListener("click", (e) => { e.stopPropagation(); this.ctx.openDrill(run, st, null); });
      return b;
    };
    const wrong = s.label !== null && s.predicted !== null && s.label !== s.predicted;
    const tr = h("tr", { "data-fingerprint": s.fingerprint, "data-key": sampleKey(s), tabindex: 0, class: "tbb-clickable",
      title: "Click: mark on the charts every step at which it was among its batch's highest losses" },
      h("td", { class: "tbb-num tbb-muted", text: String(i + 1) }),
      h("td", { class: "tbb-mono", title: `fingerprint ${who.full}${s.id !== null ? ` (id ${s.id})` : ""}` },
        h("span", { text: who.text }), " ", copyButton(() => s.fingerprint, "copy", `Copy the fingerprint ${s.fingerprint}`)),
      h("td", { class: "tbb-num", text: String(s.count) }),
      h("td", { class: "tbb-num", text: fmtNum(Number(s.mean_loss.toPrecision(4))), title: String(s.mean_loss) }),
      h("td", { class: "tbb-num", text: fmtNum(Number(s.max_loss.toPrecision(4))), title: String(s.max_loss) }),
      h("td", { class: "tbb-num" }, step(s.first_step)),
      h("td", { class: "tbb-num" }, step(s.last_step)),
      h("td", { class: wrong ? "tbb-wrong" : "", text: s.label === null ? "–" : `${fmtNum(s.label)} → ${s.predicted === null ? "–" : fmtNum(s.predicted)}` }));
    const mark = () => this.ctx.markSample(run, s, s);
    tr.addEventListener("click", mark);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); mark(); } });
    return tr;
  }

  /** Highlights the marked sample's row. */
  marksChanged(): void {
    highlightMarked(this.body, ".tbb-hardest-run", this.ctx.marks);
  }

  recolor(): void {
    this.render();
  }

  redraw(): void { /* a table: nothing drawn on a canvas */ }

  destroy(): void {
    this.abort?.abort();
    this.ctx.chartBusy(this, false);
    this.root.remove();
  }

  debug() {
    return {
      state: this.state,
      runs: this.results.map(({ run, res, error }) => ({
        run, error, start: res?.start ?? null, end: res?.end ?? null,
        samples: (res?.samples ?? []).map((s) => ({ fingerprint: s.fingerprint, id: s.id, count: s.count, first_step: s.first_step, last_step: s.last_step })),
      })),
    };
  }
}

interface Heat {
  run: string;
  output: string | null;
  pc: PerClass;
  /** steps → x of the view (steps since the run's start on that axis) */
  off: number;
}

/** Per-class mean losses over steps: one class × step heatmap per run (and output), on the
 * training axis's view and one log colour scale. */
export class ClassHeatCard {
  readonly root: HTMLElement;
  readonly axis: Axis = "train";
  private readonly heatWrap: HTMLDivElement;
  private readonly msgEl: HTMLDivElement;
  private abort: AbortController | null = null;
  private us: uPlot[] = [];
  heats: Heat[] = [];
  scale: [number, number] | null = null;
  private range: Range | null = null;
  state: "init" | "loading" | "drawn" | "error" | "empty" = "init";
  private ro: ResizeObserver;
  private lastWidth = 0;

  constructor(private readonly ctx: Ctx) {
    this.heatWrap = h("div", { class: "tbb-heats tbb-class-heats" });
    this.msgEl = h("div", { class: "tbb-msg", role: "status" });
    this.root = card("tbb-classes", "Loss per class",
      "each class's mean loss in the batch, per step (one column per pixel: the mean over its steps); click a cell to open its step",
      this.heatWrap, this.msgEl);
    this.ro = new ResizeObserver(debounce(() => {
      const w = this.heatWrap.clientWidth;
      if (w && Math.abs(w - this.lastWidth) > 4) void this.load();
    }, 250));
    this.ro.observe(this.heatWrap);
  }

  /** (run, output) of every plotted training-axis run with per-class losses. */
  members(): { run: string; output: string | null }[] {
    const out: { run: string; output: string | null }[] = [];
    for (const run of this.ctx.plotted()) {
      const m = this.ctx.meta(run);
      if (!m || m.axis !== "train" || m.placed) continue;
      for (const output of m.info.per_class ?? []) out.push({ run, output });
    }
    return out;
  }

  private setState(s: ClassHeatCard["state"]): void {
    this.state = s;
    this.root.dataset.state = s;
  }

  private plotWidth(): number {
    const u = this.us[0];
    if (u) return Math.max(16, Math.round(u.bbox.width / uPlot.pxRatio));
    return Math.max(16, (this.heatWrap.clientWidth || 400) - 50);
  }

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    this.ctx.chartBusy(this, true);
    this.setState("loading");
    const v = this.ctx.view("train");
    this.range = v ? { ...v } : null;
    try {
      const width = this.plotWidth();
      const rel = this.ctx.settings.xAxis === "relstep";
      const got = await Promise.all(this.members().map(async ({ run, output }) => {
        const off = rel ? this.ctx.stepOffset(run) : 0;
        try {
          const pc = await fetchPerClass(run, width, v ? v.start + off : undefined, v ? v.end + off : undefined, output, ac.signal);
          return { run, output, pc, off };
        } catch (e) {
          if (ac.signal.aborted) throw e;
          return null; // (e.g. no step of this run in the view: a 400 on its range)
        }
      }));
      if (ac.signal.aborted) return;
      this.heats = got.filter((x): x is Heat => !!x && x.pc.steps.length > 0);
      if (!this.range) {
        let lo = Infinity, hi = -Infinity;
        for (const x of this.heats) { lo = Math.min(lo, x.pc.steps[0] - x.off); hi = Math.max(hi, x.pc.stepEnds[x.pc.stepEnds.length - 1] - x.off); }
        this.range = lo <= hi ? { start: lo, end: hi } : null;
      }
      this.msgEl.textContent = this.heats.length ? "" : "No selected training run recorded per-class losses in these steps (a classification loss records them).";
      this.draw();
      this.setState(this.heats.length ? "drawn" : "empty");
    } catch (e) {
      if (ac.signal.aborted || (e as Error).name === "AbortError") return;
      this.msgEl.textContent = `Could not load the per-class losses: ${(e as Error).message}`;
      this.setState("error");
    } finally {
      if (this.abort === ac) this.ctx.chartBusy(this, false);
    }
  }


  private draw(): void {
    for (const u of this.us) u.destroy();
    this.us = [];
    clear(this.heatWrap);
    this.lastWidth = this.heatWrap.clientWidth;
    const width = this.heatWrap.clientWidth || 480;
    this.scale = lossScale(this.heats.map((x) => x.pc));
    const scale = this.scale ?? [1e-3, 1];
    const mode = this.ctx.settings.xAxis === "relstep" ? "relstep" : "step";
    for (const heat of this.heats) {
      const { run, output, pc } = heat;
      const C = pc.classes;
      const el = h("div", { class: "tbb-plot tbb-heat tbb-class-heat", role: "img", "data-run": run, "data-output": output ?? "",
        "aria-label": `Mean loss per class over steps, run ${run}${output ? `, output ${output}` : ""}` });
      this.heatWrap.append(h("div", { class: "tbb-heat-label" }, h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(run)}` }),
        h("span", { class: "tbb-run-name", text: run }), output ? h("span", { class: "tbb-sep", text: `· ${output}` }) : null,
        h("span", { class: "tbb-sep", text: `· ${C} classes · ${pc.reduced ? `${pc.count.toLocaleString("en-US")} steps in ${pc.steps.length} columns` : `${pc.count.toLocaleString("en-US")} steps`}` })), el);
      const every = Math.max(1, Math.ceil(C / 12));
      const splits = Array.from({ length: Math.ceil(C / every) }, (_, i) => C - i * every - 0.5);
      const [ax, ay] = baseAxes(this.ctx, mode);
      const xs = pc.steps.map((s) => s - heat.off);
      const u = new uPlot({
        width, height: Math.max(56, C * ROW_PX) + 24,
        legend: { show: false },
        padding: [4, 14, 0, 0],
        cursor: { drag: { x: true, y: false, setScale: false, click: () => {} }, points: { show: false }, y: false, bind: { dblclick: () => null } as any, sync: cursorSync("train") },
        scales: { x: { time: false, range: (_u: uPlot, mn: number, mx: number) => stepsXRange(this.range, mn, mx) }, y: { range: () => [0, C] } },
        axes: [{ ...ax }, {
          ...ay, splits: () => splits, size: 34, label: "class", labelSize: 12,
          values: (_u: uPlot, sp: number[]) => sp.map((y) => String(C - 0.5 - y)),
        }],
        series: [{ label: "step" }, { label: "", stroke: "transparent", points: { show: false } }],
        hooks: {
          drawAxes: [(uu) => this.drawCells(uu, heat, scale)],
          draw: [(uu) => this.drawMarks(uu, heat)],
          setSelect: [(uu) => this.onSelect(uu)],
          setCursor: [(uu) => this.onCursor(uu, heat)],
        },
      }, [xs, xs.map(() => null)] as uPlot.AlignedData, el);
      this.us.push(u);
      this.wire(u, heat);
    }
    if (this.heats.length && this.scale) this.heatWrap.append(this.colorScale(this.scale));
  }

  /** The column and class under a point of a heatmap (null outside the cells). */
  private cellAt(u: uPlot, heat: Heat, left: number, top: number): { j: number; c: number } | null {
    const x = u.posToVal(left, "x") + heat.off;
    const y = u.posToVal(top, "y");
    const C = heat.pc.classes;
    const c = C - 1 - Math.floor(y);
    const j = columnOfStep(heat.pc, x);
    return j >= 0 && c >= 0 && c < C ? { j, c } : null;
  }

  private wire(u: uPlot, heat: Heat): void {
    let down: { x: number; y: number } | null = null;
    u.over.addEventListener("mousedown", (e) => (down = { x: e.clientX, y: e.clientY }));
    u.over.addEventListener("dblclick", () => this.ctx.setView("train", null));
    u.over.addEventListener("mouseleave", () => hideTip());
    u.over.addEventListener("click", (e) => {
      if (down && Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4) return;
      const r = u.over.getBoundingClientRect();
      const cell = this.cellAt(u, heat, e.clientX - r.left, e.clientY - r.top);
      if (cell) void this.openCell(heat, cell.j, cell.c);
    });
  }

  /** Opens the drill-down at a cell's step: its only step, or (a column of several) the step at
   * which that class had its highest mean loss. */
  async openCell(heat: Heat, j: number, c: number): Promise<void> {
    const pc = heat.pc;
    const a = pc.steps[j], b = pc.stepEnds[j];
    let step = a;
    if (b > a) {
      try {
        const raw = await fetchPerClass(heat.run, Math.min(20000, b - a + 1), a, b, heat.output);
        const s = worstStepOfClass(raw, c);
        if (Number.isFinite(s)) step = s;
      } catch { /* the column's first step */ }
    }
    this.ctx.openDrill(heat.run, step, this.root);
  }

  private onSelect(u: uPlot): void {
    if (u.select.width < 4) return;
    const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.ctx.setView("train", { start: Math.floor(Math.min(a, b)), end: Math.ceil(Math.max(a, b)) });
  }

  private onCursor(u: uPlot, heat: Heat): void {
    const left = u.cursor.left, top = u.cursor.top;
    if (left === undefined || left === null || left < 0 || top === undefined || top === null || top < 0 || !u.over.matches(":hover")) return;
    const cell = this.cellAt(u, heat, left, top);
    if (!cell) { hideTip(); return; }
    const pc = heat.pc;
    const a = pc.steps[cell.j], b = pc.stepEnds[cell.j];
    const mean = pc.means[cell.j][cell.c], n = pc.counts[cell.j][cell.c];
    const r = u.over.getBoundingClientRect();
    showTip(r.left + left, r.top + top, `${a === b ? `step ${fmtStep(a)}` : `steps ${fmtStep(a)}–${fmtStep(b)}`} · class ${cell.c}`,
      [{ color: this.ctx.color(heat.run), label: heat.run, value: mean, text: n > 0 ? `mean loss ${fmtNum(mean)}` : "not in the batch",
        note: n > 0 ? `${fmtNum(n)} sample${n === 1 ? "" : "s"}` : "" }], "click: open the step (of a column: the one where this class's loss was highest)");
  }

  private drawCells(u: uPlot, heat: Heat, scale: [number, number]): void {
    const pc = heat.pc;
    const c = clipToPlot(u);
    const dark = this.ctx.theme.dark;
    const minW = Math.max(1, uPlot.pxRatio);
    const C = pc.classes;
    for (let j = 0; j < pc.steps.length; j++) {
      const x0 = u.valToPos(pc.steps[j] - heat.off, "x", true);
      const x1 = u.valToPos(pc.stepEnds[j] + 1 - heat.off, "x", true);
      const w = Math.max(minW, x1 - x0);
      for (let k = 0; k < C; k++) {
        if (!(pc.counts[j][k] > 0)) continue;
        const v = pc.means[j][k];
        const [r, g, b, a] = Number.isNaN(v) ? [0, 0, 0, 0] : lossColor(v, scale, dark);
        c.fillStyle = a ? `rgb(${r},${g},${b})` : this.ctx.theme.bad; // a NaN loss: the "bad" colour
        const y0 = u.valToPos(C - k, "y", true), y1 = u.valToPos(C - k - 1, "y", true);
        c.fillRect(x0, y0, w, Math.max(minW, y1 - y0));
      }
    }
    c.restore();
  }

  /** The marked sample's steps (ticks along the top) and the drill-down's step (dashed). */
  private drawMarks(u: uPlot, heat: Heat): void {
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const px = uPlot.pxRatio;
    c.save();
    const mk = this.ctx.marks;
    if (mk && mk.run === heat.run) {
      c.fillStyle = this.ctx.theme.fg;
      c.strokeStyle = withAlpha(this.ctx.color(heat.run), 0.9);
      c.lineWidth = 2 * px;
      for (const st of mk.steps) {
        const x = u.valToPos(st - heat.off, "x", true);
        if (x < left || x > left + width) continue;
        c.beginPath();
        c.moveTo(x - 4 * px, top); c.lineTo(x + 4 * px, top); c.lineTo(x, top + 6 * px);
        c.closePath();
        c.fill();
        c.beginPath();
        c.moveTo(x, top + 6 * px); c.lineTo(x, top + height);
        c.stroke();
      }
    }
    c.restore();
    const dr = this.ctx.drill;
    if (dr && dr.run === heat.run) drawDrillLine(u, u.valToPos(dr.step - heat.off, "x", true), this.ctx.theme.fg);
  }

  /** The colour scale: mean loss per class, log, from its 1st percentile to its largest. */
  private colorScale([lo, hi]: [number, number]): HTMLElement {
    const cv = h("canvas", { class: "tbb-scale-bar", width: 160, height: 10, role: "img", "aria-label": `Colour scale: mean loss from ${fmtNum(lo)} to ${fmtNum(hi)}, log scale` });
    const c = cv.getContext("2d");
    if (c) {
      for (let i = 0; i < 160; i++) {
        const [r, g, b] = rampColor(i / 159, this.ctx.theme.dark);
        c.fillStyle = `rgb(${r},${g},${b})`;
        c.fillRect(i, 0, 1, 10);
      }
    }
    const short = (v: number) => fmtNum(Number(v.toPrecision(2)));
    return h("div", { class: "tbb-scale" },
      h("span", { class: "tbb-muted", text: "mean loss (log): " }),
      h("span", { class: "tbb-num", text: short(lo) }), cv, h("span", { class: "tbb-num", text: short(hi) }),
      h("span", { class: "tbb-muted", text: " · empty: class not in the batch" }));
  }

  redraw(): void {
    for (const u of this.us) u.redraw(false);
  }

  recolor(): void {
    if (this.heats.length) this.draw();
  }

  destroy(): void {
    this.abort?.abort();
    this.ctx.chartBusy(this, false);
    this.ro.disconnect();
    for (const u of this.us) u.destroy();
    this.root.remove();
  }

  debug() {
    return {
      state: this.state, scale: this.scale,
      heats: this.heats.map((x, i) => ({
        run: x.run, output: x.output, classes: x.pc.classes, columns: x.pc.steps.length, reduced: x.pc.reduced,
        width: this.us[i] ? Math.round(this.us[i].bbox.width / uPlot.pxRatio) : null,
        first: x.pc.steps[0], last: x.pc.stepEnds[x.pc.stepEnds.length - 1],
      })),
    };
  }

  /** Client position of the centre of a heatmap cell (tests): run, column's step, class. */
  cellToClient(run: string, step: number, cls: number): { x: number; y: number } | null {
    const i = this.heats.findIndex((x) => x.run === run);
    const u = this.us[i];
    if (!u) return null;
    const heat = this.heats[i];
    const j = columnOfStep(heat.pc, step);
    if (j < 0) return null;
    const r = u.over.getBoundingClientRect();
    const xm = (u.valToPos(heat.pc.steps[j] - heat.off, "x") + u.valToPos(heat.pc.stepEnds[j] + 1 - heat.off, "x")) / 2;
    return { x: r.left + xm, y: r.top + u.valToPos(heat.pc.classes - cls - 0.5, "y") };
  }
}

