// The drill-down: a sheet along the bottom of the window (it covers, never reflows, the grid;
// the chart it was opened from is scrolled above it). Everything recorded at one step of one
// run (the `step` endpoint) next to the matching step of every other plotted run: the same step
// on the same axis; for a training step, the evaluation that followed it in each validation run
// placed on the training axis; for a validation batch, the same batch of the same evaluation in
// other validation runs and the last training step before that evaluation. Distributions of
// all of them at that step on one shared x axis (histograms with counts, or CDFs; log x), their
// quantiles side by side. For every compared step of a run that recorded samples, the samples of
// that batch with the highest losses (the `samples` endpoint): who they are (id or fingerprint,
// to copy for `tbb.find`), label → prediction, loss and share of the batch loss. Left/Right
// arrows move one step.
import uPlot from "uplot";
import { Evaluation, fetchSamples, fetchSeries, fetchStep, StepData, StepDist, StepSamples } from "./api";
import { evaluationAfter, evaluationOf, lastStepOf, pairedValidationStep } from "./axes";
import { withAlpha } from "./colors";
import type { Ctx } from "./ctx";
import { clear, copyButton, h } from "./dom";
import { binAt, canLogX, cdfAt, cdfPoints, nonPositiveCount, quantileLabel, sharedRange } from "./hist";
import { fmtNum, fmtStep } from "./logic";
import {
  fingerprintList, fmtPct, fmtProb, identity, lossSummary, lossSummaryText, outputsOf, predictions, predictionText,
} from "./samples";

/** 4 significant digits (a range next to an exact value). */
const fmtShort = (v: number) => fmtNum(Number.isFinite(v) ? Number(v.toPrecision(4)) : v);
import { highlightMarked } from "./sampleview";
import { baseAxes, clipToPlot } from "./steps";
import { orderTags } from "./tags";
import { hideTip, showTip, TipRow } from "./tooltip";

/** One column of the comparison: a run at a step, or a validation run's whole evaluation. */
export interface Column {
  run: string;
  step: number | null;
  label: string;
  evaluation?: Evaluation;
}

interface Loaded extends Column {
  data: StepData | null;
  /** the step's highest-loss samples (runs that recorded them), or why they could not be read */
  samples?: StepSamples | null;
  samplesError?: string;
  /** evaluation columns: per scalar tag the mean, min and max over its batches */
  evalStats?: Record<string, { mean: number; min: number; max: number; n: number }>;
}

export class Drill {
  readonly root: HTMLElement;
  private readonly titleEl: HTMLHeadingElement;
  private readonly subEl: HTMLParagraphElement;
  private readonly body: HTMLDivElement;
  private readonly prevBtn: HTMLButtonElement;
  private readonly nextBtn: HTMLButtonElement;
  run: string | null = null;
  step: number | null = null;
  data: StepData | null = null;
  columns: Column[] = [];
  private abort: AbortController | null = null;
  private returnFocus: HTMLElement | null = null;
  private charts: uPlot[] = [];
  /** counts or CDF: the user's choice, or (null) CDF when log x is on (linear bins cover
   * decades there), else counts */
  histMode: "counts" | "cdf" | null = null;
  /** log x: the user's choice, or (null) on by itself when the runs' values span over 3 decades */
  logX: boolean | null = null;
  private loaded: Loaded[] = [];

