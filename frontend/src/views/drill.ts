// The drill-down: a sheet along the bottom of the window (it covers, never reflows, the grid;
// the chart it was opened from is scrolled above it). Everything recorded at one step of one
// run (the `step` endpoint) next to the matching step of every other plotted run (which ones:
// model/compare.ts). Distributions of all of them at that step on one shared x axis (histograms
// with counts, or CDFs; log x), their quantiles side by side. For every compared step of a run
// that recorded samples, the samples of that batch with the highest losses (the `samples`
// endpoint): who they are (id or fingerprint, to copy for `tbb.find`), label → prediction, loss
// and share of the batch loss. Left/Right arrows move one step.
import type uPlot from "uplot";
import { fetchSamples, fetchSeries, fetchStep } from "../api/client";
import type { StepData, StepDist, StepSamples } from "../api/types";
import { lastStepOf } from "../model/axes";
import { Column, comparedColumns, FiniteStats, finiteStats } from "../model/compare";
import { fmtNum, fmtShort, fmtStep } from "../model/format";
import { canLogX, quantileTableRows, sharedRange } from "../model/histograms";
import {
  fingerprintList, fmtPct, fmtProb, identity, lossSummary, lossSummaryText, outputsOf, predictions, predictionText,
} from "../model/samples";
import { orderTags } from "../model/tags";
import { actOnRow, CardLoader, highlightMarked, samplesHead, settled } from "../ui/card";
import type { ViewContext } from "../ui/context";
import { clear, copyButton, h, swatch } from "../ui/dom";
import { stepDistChart } from "../ui/step-dist-chart";
import { hideTip } from "../ui/tooltip";

interface Loaded extends Column {
  data: StepData | null;
  /** the step's highest-loss samples (runs that recorded them), or why they could not be read */
  samples?: StepSamples | null;
  samplesError?: string;
  /** evaluation columns: per scalar tag the mean, min and max over its batches */
  evalStats?: Record<string, FiniteStats>;
}

export class Drill {
  readonly root: HTMLElement;
  private readonly titleEl: HTMLHeadingElement;
  private readonly subEl: HTMLParagraphElement;
  private readonly prevBtn: HTMLButtonElement;
  private readonly nextBtn: HTMLButtonElement;
  private readonly loader: CardLoader<"loaded">;
  private readonly content: DrillContent;
  run: string | null = null;
  step: number | null = null;
  data: StepData | null = null;
  columns: Column[] = [];
  private returnFocus: HTMLElement | null = null;
  private loaded: Loaded[] = [];

  constructor(private readonly app: ViewContext, private readonly onChange: () => void) {
    this.titleEl = h("h2", { class: "tbb-drill-title", id: "tbb-drill-title" });
    this.subEl = h("p", { class: "tbb-drill-sub tbb-muted tbb-small" });
    this.prevBtn = h("button", { type: "button", text: "◀ prev", title: "Previous step (Left arrow)" });
    this.nextBtn = h("button", { type: "button", text: "next ▶", title: "Next step (Right arrow)" });
    const close = h("button", { type: "button", text: "✕", title: "Close (Escape)", "aria-label": "Close the step panel" });
    this.prevBtn.addEventListener("click", () => this.move(-1));
    this.nextBtn.addEventListener("click", () => this.move(1));
    close.addEventListener("click", () => this.close());
    const body = h("div", { class: "tbb-drill-body" });
    this.content = new DrillContent(app, body, (run, step) => this.open(run, step), () => this.rerender());
    this.root = h(
      "aside",
      { class: "tbb-drill", role: "dialog", "aria-modal": "false", "aria-labelledby": "tbb-drill-title", hidden: true, tabindex: -1 },
      h("div", { class: "tbb-drill-head" }, h("div", { class: "tbb-drill-titles" }, this.titleEl, this.subEl),
        h("div", { class: "tbb-drill-nav" }, this.prevBtn, this.nextBtn, close)),
      body,
    );
    this.loader = new CardLoader<"loaded">(this.root);
    document.addEventListener("keydown", (e) => this.onKey(e));
  }

