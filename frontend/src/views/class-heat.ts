// The per-class heatmap of the Samples view: per run (and output) a class × step heatmap of each
// class's mean loss in the batch (the `per_class` endpoint, one column per pixel) on the
// training axis's view, all on one log colour scale; the marked sample's steps as ticks; a click
// on a cell opens the drill-down at that step.
import uPlot from "uplot";
import { fetchPerClass } from "../api/client";
import type { PerClass } from "../api/types";
import type { Axis } from "../model/axes";
import { withAlpha } from "../model/colors";
import { fmtNum, fmtStep } from "../model/format";
import { rampColor } from "../model/heat-colors";
import type { Range } from "../model/ranges";
import { classRows } from "../model/class-rows";
import { columnOfStep, lossColor, lossScale, worstStepOfClass } from "../model/samples";
import { CardLoader, colorScale, messageLine, runLabel, settled, wideCard } from "../ui/card";
import { baseAxes } from "../ui/chart-axes";
import {
  drawDrillLine, onPlainClick, plotWidth, pointToClient, reloadOnResize, selectingCursor, spanRange, stepsScale, takeSelection,
} from "../ui/chart-kit";
import type { ViewContext } from "../ui/context";
import { clear, h } from "../ui/dom";
import { paintHeatmap } from "../ui/heatmap";
import { hideTip, showTip } from "../ui/tooltip";

interface Heat {
  run: string;
  output: string | null;
  perClass: PerClass;
  /** steps → x of the view (steps since the run's start on that axis) */
  offset: number;
}

/** Per-class mean losses over steps: one class × step heatmap per run (and output), on the
 * training axis's view and one log colour scale. */
export class ClassHeatCard {
  readonly root: HTMLElement;
  readonly axis: Axis = "train";
  private readonly heatWrap: HTMLDivElement;
  private readonly msgEl: HTMLDivElement;
  private readonly loader: CardLoader;
  private readonly resizeObserver: ResizeObserver;
  private plots: uPlot[] = [];
  heats: Heat[] = [];
  scale: [number, number] | null = null;
  private range: Range | null = null;
  private lastWidth = 0;

  constructor(private readonly app: ViewContext) {
    this.heatWrap = h("div", { class: "tbb-heats tbb-class-heats" });
    this.msgEl = messageLine();
    this.root = wideCard("tbb-classes", "Loss per class",
      "each class's mean loss in the batch, per step (one column per pixel: the mean over its steps); click a cell to open its step",
      this.heatWrap, this.msgEl);
    this.loader = new CardLoader(this.root, (on) => this.app.chartBusy(this, on));
    this.resizeObserver = reloadOnResize(this.heatWrap, () => this.lastWidth, () => void this.load());
  }

  get state(): CardLoader["state"] {
    return this.loader.state;
  }

  /** (run, output) of every plotted training-axis run with per-class losses. */
  members(): { run: string; output: string | null }[] {
    const out: { run: string; output: string | null }[] = [];
    for (const run of this.app.plotted()) {
      const m = this.app.meta(run);
      if (!m || m.axis !== "train" || m.placed) continue;
      for (const output of m.info.per_class ?? []) out.push({ run, output });
    }
    return out;
  }

  load(): Promise<void> {
    return this.loader.run(async (signal) => {
      const v = this.app.view("train");
      this.range = v ? { ...v } : null;
      const width = plotWidth(this.plots[0], this.heatWrap, 50);
      const rel = this.app.settings.xAxis === "relstep";
      const got = await Promise.all(this.members().map(async ({ run, output }) => {
        const offset = rel ? this.app.stepOffset(run) : 0;
        // (no step of this run in the view: a 400 on its range, and no heatmap)
        const { value } = await settled(fetchPerClass(run, width, v ? v.start + offset : undefined, v ? v.end + offset : undefined, output, signal), signal);
        return value ? { run, output, perClass: value, offset } : null;
      }));
      if (signal.aborted) return;
      this.heats = got.filter((x): x is Heat => !!x && x.perClass.steps.length > 0);
      if (!this.range) {
        let lo = Infinity, hi = -Infinity;
        for (const x of this.heats) { lo = Math.min(lo, x.perClass.steps[0] - x.offset); hi = Math.max(hi, x.perClass.stepEnds[x.perClass.stepEnds.length - 1] - x.offset); }
        this.range = lo <= hi ? { start: lo, end: hi } : null;
      }
      this.msgEl.textContent = this.heats.length ? "" : "No selected training run recorded per-class losses in these steps (a classification loss records them).";
      this.draw();
      return this.heats.length ? "drawn" : "empty";
    }, (e) => { this.msgEl.textContent = `Could not load the per-class losses: ${e.message}`; });
  }

