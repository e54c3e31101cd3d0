// The Data Map view (Swayamdipta 2020, Dataset Cartography): per plotted run (and output) with
// per-sample dynamics, every sample's confidence (mean p(label), y) against its variability (the
// std of p(label), x), coloured by AUM (negative red: likely mislabelled) or by forgetting events;
// when the server sends no points (too many samples), its binned map as a heatmap. Hover: the
// sample; a click lists its presentations and marks their steps on the loss chart above.
import uPlot from "uplot";
import { fetchDynamics, fetchPresentations } from "../api/client";
import type { DynamicsAnswer, Presentations } from "../api/types";
import {
  aumColor, cellAt, dynamicsMembers, cellTipRows, cellTitle, CONFIDENCE_SPAN, css, drawOrder, forgettingColor, gridScales, identityText, isWrong, labelArrow,
  MapColor, MapCell, mapCells, mapColor, mapNote, MapScales, mapScales, mergeScales, nearestPoint, pointLabels, pointsNear, pointTipRows, presentationsSummary,
  VARIABILITY_SPAN,
} from "../model/datamap";
import { fmtShort, fmtStep } from "../model/format";
import { identity } from "../model/samples";
import { CardLoader, colorScale, messageLine, samplesHead, settled, wideCard } from "../ui/card";
import { baseAxes } from "../ui/chart-axes";
import { clipToPlot, onPlainClick, pointToClient } from "../ui/chart-kit";
import type { ViewContext } from "../ui/context";
import { clear, copyButton, h } from "../ui/dom";
import { paintHeatmap } from "../ui/heatmap";
import { load, save } from "../ui/store";
import { hideTip, showTip } from "../ui/tooltip";

/** The map's bins when the server sends no points. */
export const MAP_BINS = 48;
const HOVER_PX = 8;

interface MapPart {
  run: string;
  output: string;
  res: DynamicsAnswer;
  scales: MapScales;
  /** drawing order of the points (the most telling on top) */
  order: number[];
  cells: MapCell[];
  /** CSS px of each point in its plot (set when drawn) */
  xs: Float64Array;
  ys: Float64Array;
  plot: uPlot | null;
  side: HTMLElement;
}

interface Selected {
  run: string;
  output: string;
  fingerprint: string;
  id: number | null;
  label: number | null;
  predicted: number | null;
  pres: Presentations;
}

export class DataMapCard {
  readonly root: HTMLElement;
  readonly axis = "any" as const;
  private readonly body: HTMLDivElement;
  private readonly msgEl: HTMLDivElement;
  private readonly scaleEl: HTMLDivElement;
  private readonly loader: CardLoader;
  private readonly toggle: Record<MapColor, HTMLButtonElement>;
  parts: MapPart[] = [];
  mode: MapColor = load<string>("mapColor", "aum") === "forgetting" ? "forgetting" : "aum";
  selected: Selected | null = null;
  private selectGen = 0;

  constructor(private readonly app: ViewContext) {
    this.body = h("div", { class: "tbb-datamap-runs" });
    this.msgEl = messageLine();
    this.scaleEl = h("div", { class: "tbb-datamap-scale" });
    const button = (mode: MapColor, text: string, title: string) => {
      const b = h("button", { type: "button", class: "tbb-tab", text, title, "data-color": mode, "aria-pressed": String(this.mode === mode) });
      b.addEventListener("click", () => this.setMode(mode));
      return b;
    };
    this.toggle = {
      aum: button("aum", "AUM", "Colour by the area under the margin (the mean margin): negative (red) is likely mislabelled"),
      forgetting: button("forgetting", "forgetting", "Colour by forgetting events (classified correctly, then wrongly at its next presentation)"),
    };
    const controls = h("div", { class: "tbb-row tbb-datamap-controls", role: "group", "aria-label": "Colour of the points" },
      h("span", { class: "tbb-muted tbb-small", text: "colour:" }), this.toggle.aum, this.toggle.forgetting, this.scaleEl);
    this.root = wideCard("tbb-datamap", "Data Map",
      "each sample's mean p(label) against its std over training; click one: its presentations, marked on the loss chart",
      controls, this.body, this.msgEl);
    this.loader = new CardLoader(this.root, (on) => this.app.chartBusy(this, on));
  }