  get isOpen(): boolean {
    return !this.root.hidden;
  }

  /** Height of the sheet in CSS px (0 when closed). */
  height(): number {
    return this.isOpen ? this.root.getBoundingClientRect().height : 0;
  }

  open(run: string, step: number, from?: Element | null): void {
    if (!this.isOpen) this.returnFocus = document.activeElement as HTMLElement | null;
    this.run = run;
    this.step = Math.round(step);
    this.root.hidden = false;
    this.root.dataset.run = run;
    this.root.dataset.step = String(this.step);
    void this.load();
    this.root.focus({ preventScroll: true });
    this.onChange();
    if (from) this.keepInView(from);
  }

  /** Scrolls the chart the drill-down was opened from into the part of the window the sheet
   * leaves free (the grid itself never moves sideways or reflows). */
  keepInView(el: Element): void {
    const scroller = el.closest(".tbb-main") as HTMLElement | null;
    if (!scroller) return;
    const r = el.getBoundingClientRect();
    const bar = scroller.querySelector(".tbb-toolbar")?.getBoundingClientRect().bottom ?? 0;
    const free = window.innerHeight - this.height() - 8;
    let d = 0;
    if (r.bottom > free) d = r.bottom - free;
    if (r.top - d < bar + 4) d = r.top - bar - 4;
    if (d) scroller.scrollTop += d;
  }

  close(): void {
    this.loader.cancel();
    this.root.hidden = true;
    this.run = this.step = null;
    this.data = null;
    hideTip();
    this.onChange();
    this.returnFocus?.focus?.({ preventScroll: true });
  }