  constructor(private readonly ctx: Ctx, private readonly onChange: () => void) {
    this.titleEl = h("h2", { class: "tbb-drill-title", id: "tbb-drill-title" });
    this.subEl = h("p", { class: "tbb-drill-sub tbb-muted tbb-small" });
    this.prevBtn = h("button", { type: "button", text: "◀ prev", title: "Previous step (Left arrow)" });
    this.nextBtn = h("button", { type: "button", text: "next ▶", title: "Next step (Right arrow)" });
    const close = h("button", { type: "button", text: "✕", title: "Close (Escape)", "aria-label": "Close the step panel" });
    this.prevBtn.addEventListener("click", () => this.move(-1));
    this.nextBtn.addEventListener("click", () => this.move(1));
    close.addEventListener("click", () => this.close());
    this.body = h("div", { class: "tbb-drill-body" });
    this.root = h(
      "aside",
      { class: "tbb-drill", role: "dialog", "aria-modal": "false", "aria-labelledby": "tbb-drill-title", hidden: true, tabindex: -1 },
      h("div", { class: "tbb-drill-head" }, h("div", { class: "tbb-drill-titles" }, this.titleEl, this.subEl),
        h("div", { class: "tbb-drill-nav" }, this.prevBtn, this.nextBtn, close)),
      this.body,
    );
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
    this.abort?.abort();
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

  /** What to compare a run's step with (see the module docstring). */
  pairs(run: string, step: number): Column[] {
    const ctx = this.ctx;
    const m = ctx.meta(run);
    const cols: Column[] = [{ run, step, label: `step ${fmtStep(step)}` }];
    if (!m) return cols;
    const others = ctx.plotted().filter((r) => r !== run);
    const rel = ctx.settings.xAxis === "relstep";
    const same = (q: string) => (rel ? step - ctx.stepOffset(run) + ctx.stepOffset(q) : step);
    if (m.axis === "val") {
      cols[0].label = `validation batch ${fmtStep(step)}`;
      for (const q of others) if (ctx.meta(q)?.axis === "val") cols.push({ run: q, step: same(q), label: `validation batch ${fmtStep(same(q))}` });
      return cols;
    }
    if (m.placed) {
      const evals = m.info.evaluations ?? [];
      const e = evaluationOf(evals, step);
      if (e) cols[0].label = `validation batch ${fmtStep(step)} (${step - e.first_step + 1} of ${e.count})`;
      for (const q of others) {
        const mq = ctx.meta(q);
        if (!mq) continue;
        if (mq.placed) {
          const s = pairedValidationStep(evals, mq.info.evaluations ?? [], step);
          if (s !== null) cols.push({ run: q, step: s, label: `validation batch ${fmtStep(s)} (same batch)` });
        } else if (mq.axis === "train" && e) {
          const s = e.train_step - 1 - (rel ? ctx.stepOffset(run) - ctx.stepOffset(q) : 0);
          cols.push({ run: q, step: s, label: `step ${fmtStep(s)} (last before this evaluation)` });
        }
      }
      return cols;
    }
    for (const q of others) {
      const mq = ctx.meta(q);
      if (!mq || mq.axis !== "train") continue;
      if (mq.placed) {
        // a placed run's step offset is its train run's: `same` is a step of that train run
        const e = evaluationAfter(mq.info.evaluations ?? [], same(q));
        if (e) cols.push({ run: q, step: null, evaluation: e, label: `evaluation after it (${e.epoch !== null ? `epoch ${e.epoch + 1}, ` : ""}at step ${fmtStep(e.train_step)})` });
      } else cols.push({ run: q, step: same(q), label: `step ${fmtStep(same(q))}` });
    }
    return cols;
  }

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    const run = this.run!, step = this.step!;
    this.root.dataset.state = "loading";
    const cols = this.pairs(run, step);
    this.columns = cols;
    const m = this.ctx.meta(run);
    this.titleEl.textContent = m?.axis === "val" || m?.placed ? `Validation batch ${fmtStep(step)}` : `Step ${fmtStep(step)}`;
    const res = await Promise.allSettled(cols.map((c) => this.loadColumn(c, ac.signal)));
    if (ac.signal.aborted) return;
    const loaded: Loaded[] = [];
    const errors: string[] = [];
    res.forEach((r, i) => {
      if (r.status === "fulfilled") loaded.push(r.value);
      else errors.push(`${cols[i].run}: ${(r.reason as Error)?.message ?? r.reason}`);
    });
    this.loaded = loaded;
    this.data = loaded.find((d) => d.run === run && d.step === step)?.data ?? null;
    this.render(run, step, errors);
    this.root.dataset.state = "loaded";
  }