  private draw(): void {
    for (const u of this.plots) u.destroy();
    this.plots = [];
    clear(this.heatWrap);
    this.lastWidth = this.heatWrap.clientWidth;
    const width = this.heatWrap.clientWidth || 480;
    this.scale = lossScale(this.heats.map((x) => x.perClass));
    const scale = this.scale ?? [1e-3, 1];
    const [xAxis, yAxis] = baseAxes(this.app.theme, this.app.settings.xAxis === "relstep" ? "relstep" : "step");
    for (const heat of this.heats) {
      const { run, output, perClass } = heat;
      const classes = perClass.classes;
      const el = h("div", { class: "tbb-plot tbb-heat tbb-class-heat", role: "img", "data-run": run, "data-output": output ?? "",
        "aria-label": `Mean loss per class over steps, run ${run}${output ? `, output ${output}` : ""}` });
      const steps = perClass.count.toLocaleString("en-US");
      this.heatWrap.append(runLabel(run, this.app.color(run), output ? h("span", { class: "tbb-sep", text: `· ${output}` }) : null,
        h("span", { class: "tbb-sep", text: `· ${classes} classes · ${perClass.reduced ? `${steps} steps in ${perClass.steps.length} columns` : `${steps} steps`}` })), el);
      // rows tall enough to read, labels that do not touch (model/class-rows.ts)
      const { every, height } = classRows(classes);
      const splits = Array.from({ length: Math.ceil(classes / every) }, (_, i) => classes - i * every - 0.5);
      const xs = perClass.steps.map((s) => s - heat.offset);
      const u = new uPlot({
        width, height: height + 24,
        legend: { show: false },
        padding: [4, 14, 0, 0],
        cursor: selectingCursor("train"),
        scales: { x: stepsScale(() => this.range), y: { range: () => [0, classes] } },
        axes: [{ ...xAxis }, {
          ...yAxis, splits: () => splits, size: 34, label: "class", labelSize: 12,
          values: (_u: uPlot, sp: number[]) => sp.map((y) => String(classes - 0.5 - y)),
        }],
        series: [{ label: "step" }, { label: "", stroke: "transparent", points: { show: false } }],
        hooks: {
          drawAxes: [(uu) => this.drawCells(uu, heat, scale)],
          draw: [(uu) => this.drawMarks(uu, heat)],
          setSelect: [(uu) => { const span = takeSelection(uu, "x"); if (span) this.app.setView("train", spanRange(span)); }],
          setCursor: [(uu) => this.onCursor(uu, heat)],
        },
      }, [xs, xs.map(() => null)] as uPlot.AlignedData, el);
      this.plots.push(u);
      this.wire(u, heat);
    }
    if (this.heats.length && this.scale) this.heatWrap.append(this.lossScaleBar(this.scale));
  }

  /** The column and class under a point of a heatmap (null outside the cells). */
  private cellAt(u: uPlot, heat: Heat, left: number, top: number): { j: number; c: number } | null {
    const x = u.posToVal(left, "x") + heat.offset;
    const y = u.posToVal(top, "y");
    const classes = heat.perClass.classes;
    const c = classes - 1 - Math.floor(y);
    const j = columnOfStep(heat.perClass, x);
    return j >= 0 && c >= 0 && c < classes ? { j, c } : null;
  }

  private wire(u: uPlot, heat: Heat): void {
    u.over.addEventListener("dblclick", () => this.app.setView("train", null));
    u.over.addEventListener("mouseleave", () => hideTip());
    onPlainClick(u.over, (e) => {
      const r = u.over.getBoundingClientRect();
      const cell = this.cellAt(u, heat, e.clientX - r.left, e.clientY - r.top);
      if (cell) void this.openCell(heat, cell.j, cell.c);
    });
  }

  /** Opens the drill-down at a cell's step: its only step, or (a column of several) the step at
   * which that class had its highest mean loss. */
  async openCell(heat: Heat, j: number, c: number): Promise<void> {
    const perClass = heat.perClass;
    const a = perClass.steps[j], b = perClass.stepEnds[j];
    let step = a;
    if (b > a) {
      try {
        const raw = await fetchPerClass(heat.run, Math.min(20000, b - a + 1), a, b, heat.output);
        const s = worstStepOfClass(raw, c);
        if (Number.isFinite(s)) step = s;
      } catch { /* the column's first step */ }
    }
    this.app.openDrill(heat.run, step, this.root);
  }