  move(dir: -1 | 1): void {
    const d = this.data;
    if (!d || this.run === null) return;
    const s = dir < 0 ? d.prev_step : d.next_step;
    if (s === null || s === undefined) return;
    this.open(this.run, s);
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.isOpen) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.key === "ArrowLeft") this.move(-1);
    else if (e.key === "ArrowRight") this.move(1);
    else if (e.key === "Escape") this.close();
    else return;
    e.preventDefault();
  }

  /** What to compare a run's step with (model/compare.ts). */
  pairs(run: string, step: number): Column[] {
    const app = this.app;
    return comparedColumns(run, step, {
      plotted: app.plotted(), meta: (r) => app.meta(r), relative: app.settings.xAxis === "relstep", stepOffset: (r) => app.stepOffset(r),
    });
  }

  load(): Promise<void> {
    const run = this.run!, step = this.step!;
    return this.loader.run(async (signal) => {
      const cols = this.pairs(run, step);
      this.columns = cols;
      const m = this.app.meta(run);
      this.titleEl.textContent = m?.axis === "val" || m?.placed ? `Validation batch ${fmtStep(step)}` : `Step ${fmtStep(step)}`;
      const res = await Promise.allSettled(cols.map((c) => this.loadColumn(c, signal)));
      if (signal.aborted) return;
      const loaded: Loaded[] = [];
      const errors: string[] = [];
      res.forEach((r, i) => {
        if (r.status === "fulfilled") loaded.push(r.value);
        else errors.push(`${cols[i].run}: ${(r.reason as Error)?.message ?? r.reason}`);
      });
      this.loaded = loaded;
      this.data = loaded.find((d) => d.run === run && d.step === step)?.data ?? null;
      this.render(run, step, errors);
      return "loaded";
    }, (e) => this.content.showError(e.message));
  }

  private async loadColumn(c: Column, signal: AbortSignal): Promise<Loaded> {
    if (c.step !== null) {
      const withSamples = !!this.app.meta(c.run)?.info.samples;
      const [data, samples] = await Promise.all([
        fetchStep(c.run, c.step, signal),
        withSamples ? settled(fetchSamples(c.run, c.step, signal), signal) : Promise.resolve(null),
      ]);
      return { ...c, data, samples: samples?.value ?? null, samplesError: samples?.error || undefined };
    }
    // a whole evaluation: every scalar of its batches, exactly (raw: width >= its batches)
    const e = c.evaluation!;
    const meta = this.app.meta(c.run)!;
    const last = lastStepOf(meta.info.evaluations ?? [], e);
    const tags = meta.info.tags.filter((t) => t.kind === "scalar" && t.first_step <= last && t.last_step >= e.first_step);
    const stats: Record<string, FiniteStats> = {};
    await Promise.all(tags.map(async (t) => {
      const s = await fetchSeries(c.run, t.tag, Math.max(1, Math.ceil(Math.max(e.count, 1) / 4) + 1), e.first_step, Math.min(last, t.last_step), signal,
        meta.info.tags.filter((x) => x.tag === t.tag && x.kind === "scalar").length > 1 ? t.source : undefined);
      if (!(t.tag in stats)) stats[t.tag] = finiteStats(s.values);
    }));
    return { ...c, data: null, evalStats: stats };
  }

  /** The sheet's head (title line, prev/next) and its content. */
  private render(run: string, step: number, errors: string[]): void {
    const primary = this.data;
    this.prevBtn.disabled = !primary || primary.prev_step === null;
    this.nextBtn.disabled = !primary || primary.next_step === null;
    clear(this.subEl);
    this.subEl.append(swatch(this.app.color(run)), h("span", { class: "tbb-run-name", text: run }));
    if (primary?.wall_time) this.subEl.append(h("span", { class: "tbb-sep", text: `· ${new Date(primary.wall_time * 1000).toLocaleString()}` }));
    const ev = primary?.evaluation;
    if (ev) this.subEl.append(h("span", { class: "tbb-sep", text: `· evaluation ${ev.epoch !== null ? `after epoch ${ev.epoch + 1}` : "(evaluate)"}, at training step ${fmtStep(ev.train_step)}` }));
    this.content.render(run, step, primary, this.loaded, errors);
  }

  private rerender(): void {
    if (this.run !== null && this.step !== null) this.render(this.run, this.step, []);
  }

  /** The marked sample changed: highlight its rows. */
  marksChanged(): void {
    this.content.marksChanged();
  }

  /** Summary for tests (window.__tbb). */
  debug() {
    return {
      open: this.isOpen, run: this.run, step: this.step,
      columns: this.columns.map((c) => ({ run: c.run, step: c.step, label: c.label, evaluation: c.evaluation ?? null })),
      ...this.content.debug(),
      samples: this.loaded.filter((d) => d.samples || d.samplesError).map((d) => ({
        run: d.run, step: d.step, error: d.samplesError ?? null, found: d.samples?.found ?? false, share: d.samples?.share ?? null,
        fingerprints: (d.samples?.samples ?? []).map((r) => r.fingerprint),
      })),
    };
  }
}

/** The body of the sheet: errors, what has no point at the step, then per compared column the
 * highest-loss samples, the scalars (one row per tag), and per distribution tag a chart and the
 * quantiles side by side. */
class DrillContent {
  private charts: uPlot[] = [];
  /** counts or CDF: the user's choice, or (null) CDF when log x is on (linear bins cover
   * decades there), else counts */
  private histMode: "counts" | "cdf" | null = null;
  /** log x: the user's choice, or (null) on by itself when the runs' values span over 3 decades */
  private logX: boolean | null = null;

  constructor(
    private readonly app: ViewContext, private readonly body: HTMLElement,
    private readonly open: (run: string, step: number) => void, private readonly rerender: () => void,
  ) {}