  private async loadColumn(c: Column, signal: AbortSignal): Promise<Loaded> {
    if (c.step !== null) {
      const withSamples = !!this.ctx.meta(c.run)?.info.samples;
      const [data, samples] = await Promise.all([
        fetchStep(c.run, c.step, signal),
        withSamples ? fetchSamples(c.run, c.step, signal).then((x) => ({ x, e: "" }), (e: Error) => {
          if (signal.aborted) throw e;
          return { x: null, e: e.message };
        }) : Promise.resolve(null),
      ]);
      return { ...c, data, samples: samples?.x ?? null, samplesError: samples?.e || undefined };
    }
    // a whole evaluation: every scalar of its batches, exactly (raw: width >= its batches)
    const e = c.evaluation!;
    const meta = this.ctx.meta(c.run)!;
    const last = lastStepOf(meta.info.evaluations ?? [], e);
    const tags = meta.info.tags.filter((t) => t.kind === "scalar" && t.first_step <= last && t.last_step >= e.first_step);
    const stats: Loaded["evalStats"] = {};
    await Promise.all(tags.map(async (t) => {
      const s = await fetchSeries(c.run, t.tag, Math.max(1, Math.ceil(Math.max(e.count, 1) / 4) + 1), e.first_step, Math.min(last, t.last_step), signal,
        meta.info.tags.filter((x) => x.tag === t.tag && x.kind === "scalar").length > 1 ? t.source : undefined);
      let sum = 0, n = 0, mn = Infinity, mx = -Infinity;
      for (const v of s.values) if (Number.isFinite(v)) { sum += v; n++; mn = Math.min(mn, v); mx = Math.max(mx, v); }
      if (!(t.tag in stats)) stats[t.tag] = { mean: n ? sum / n : NaN, min: n ? mn : NaN, max: n ? mx : NaN, n };
    }));
    return { ...c, data: null, evalStats: stats };
  }