  get state(): CardLoader["state"] {
    return this.loader.state;
  }

  load(): Promise<void> {
    return this.loader.run(async (signal) => {
      const members = dynamicsMembers(this.app.plotted(), (r) => this.app.meta(r));
      const got = await Promise.all(members.map(async ({ run, output }) => {
        const { value, error } = await settled(fetchDynamics(run, { output, bins: MAP_BINS, limit: 1 }, signal), signal);
        return { run, output, value, error };
      }));
      if (signal.aborted) return;
      this.render(got);
      this.msgEl.textContent = members.length ? "" : "None of the selected runs recorded per-sample dynamics (BatchStats(dynamics=True) records them).";
      return this.parts.length ? "drawn" : "empty";
    }, (e) => { this.msgEl.textContent = `Could not load the data map: ${e.message}`; });
  }

  private render(got: { run: string; output: string; value: DynamicsAnswer | null; error: string }[]): void {
    this.destroyPlots();
    clear(this.body);
    this.parts = [];
    for (const { run, output, value, error } of got) {
      const note = value ? `${output ? `${output} · ` : ""}${mapNote(value.count, !!value.points, value.map.count.length)}` : output || null;
      const part = h("div", { class: "tbb-datamap-run", "data-run": run, "data-output": output }, samplesHead(run, this.app.color(run), note));
      this.body.append(part);
      if (!value) { part.append(h("p", { class: "tbb-muted tbb-small", text: error })); continue; }
      if (!value.classification) { part.append(h("p", { class: "tbb-muted tbb-small", text: "This output records losses only (not a classifier): no confidence to map." })); continue; }
      const p = value.points;
      const scales = p ? mapScales(p.aum, p.forgetting) : gridScales(value.map);
      const plotEl = h("div", { class: "tbb-plot tbb-datamap-plot", role: "img", "aria-label": `Data map of ${run}: confidence against variability` });
      const side = h("div", { class: "tbb-datamap-side" });
      part.append(h("div", { class: "tbb-datamap-row" }, plotEl, side));
      const mp: MapPart = {
        run, output, res: value, scales, order: p ? drawOrder(p, this.mode) : [], cells: [], xs: new Float64Array(0), ys: new Float64Array(0), plot: null, side,
      };
      this.parts.push(mp);
      mp.plot = this.plot(mp, plotEl);
      this.renderSide(mp);
    }
    // one colour scale for every map
    const shared = mergeScales(this.parts.map((mp) => mp.scales));
    for (const mp of this.parts) {
      mp.scales = shared;
      if (!mp.res.points) mp.cells = mapCells(mp.res.map, this.mode, shared, this.app.theme.dark);
    }
    this.redraw();
    this.renderScale();
  }