  render(run: string, step: number, primary: StepData | null, loaded: Loaded[], errors: string[]): void {
    for (const u of this.charts) u.destroy();
    this.charts = [];
    clear(this.body);
    for (const e of errors) this.body.append(h("p", { class: "tbb-bad", text: e }));
    if (primary && !primary.found) {
      const p = h("p", { class: "tbb-muted", text: `Run has no point at step ${fmtStep(step)}. ` });
      for (const s of [primary.prev_step, primary.next_step]) {
        if (s === null) continue;
        const b = h("button", { type: "button", class: "tbb-linkbtn", text: `go to step ${fmtStep(s)}` });
        b.addEventListener("click", () => this.open(run, s));
        p.append(b, " ");
      }
      this.body.append(p);
    }
    const cols = loaded.filter((d) => (d.data ? d.data.found : !!d.evalStats));
    const missing = loaded.filter((d) => d.data && !d.data.found && d.run !== run);
    if (missing.length) this.body.append(this.runList("No point at the matching step in: ", missing.map((d) => `${d.run} (${d.label})`)));
    if (!cols.length) return;
    const grid = h("div", { class: "tbb-drill-grid" });
    this.body.append(grid);
    // Samples: each compared batch's highest-loss samples (first: which samples made this step).
    const withSamples = cols.filter((d) => d.samples || d.samplesError);
    if (withSamples.length) grid.append(this.samplesBlock(withSamples));
    const scalars = this.scalarsBlock(cols);
    if (scalars) grid.append(scalars);
    // Distributions: per tag, every column's distribution on one x axis, quantiles side by side.
    const withData = cols.filter((d) => d.data);
    for (const t of orderTags([...new Set(withData.flatMap((d) => Object.keys(d.data!.distributions)))])) {
      grid.append(this.distBlock(t, withData));
    }
  }

  /** What went wrong while loading (the sheet shows nothing else). */
  showError(message: string): void {
    clear(this.body);
    this.body.append(h("p", { class: "tbb-bad", text: message }));
  }

  /** A muted line naming runs. */
  private runList(text: string, names: string[]): HTMLElement {
    const p = h("p", { class: "tbb-muted tbb-small", text });
    names.forEach((n, i) => p.append(i ? ", " : "", h("span", { class: "tbb-run-name", text: n })));
    return p;
  }

  /** Scalars: one row per tag, one column per run (the clicked run first). */
  private scalarsBlock(cols: Loaded[]): HTMLElement | null {
    const tags = orderTags([...new Set(cols.flatMap((d) => Object.keys(d.data?.scalars ?? d.evalStats ?? {})))]);
    if (!tags.length) return null;
    const head = h("tr", {}, h("th", { text: "scalar" }));
    for (const d of cols) {
      head.append(h("th", { class: "tbb-num", "data-run": d.run }, swatch(this.app.color(d.run)), h("span", { class: "tbb-run-name", text: d.run }),
        h("div", { class: "tbb-col-label", text: d.label })));
    }
    const tb = h("tbody");
    for (const t of tags) {
      const tr = h("tr", { "data-tag": t }, h("th", { scope: "row", text: t }));
      for (const d of cols) {
        if (d.evalStats) {
          const s = d.evalStats[t];
          tr.append(h("td", {
            class: "tbb-num", text: s ? `${fmtNum(s.mean)}` : "–",
            title: s ? `mean of ${s.n} validation batches; min ${fmtNum(s.min)}, max ${fmtNum(s.max)}` : null,
          }, s ? h("div", { class: "tbb-muted tbb-small", text: `${fmtShort(s.min)}…${fmtShort(s.max)}` }) : null));
          continue;
        }
        const v = d.data!.scalars[t];
        tr.append(h("td", {
          class: "tbb-num" + (v !== undefined && !Number.isFinite(v) ? " tbb-bad" : ""),
          text: v === undefined ? "–" : fmtNum(v),
          title: v === undefined ? null : String(v),
        }));
      }
      tb.append(tr);
    }
    const evalCol = cols.find((d) => d.evalStats);
    const block = h("div", { class: "tbb-drill-block tbb-drill-scalars-block" },
      h("h3", { text: "Scalars" }),
      h("div", { class: "tbb-scroll" }, h("table", { class: "tbb-table tbb-drill-scalars" }, h("thead", {}, head), tb)));
    if (evalCol?.evaluation) {
      const b = h("button", { type: "button", class: "tbb-linkbtn", text: `open the batches of that evaluation (${evalCol.run})` });
      const e = evalCol.evaluation;
      b.addEventListener("click", () => this.open(evalCol.run, e.first_step));
      block.append(h("p", { class: "tbb-small tbb-muted" }, "Evaluation columns: mean of its validation batches, min…max below. ", b));
    }
    return block;
  }