  private onCursor(u: uPlot, heat: Heat): void {
    const left = u.cursor.left, top = u.cursor.top;
    if (left === undefined || left === null || left < 0 || top === undefined || top === null || top < 0 || !u.over.matches(":hover")) return;
    const cell = this.cellAt(u, heat, left, top);
    if (!cell) { hideTip(); return; }
    const perClass = heat.perClass;
    const a = perClass.steps[cell.j], b = perClass.stepEnds[cell.j];
    const mean = perClass.means[cell.j][cell.c], n = perClass.counts[cell.j][cell.c];
    const r = u.over.getBoundingClientRect();
    showTip(r.left + left, r.top + top, `${a === b ? `step ${fmtStep(a)}` : `steps ${fmtStep(a)}–${fmtStep(b)}`} · class ${cell.c}`,
      [{ color: this.app.color(heat.run), label: heat.run, value: mean, text: n > 0 ? `mean loss ${fmtNum(mean)}` : "not in the batch",
        note: n > 0 ? `${fmtNum(n)} sample${n === 1 ? "" : "s"}` : "" }], "click: open the step (of a column: the one where this class's loss was highest)");
  }

  private drawCells(u: uPlot, heat: Heat, scale: [number, number]): void {
    const perClass = heat.perClass, classes = perClass.classes;
    const dark = this.app.theme.dark;
    paintHeatmap(u, {
      columns: perClass.steps.length, x: (j) => [perClass.steps[j] - heat.offset, perClass.stepEnds[j] + 1 - heat.offset], rows: () => classes,
      cell: (j, k) => {
        if (!(perClass.counts[j][k] > 0)) return null;
        const v = perClass.means[j][k];
        const [r, g, b, a] = Number.isNaN(v) ? [0, 0, 0, 0] : lossColor(v, scale, dark);
        // a NaN loss: the "bad" colour
        return { fill: a ? `rgb(${r},${g},${b})` : this.app.theme.bad, top: classes - k, bottom: classes - k - 1 };
      },
    });
  }

  /** The marked sample's steps (ticks along the top) and the drill-down's step (dashed). */
  private drawMarks(u: uPlot, heat: Heat): void {
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const px = uPlot.pxRatio;
    c.save();
    const mk = this.app.marks;
    if (mk && mk.run === heat.run) {
      c.fillStyle = this.app.theme.fg;
      c.strokeStyle = withAlpha(this.app.color(heat.run), 0.9);
      c.lineWidth = 2 * px;
      for (const st of mk.steps) {
        const x = u.valToPos(st - heat.offset, "x", true);
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
    const dr = this.app.drill;
    if (dr && dr.run === heat.run) drawDrillLine(u, u.valToPos(dr.step - heat.offset, "x", true), this.app.theme.fg);
  }

  /** The colour scale: mean loss per class, log, from its 1st percentile to its largest. */
  private lossScaleBar([lo, hi]: [number, number]): HTMLElement {
    const dark = this.app.theme.dark;
    const short = (v: number) => fmtNum(Number(v.toPrecision(2)));
    return colorScale({
      label: "mean loss (log): ", ariaLabel: `Colour scale: mean loss from ${fmtNum(lo)} to ${fmtNum(hi)}, log scale`,
      low: short(lo), high: short(hi), after: " · empty: class not in the batch",
      colorAt: (t) => { const [r, g, b] = rampColor(t, dark); return `rgb(${r},${g},${b})`; },
    });
  }

  redraw(): void {
    for (const u of this.plots) u.redraw(false);
  }

  recolor(): void {
    if (this.heats.length) this.draw();
  }

  destroy(): void {
    this.loader.dispose();
    this.resizeObserver.disconnect();
    for (const u of this.plots) u.destroy();
    this.root.remove();
  }

  debug() {
    return {
      state: this.state, scale: this.scale,
      heats: this.heats.map((x, i) => ({
        run: x.run, output: x.output, classes: x.perClass.classes, columns: x.perClass.steps.length, reduced: x.perClass.reduced,
        width: this.plots[i] ? Math.round(this.plots[i].bbox.width / uPlot.pxRatio) : null,
        first: x.perClass.steps[0], last: x.perClass.stepEnds[x.perClass.stepEnds.length - 1],
      })),
    };
  }

  /** Client position of the centre of a heatmap cell (tests): run, column's step, class. */
  cellToClient(run: string, step: number, cls: number): { x: number; y: number } | null {
    const i = this.heats.findIndex((x) => x.run === run);
    const u = this.plots[i];
    if (!u) return null;
    const heat = this.heats[i];
    const j = columnOfStep(heat.perClass, step);
    if (j < 0) return null;
    const xm = (heat.perClass.steps[j] + heat.perClass.stepEnds[j] + 1) / 2 - heat.offset;
    return pointToClient(u, xm, heat.perClass.classes - cls - 0.5);
  }
}