  private render(run: string, step: number, errors: string[]): void {
    for (const u of this.charts) u.destroy();
    this.charts = [];
    clear(this.body);
    const primary = this.data;
    this.prevBtn.disabled = !primary || primary.prev_step === null;
    this.nextBtn.disabled = !primary || primary.next_step === null;
    const sw = (r: string) => h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(r)}` });
    clear(this.subEl);
    this.subEl.append(sw(run), h("span", { class: "tbb-run-name", text: run }));
    if (primary?.wall_time) this.subEl.append(h("span", { class: "tbb-sep", text: `· ${new Date(primary.wall_time * 1000).toLocaleString()}` }));
    const ev = primary?.evaluation;
    if (ev) this.subEl.append(h("span", { class: "tbb-sep", text: `· evaluation ${ev.epoch !== null ? `after epoch ${ev.epoch + 1}` : "(evaluate)"}, at training step ${fmtStep(ev.train_step)}` }));
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
    const cols = this.loaded.filter((d) => (d.data ? d.data.found : !!d.evalStats));
    const missing = this.loaded.filter((d) => d.data && !d.data.found && d.run !== run);
    if (missing.length) {
      const p = h("p", { class: "tbb-muted tbb-small", text: "No point at the matching step in: " });
      missing.forEach((d, i) => p.append(i ? ", " : "", h("span", { class: "tbb-run-name", text: `${d.run} (${d.label})` })));
      this.body.append(p);
    }
    if (!cols.length) return;
    const grid = h("div", { class: "tbb-drill-grid" });
    this.body.append(grid);

    // Samples: each compared batch's highest-loss samples (first: which samples made this step).
    const withSamples = cols.filter((d) => d.samples || d.samplesError);
    if (withSamples.length) grid.append(this.samplesBlock(withSamples));

    // Scalars: one row per tag, one column per run (the clicked run first).
    const tags = orderTags([...new Set(cols.flatMap((d) => Object.keys(d.data?.scalars ?? d.evalStats ?? {})))]);
    if (tags.length) {
      const head = h("tr", {}, h("th", { text: "scalar" }));
      for (const d of cols) {
        head.append(h("th", { class: "tbb-num", "data-run": d.run }, sw(d.run), h("span", { class: "tbb-run-name", text: d.run }),
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
      grid.append(block);
    }

    // Distributions: per tag, every column's distribution on one x axis, quantiles side by side.
    const withData = cols.filter((d) => d.data);
    const dtags = orderTags([...new Set(withData.flatMap((d) => Object.keys(d.data!.distributions)))]);
    for (const t of dtags) {
      const have = withData.filter((d) => d.data!.distributions[t]);
      const block = h("div", { class: "tbb-drill-block tbb-drill-dist-block", "data-tag": t });
      block.append(h("h3", { text: t }));
      block.append(this.distControls(have.map((d) => d.data!.distributions[t])));
      const chartEl = h("div", { class: "tbb-drill-chart" });
      block.append(chartEl);
      block.append(this.quantileTable(t, have));
      const without = withData.filter((d) => !d.data!.distributions[t]).map((d) => d.run);
      if (without.length) {
        const p = h("p", { class: "tbb-muted tbb-small", text: `${t} not recorded in: ` });
        without.forEach((r, i) => p.append(i ? ", " : "", h("span", { class: "tbb-run-name", text: r })));
        block.append(p);
      }
      grid.append(block);
      requestAnimationFrame(() => this.distChart(chartEl, t, have));
    }
  }

  /** Per compared step: its samples with the highest loss, a line on how concentrated the batch
   * loss is, and buttons to copy fingerprints (for `tbb.find`) and to mark a sample's steps. */
  private samplesBlock(cols: Loaded[]): HTMLElement {
    const block = h("div", { class: "tbb-drill-block tbb-drill-samples-block" }, h("h3", { text: "Samples with the highest loss" }));
    const wrap = h("div", { class: "tbb-samples-runs" });
    block.append(wrap);
    for (const d of cols) {
      const part = h("div", { class: "tbb-samples-run", "data-run": d.run, "data-step": d.step ?? "" },
        h("div", { class: "tbb-samples-head" }, h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(d.run)}` }),
          h("span", { class: "tbb-run-name", text: d.run }), h("span", { class: "tbb-muted tbb-small tbb-sep", text: d.label })));
      wrap.append(part);
      const sm = d.samples;
      if (!sm) { part.append(h("p", { class: "tbb-bad tbb-small", text: `Could not load its samples: ${d.samplesError}` })); continue; }
      if (!sm.found || !sm.samples.length) { part.append(h("p", { class: "tbb-muted tbb-small", text: "No samples recorded at this step." })); continue; }
      const summary = lossSummary(sm.samples.map((r) => r.values.share));
      part.append(h("p", { class: "tbb-samples-summary", text: lossSummaryText(summary) }));
      const outputs = outputsOf(sm.fields);
      const classes = sm.fields.some((f) => f.startsWith("probability"));
      const head = h("tr", {}, h("th", { class: "tbb-num", text: "#" }), h("th", { text: "sample" }),
        h("th", { text: "label → pred." , title: "The sample's label and the model's prediction (per output)" }),
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
        const marked = this.ctx.marks?.run === d.run && this.ctx.marks.fingerprint === r.fingerprint;
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
        const mark = () => this.ctx.markSample(d.run, { fingerprint: r.fingerprint, id });
        tr.addEventListener("click", mark);
        tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); mark(); } });
        tb.append(tr);
      });
      part.append(h("div", { class: "tbb-scroll" }, h("table", { class: "tbb-table tbb-samples" }, h("thead", {}, head), tb)));
      part.append(h("p", { class: "tbb-small tbb-muted" },
        copyButton(() => fingerprintList(sm.samples), "copy all fingerprints", "Copy the fingerprints as a Python list"),
        " · tbb.find(x, fingerprints) gives their rows in your data"));
    }
    return block;
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

  private rerender(): void {
    if (this.run !== null && this.step !== null) this.render(this.run, this.step, []);
  }

  private quantileTable(tag: string, have: Loaded[]): HTMLElement {
    const head = h("tr", {}, h("th", { text: "" }));
    for (const d of have) head.append(h("th", { class: "tbb-num", "data-run": d.run }, h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(d.run)}` }),
      h("span", { class: "tbb-run-name", text: d.run })));
    const tb = h("tbody");
    const dists = have.map((d) => d.data!.distributions[tag]);
    const row = (label: string, cells: (string | [string, boolean])[]) => {
      const tr = h("tr", {}, h("th", { scope: "row", text: label }));
      for (const c of cells) {
        const [text, bad] = typeof c === "string" ? [c, false] : c;
        tr.append(h("td", { class: "tbb-num" + (bad ? " tbb-bad" : ""), text }));
      }
      tb.append(tr);
    };
    row("count", dists.map((d) => fmtNum(d.count)));
    row("mean ± std", dists.map((d) => `${fmtNum(d.mean)} ± ${fmtNum(d.std)}`));
    if (dists.some((d) => d.nan_count + d.posinf_count + d.neginf_count > 0)) {
      row("NaN/+Inf/-Inf", dists.map((d) => [`${d.nan_count}/${d.posinf_count}/${d.neginf_count}`, d.nan_count + d.posinf_count + d.neginf_count > 0]));
    }
    const probs = [...new Set(dists.flatMap((d) => d.quantile_probs))].sort((a, b) => a - b);
    for (const p of probs) {
      row(quantileLabel(p), dists.map((d) => {
        const i = d.quantile_probs.indexOf(p);
        return i >= 0 ? fmtNum(d.quantiles[i]) : "–";
      }));
    }
    return h("div", { class: "tbb-scroll" }, h("table", { class: "tbb-table tbb-quantiles" }, h("thead", {}, head), tb));
  }

  /** Histograms (counts per bin, each run its own bins) or CDFs of several runs on one x axis. */
  private distChart(el: HTMLElement, tag: string, have: Loaded[]): void {
    if (!el.isConnected) return;
    const ds = have.map((d) => ({ run: d.run, color: this.ctx.color(d.run), d: d.data!.distributions[tag] }));
    const logX = this.useLogX(ds.map((x) => x.d));
    let xr = sharedRange(ds.map((x) => x.d), logX);
    if (xr && logX) xr = [Math.pow(10, Math.floor(Math.log10(xr[0]))), Math.pow(10, Math.ceil(Math.log10(xr[1])))];
    if (!xr) { el.append(h("p", { class: "tbb-muted", text: "No finite value at this step." })); return; }
    const cdf = this.mode(ds.map((x) => x.d)) === "cdf";
    let ymax = 1;
    if (!cdf) for (const { d } of ds) for (const c of d.histogram) if (c > ymax) ymax = c;
    const width = Math.max(300, el.clientWidth || 440);
    const u = new uPlot({
      width, height: 190,
      legend: { show: false },
      padding: [8, 14, 0, 0],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: logX ? { time: false, distr: 3, log: 10, range: () => xr } : { time: false, range: () => xr },
        y: { range: () => (cdf ? [0, 1] : [0, ymax * 1.08]) },
      },
      axes: (() => {
        const [ax, ay] = baseAxes(this.ctx, "step");
        return [{ ...ax, values: (_u: uPlot, s: number[]) => s.map((v) => (v == null ? "" : fmtNum(v))), label: tag, labelSize: 14 },
          { ...ay, label: cdf ? "fraction ≤ x" : "samples per bin", labelSize: 14 }];
      })(),
      series: [{}, { stroke: "transparent", points: { show: false } }],
      hooks: {
        draw: [(uu) => this.drawDists(uu, ds, cdf, logX)],
        setCursor: [(uu) => this.distHover(uu, ds, cdf, tag)],
      },
    }, [[xr[0], xr[1]], [null, null]] as uPlot.AlignedData, el);
    u.over.addEventListener("mouseleave", () => hideTip());
    this.charts.push(u);
    const zeros = logX ? ds.filter((x) => nonPositiveCount(x.d) > 0) : [];
    if (zeros.length) {
      el.append(h("p", { class: "tbb-muted tbb-small", text: `log x leaves out values ≤ 0: ${zeros.map((x) => `${x.run} ≈${nonPositiveCount(x.d)}`).join(", ")}` }));
    }
  }

  private drawDists(u: uPlot, ds: { run: string; color: string; d: StepDist }[], cdf: boolean, logX: boolean): void {
    const c = clipToPlot(u);
    const { left, width } = u.bbox;
    const px = uPlot.pxRatio;
    const xmin = u.scales.x.min!;
    const X = (v: number) => u.valToPos(logX ? Math.max(v, xmin) : v, "x", true);
    const Y = (v: number) => u.valToPos(v, "y", true);
    for (const { color, d } of ds) {
      c.strokeStyle = color;
      c.lineWidth = 1.75 * px;
      c.beginPath();
      if (cdf) {
        const pts = cdfPoints(d);
        pts.x.forEach((x, i) => (i ? c.lineTo(X(x), Y(pts.p[i])) : (c.moveTo(X(x), Y(0)), c.lineTo(X(x), Y(pts.p[i])))));
        if (pts.x.length) c.lineTo(left + width, Y(1));
        c.stroke();
        continue;
      }
      const e = d.bin_edges;
      c.moveTo(X(e[0]), Y(0));
      for (let i = 0; i < d.histogram.length; i++) {
        if (logX && !(e[i + 1] > 0)) continue;
        c.lineTo(X(e[i]), Y(d.histogram[i]));
        c.lineTo(X(e[i + 1]), Y(d.histogram[i]));
      }
      c.lineTo(X(e[e.length - 1]), Y(0));
      c.stroke();
      c.fillStyle = withAlpha(color, 0.14);
      c.lineTo(X(e[0]), Y(0));
      c.fill();
    }
    c.restore();
  }

  private distHover(u: uPlot, ds: { run: string; color: string; d: StepDist }[], cdf: boolean, tag: string): void {
    const left = u.cursor.left;
    if (left === undefined || left === null || left < 0) { hideTip(); return; }
    const x = u.posToVal(left, "x");
    const rows: TipRow[] = ds.map(({ run, color, d }) => {
      if (cdf) {
        const p = cdfAt(cdfPoints(d), x);
        return { color, label: run, value: p, text: `${fmtNum(+(p * 100).toFixed(2))}% ≤ x` };
      }
      const b = binAt(d, x);
      return b ? { color, label: run, value: b.count, text: `${fmtNum(b.count)}`, note: `bin ${fmtNum(b.lo)}…${fmtNum(b.hi)}` }
        : { color, label: run, value: NaN, text: "–", note: "outside its range" };
    });
    const r = u.over.getBoundingClientRect();
    showTip(r.left + left, r.top + (u.cursor.top ?? 0), `${tag} = ${fmtNum(x)}`, rows);
  }

  /** The marked sample changed: highlight its rows. */
  marksChanged(): void {
    highlightMarked(this.body, ".tbb-samples-run", this.ctx.marks);
  }

  /** Summary for tests (window.__tbb). */
  debug() {
    return {
      open: this.isOpen, run: this.run, step: this.step,
      columns: this.columns.map((c) => ({ run: c.run, step: c.step, label: c.label, evaluation: c.evaluation ?? null })),
      charts: this.charts.map((u) => ({ xMin: u.scales.x.min, xMax: u.scales.x.max, yMax: u.scales.y.max })),
      histMode: this.histMode, logX: this.logX,
      samples: this.loaded.filter((d) => d.samples || d.samplesError).map((d) => ({
        run: d.run, step: d.step, error: d.samplesError ?? null, found: d.samples?.found ?? false, share: d.samples?.share ?? null,
        fingerprints: (d.samples?.samples ?? []).map((r) => r.fingerprint),
      })),
    };
  }
}