  /** A distribution tag: the counts/CDF and log x controls, the chart (drawn on the next frame,
   * once laid out), the quantile table, and the runs without it. */
  private distBlock(tag: string, withData: Loaded[]): HTMLElement {
    const have = withData.filter((d) => d.data!.distributions[tag]);
    const ds = have.map((d) => d.data!.distributions[tag]);
    const chartEl = h("div", { class: "tbb-drill-chart" });
    const block = h("div", { class: "tbb-drill-block tbb-drill-dist-block", "data-tag": tag },
      h("h3", { text: tag }), this.distControls(ds), chartEl, this.quantileTable(have, ds));
    const without = withData.filter((d) => !d.data!.distributions[tag]).map((d) => d.run);
    if (without.length) block.append(this.runList(`${tag} not recorded in: `, without));
    requestAnimationFrame(() => {
      const u = stepDistChart(chartEl, tag, have.map((d) => ({ run: d.run, color: this.app.color(d.run), dist: d.data!.distributions[tag] })),
        { logX: this.useLogX(ds), cdf: this.mode(ds) === "cdf", theme: this.app.theme });
      if (u) this.charts.push(u);
    });
    return block;
  }

  /** Per compared step: its samples with the highest loss, a line on how concentrated the batch
   * loss is, and buttons to copy fingerprints (for `tbb.find`) and to mark a sample's steps. */
  private samplesBlock(cols: Loaded[]): HTMLElement {
    const block = h("div", { class: "tbb-drill-block tbb-drill-samples-block" }, h("h3", { text: "Samples with the highest loss" }));
    const wrap = h("div", { class: "tbb-samples-runs" });
    block.append(wrap);
    for (const d of cols) {
      const part = h("div", { class: "tbb-samples-run", "data-run": d.run, "data-step": d.step ?? "" }, samplesHead(d.run, this.app.color(d.run), d.label));
      wrap.append(part);
      const sm = d.samples;
      if (!sm) { part.append(h("p", { class: "tbb-bad tbb-small", text: `Could not load its samples: ${d.samplesError}` })); continue; }
      if (!sm.found || !sm.samples.length) { part.append(h("p", { class: "tbb-muted tbb-small", text: "No samples recorded at this step." })); continue; }
      part.append(h("p", { class: "tbb-samples-summary", text: lossSummaryText(lossSummary(sm.samples.map((r) => r.values.share))) }));
      part.append(h("div", { class: "tbb-scroll" }, this.samplesTable(d.run, sm)));
      part.append(h("p", { class: "tbb-small tbb-muted" },
        copyButton(() => fingerprintList(sm.samples), "copy all fingerprints", "Copy the fingerprints as a Python list"),
        " · tbb.find(x, fingerprints) gives their rows in your data"));
    }
    return block;
  }