  private plot(mp: MapPart, el: HTMLElement): uPlot {
    const [xAxis, yAxis] = baseAxes(this.app.theme, "step", "variability (std of p(label))");
    const u = new uPlot({
      width: 440, height: 340, legend: { show: false }, padding: [8, 12, 0, 0],
      cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false }, x: false, y: false, bind: { dblclick: () => null } as any },
      scales: { x: { time: false, range: () => VARIABILITY_SPAN }, y: { range: () => CONFIDENCE_SPAN } },
      axes: [{ ...xAxis, values: (_u: uPlot, sp: number[]) => sp.map((v) => String(v)) },
        { ...yAxis, label: "confidence (mean p(label))", labelSize: 14, values: (_u: uPlot, sp: number[]) => sp.map((v) => String(v)) }],
      series: [{ label: "variability" }, { label: "", stroke: "transparent", points: { show: false } }],
      hooks: { draw: [(uu) => this.drawPart(uu, mp)] },
    }, [[0, 0.5], [null, null]] as unknown as uPlot.AlignedData, el);
    u.over.addEventListener("mousemove", (e) => this.hover(mp, e));
    u.over.addEventListener("mouseleave", () => hideTip());
    onPlainClick(u.over, (e) => {
      const i = this.pointAt(mp, e);
      if (i >= 0) void this.select(mp, i);
    });
    return u;
  }

  /** The points (or the binned map's cells), and a ring around the marked sample. */
  private drawPart(u: uPlot, mp: MapPart): void {
    const p = mp.res.points, dark = this.app.theme.dark;
    if (!p) {
      const grid = mp.res.map, byCell = new Map(mp.cells.map((c) => [c.i * grid.count.length + c.j, c]));
      paintHeatmap(u, {
        columns: grid.variability.length - 1, x: (i) => [grid.variability[i], grid.variability[i + 1]], rows: () => grid.confidence.length - 1,
        cell: (i, j) => { const c = byCell.get(i * grid.count.length + j); return c ? { fill: c.fill, top: grid.confidence[j + 1], bottom: grid.confidence[j] } : null; },
      });
      return;
    }
    const c = clipToPlot(u), px = uPlot.pxRatio, n = p.confidence.length;
    mp.xs = new Float64Array(n).fill(NaN);
    mp.ys = new Float64Array(n).fill(NaN);
    const r = 2.6 * px;
    for (const i of mp.order) {
      mp.xs[i] = u.valToPos(p.variability[i], "x");
      mp.ys[i] = u.valToPos(p.confidence[i], "y");
      c.fillStyle = css(mapColor(this.mode, p.aum[i], p.forgetting[i], mp.scales, dark), 0.85);
      c.beginPath();
      c.arc(u.valToPos(p.variability[i], "x", true), u.valToPos(p.confidence[i], "y", true), r, 0, 2 * Math.PI);
      c.fill();
    }
    const m = this.app.marks;
    const k = m && m.run === mp.run && m.what === "presentations" ? p.fingerprint.indexOf(m.fingerprint) : -1;
    if (k >= 0 && Number.isFinite(mp.xs[k])) {
      c.strokeStyle = this.app.theme.fg;
      c.lineWidth = 2 * px;
      c.beginPath();
      c.arc(u.valToPos(p.variability[k], "x", true), u.valToPos(p.confidence[k], "y", true), 6 * px, 0, 2 * Math.PI);
      c.stroke();
    }
    c.restore();
  }

  private pointAt(mp: MapPart, e: MouseEvent): number {
    if (!mp.plot || !mp.res.points) return -1;
    const r = mp.plot.over.getBoundingClientRect();
    return nearestPoint(mp.xs, mp.ys, mp.order, e.clientX - r.left, e.clientY - r.top, HOVER_PX);
  }

  private hover(mp: MapPart, e: MouseEvent): void {
    const p = mp.res.points;
    if (!mp.plot) return;
    if (!p) {
      const r = mp.plot.over.getBoundingClientRect();
      const at = cellAt(mp.res.map, mp.plot.posToVal(e.clientX - r.left, "x"), mp.plot.posToVal(e.clientY - r.top, "y"));
      const cell = at && mp.cells.find((c) => c.i === at.i && c.j === at.j);
      if (cell) showTip(e.clientX, e.clientY, cellTitle(mp.res.map, cell), cellTipRows(cell));
      else hideTip();
      return;
    }
    const r = mp.plot.over.getBoundingClientRect();
    const near = pointsNear(mp.xs, mp.ys, mp.order, e.clientX - r.left, e.clientY - r.top, HOVER_PX);
    if (!near.length) { hideTip(); return; }
    const i = near[0];
    const color = css(mapColor(this.mode, p.aum[i], p.forgetting[i], mp.scales, this.app.theme.dark));
    showTip(e.clientX, e.clientY, identityText(p.fingerprint[i], p.id?.[i] ?? null), pointTipRows(p, i, color),
      `${near.length > 1 ? `${near.length - 1} more sample${near.length > 2 ? "s" : ""} under the pointer · ` : ""}click: its presentations, marked on the loss chart`);
  }

  /** Lists the presentations of point `i` and marks their steps on the loss chart (a second
   * click on the marked sample unmarks it). */
  async select(mp: MapPart, i: number): Promise<void> {
    const p = mp.res.points!;
    const fingerprint = p.fingerprint[i], id = p.id?.[i] ?? null;
    const m = this.app.marks;
    if (m && m.run === mp.run && m.fingerprint === fingerprint && m.what === "presentations") {
      this.selected = null;
      this.app.markPresentations(mp.run, { fingerprint, id }, m.steps);
      this.renderSides();
      return;
    }
    const gen = ++this.selectGen;
    mp.side.dataset.state = "loading";
    let pres: Presentations;
    try {
      pres = await fetchPresentations(mp.run, fingerprint, mp.output);
    } catch (e) {
      if (gen !== this.selectGen) return;
      mp.side.dataset.state = "error";
      mp.side.textContent = `Could not load its presentations: ${(e as Error).message}`;
      return;
    }
    if (gen !== this.selectGen) return;
    this.selected = { run: mp.run, output: mp.output, fingerprint, id, ...pointLabels(p, i), pres };
    this.app.markPresentations(mp.run, { fingerprint, id }, pres.step);
    this.renderSides();
  }

  private renderSides(): void {
    for (const mp of this.parts) this.renderSide(mp);
  }

  /** A part's side panel: the selected sample's presentations (step, loss, margin, correct). */
  private renderSide(mp: MapPart): void {
    const side = mp.side;
    clear(side);
    const s = this.selected;
    if (!s || s.run !== mp.run || s.output !== mp.output) {
      side.dataset.state = "empty";
      side.append(h("p", { class: "tbb-muted tbb-small", text: mp.res.points ? "Click a point: its presentations." : "Too many samples to draw one by one: each cell shows how many fall there, coloured by their mean." }));
      return;
    }
    side.dataset.state = "drawn";
    const who = identity(s.fingerprint, s.id, 16);
    side.append(
      h("div", { class: "tbb-datamap-who" }, h("span", { class: "tbb-mono", text: who.text, title: `fingerprint ${s.fingerprint}` }), " ",
        copyButton(() => s.fingerprint, "copy", `Copy the fingerprint ${s.fingerprint} (tbb.find(x, [fingerprint]) gives its row)`), " ",
        h("span", { class: isWrong(s.label, s.predicted) ? "tbb-wrong" : "", text: labelArrow(s.label, s.predicted) })),
      h("p", { class: "tbb-muted tbb-small", text: presentationsSummary(s.pres) }));
    const tb = h("tbody");
    s.pres.step.forEach((step, k) => {
      const open = h("button", { type: "button", class: "tbb-linkbtn", text: fmtStep(step), title: `Open step ${fmtStep(step)}` });
      open.addEventListener("click", () => this.app.openDrill(s.run, step, null));
      const ok = s.pres.correct[k];
      tb.append(h("tr", { "data-step": step },
        h("td", { class: "tbb-num" }, open),
        h("td", { class: "tbb-num", text: fmtShort(s.pres.loss[k]) }),
        h("td", { class: "tbb-num" + (s.pres.margin[k] < 0 ? " tbb-wrong" : ""), text: fmtShort(s.pres.margin[k]) }),
        h("td", { class: ok === false ? "tbb-wrong" : "", text: ok === null ? "–" : ok ? "✓" : "✗" })));
    });
    side.append(h("div", { class: "tbb-scroll tbb-datamap-pres" }, h("table", { class: "tbb-table tbb-presentations" },
      h("thead", {}, h("tr", {}, h("th", { class: "tbb-num", text: "step" }), h("th", { class: "tbb-num", text: "loss" }),
        h("th", { class: "tbb-num", text: "margin", title: "The given label's logit minus the largest other logit" }), h("th", { text: "correct" }))), tb)));
  }

  /** The colour scale of the mode (the maps share it). */
  private renderScale(): void {
    clear(this.scaleEl);
    const s = this.parts[0]?.scales;
    if (!s) return;
    const dark = this.app.theme.dark;
    this.scaleEl.append(this.mode === "aum"
      ? colorScale({ label: "AUM", ariaLabel: `Colour scale: AUM from ${-s.aum} to ${s.aum}`, low: fmtShort(-s.aum), high: fmtShort(s.aum),
        after: "(negative: likely mislabelled)", colorAt: (t) => css(aumColor((2 * t - 1) * s.aum, s.aum, dark)) })
      : colorScale({ label: "forgetting", ariaLabel: `Colour scale: forgetting events from 0 to ${s.forgetting}`, low: "0", high: fmtShort(s.forgetting),
        after: "events", colorAt: (t) => css(forgettingColor(t * s.forgetting, s.forgetting, dark)) }));
  }

  private setMode(mode: MapColor): void {
    if (mode === this.mode) return;
    this.mode = mode;
    save("mapColor", mode);
    for (const [k, b] of Object.entries(this.toggle)) b.setAttribute("aria-pressed", String(k === mode));
    for (const mp of this.parts) {
      if (mp.res.points) mp.order = drawOrder(mp.res.points, mode);
      else mp.cells = mapCells(mp.res.map, mode, mp.scales, this.app.theme.dark);
    }
    this.renderScale();
    this.redraw();
  }

  /** The marked sample changed: its ring. */
  marksChanged(): void {
    this.redraw();
  }

  redraw(): void {
    for (const mp of this.parts) mp.plot?.redraw(false);
  }

  recolor(): void {
    if (this.parts.length) void this.load();
  }

  private destroyPlots(): void {
    for (const mp of this.parts) mp.plot?.destroy();
  }

  destroy(): void {
    this.loader.dispose();
    this.destroyPlots();
    this.root.remove();
  }

  debug() {
    return {
      state: this.state, mode: this.mode,
      parts: this.parts.map((mp) => ({
        run: mp.run, output: mp.output, count: mp.res.count, points: mp.res.points ? mp.order.length : null,
        cells: mp.cells.length, binned: mp.cells.reduce((n, c) => n + c.count, 0), side: mp.side.dataset.state ?? null,
      })),
      selected: this.selected && { run: this.selected.run, fingerprint: this.selected.fingerprint, steps: this.selected.pres.step },
    };
  }

  /** Client position of the centre of a binned map's cell (tests): variability bin i, confidence
   * bin j. */
  cellClient(run: string, i: number, j: number): { x: number; y: number } | null {
    const mp = this.parts.find((x) => x.run === run && !x.res.points);
    if (!mp?.plot) return null;
    const g = mp.res.map;
    return pointToClient(mp.plot, (g.variability[i] + g.variability[i + 1]) / 2, (g.confidence[j] + g.confidence[j + 1]) / 2);
  }

  /** Client position of a sample's point (tests), null when it is not drawn. */
  pointClient(run: string, fingerprint: string): { x: number; y: number } | null {
    const mp = this.parts.find((x) => x.run === run && x.res.points);
    const p = mp?.res.points;
    const i = p ? p.fingerprint.indexOf(fingerprint) : -1;
    if (!mp?.plot || !p || i < 0) return null;
    return pointToClient(mp.plot, p.variability[i], p.confidence[i]);
  }
}