  private samplesTable(run: string, sm: StepSamples): HTMLTableElement {
    const outputs = outputsOf(sm.fields);
    const classes = sm.fields.some((f) => f.startsWith("probability"));
    const head = h("tr", {}, h("th", { class: "tbb-num", text: "#" }), h("th", { text: "sample" }),
      h("th", { text: "label → pred.", title: "The sample's label and the model's prediction (per output)" }),
      classes ? h("th", { class: "tbb-num", text: "p(predicted)", title: "The model's probability of the class it predicted" }) : null,
      classes ? h("th", { class: "tbb-num", text: "p(label)", title: "The model's probability of the label's class" }) : null,
      h("th", { class: "tbb-num", text: "loss" }), h("th", { class: "tbb-num", text: "share", title: "Its loss over the sum of the batch's sample losses" }));
    const tb = h("tbody");
    sm.samples.forEach((r, i) => {
      const id = Number.isFinite(r.values.id) ? r.values.id : null;
      const who = identity(r.fingerprint, id);
      const preds = predictions(r.values, outputs);
      const lines = (f: (p: (typeof preds)[number]) => string) => preds.map(f).join("\n");
      const wrong = preds.some((p) => p.classes && p.label !== p.predicted);
      const share = r.values.share;
      const marked = this.app.marks?.run === run && this.app.marks.fingerprint === r.fingerprint;
      const tr = h("tr", { "data-fingerprint": r.fingerprint, "aria-selected": marked ? "true" : null, class: "tbb-clickable", tabindex: 0,
        title: "Click: mark on the charts every step at which this sample was among its batch's highest losses" },
        h("td", { class: "tbb-num tbb-muted", text: String(i + 1) }),
        h("td", { class: "tbb-mono", title: `fingerprint ${who.full}${who.kind === "id" ? ` (id ${id})` : ""}; position ${fmtNum(r.values.position)} in the batch` },
          h("span", { text: who.text }), " ", copyButton(() => r.fingerprint, "copy", `Copy the fingerprint ${r.fingerprint} (tbb.find(x, ["${r.fingerprint}"]) gives its row)`)),
        h("td", { class: wrong ? "tbb-wrong" : "", text: lines(predictionText) }),
        classes ? h("td", { class: "tbb-num", text: lines((p) => fmtProb(p.probability)) }) : null,
        classes ? h("td", { class: "tbb-num", text: lines((p) => fmtProb(p.labelProbability)) }) : null,
        h("td", { class: "tbb-num", text: fmtShort(r.values.loss), title: String(r.values.loss) }),
        h("td", { class: "tbb-num tbb-share", style: `--share:${Math.min(1, Math.max(0, share || 0))}`, text: fmtPct(share) }));
      actOnRow(tr, () => this.app.markSample(run, { fingerprint: r.fingerprint, id }));
      tb.append(tr);
    });
    return h("table", { class: "tbb-table tbb-samples" }, h("thead", {}, head), tb);
  }

  private distControls(ds: StepDist[]): HTMLElement {
    const mk = (value: "counts" | "cdf", label: string) => {
      const b = h("button", { type: "button", class: "tbb-tab tbb-small", text: label, "aria-pressed": String(this.mode(ds) === value), "data-mode": value });
      b.addEventListener("click", () => { this.histMode = value; this.rerender(); });
      return b;
    };
    const logOk = canLogX(ds);
    const box = h("input", { type: "checkbox", class: "tbb-logx" });
    box.checked = this.useLogX(ds);
    box.disabled = !logOk;
    box.addEventListener("change", () => { this.logX = box.checked; this.rerender(); });
    return h("div", { class: "tbb-row tbb-small" }, mk("counts", "histogram (counts)"), mk("cdf", "CDF"),
      h("label", { class: "tbb-check", title: logOk ? "" : "no positive value" }, box, " log x"));
  }

  private mode(ds: StepDist[]): "counts" | "cdf" {
    return this.histMode ?? (this.useLogX(ds) ? "cdf" : "counts");
  }

  private useLogX(ds: StepDist[]): boolean {
    if (!canLogX(ds)) return false;
    if (this.logX !== null) return this.logX;
    const r = sharedRange(ds, true)!;
    return r[1] / r[0] > 1e3;
  }

  private quantileTable(have: Loaded[], ds: StepDist[]): HTMLElement {
    const head = h("tr", {}, h("th", { text: "" }));
    for (const d of have) head.append(h("th", { class: "tbb-num", "data-run": d.run }, swatch(this.app.color(d.run)), h("span", { class: "tbb-run-name", text: d.run })));
    const tb = h("tbody");
    for (const row of quantileTableRows(ds)) {
      tb.append(h("tr", {}, h("th", { scope: "row", text: row.label }),
        ...row.cells.map((c) => h("td", { class: "tbb-num" + (c.bad ? " tbb-bad" : ""), text: c.text }))));
    }
    return h("div", { class: "tbb-scroll" }, h("table", { class: "tbb-table tbb-quantiles" }, h("thead", {}, head), tb));
  }

  /** The marked sample changed: highlight its rows. */
  marksChanged(): void {
    highlightMarked(this.body, ".tbb-samples-run", this.app.marks);
  }

  debug() {
    return {
      charts: this.charts.map((u) => ({ xMin: u.scales.x.min, xMax: u.scales.x.max, yMax: u.scales.y.max })),
      histMode: this.histMode, logX: this.logX,
    };
  }
}
