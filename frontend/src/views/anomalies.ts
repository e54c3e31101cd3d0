// The anomalies panel: NaN/Inf steps and the steps that went wrong of every plotted run in one
// list, scored and classified by the server with one documented definition (docs/http_api.md,
// `anomalies`), so that counts and scores compare across runs: each entry says its kind (the
// batch as a whole, a few samples, the gradient, the learning rate); per run the count of each
// kind, the runs with the most whole-batch anomalies first, validation runs apart; validation
// entries in a section of their own, by their evaluation. Controls: the score threshold and the
// minimum jump (both sent to the server), sort by score or by step, filter by tag. A click zooms
// to the step and opens it.
import { fetchAnomalies } from "../api/client";
import type { Anomalies, Anomaly } from "../api/types";
import { countText, entryWhat, isValidationRun, kindLabel, orderRuns, runCounts } from "../model/anomalies";
import { fmtNum, fmtStep } from "../model/format";
import { sortAnomalies } from "../model/sorting";
import { clear, debounce, h, swatch } from "../ui/dom";
import { load, save } from "../ui/store";

export interface AnomalyHost {
  plotted(): string[];
  color(run: string): string;
  /** the run's role by the tab's run meta (null: none known) */
  role(run: string): string | null;
  /** true while a chart is loading: scoring waits (charts and zooms go first) */
  busy(): boolean;
  jumpTo(run: string, tag: string, step: number): void;
}

interface Prefs {
  threshold: number;
  minJump: number; // percent of the series' spread
  sort: "score" | "step";
  tag: string;
}

const DEFAULTS: Prefs = { threshold: 6, minJump: 20, sort: "score", tag: "" };
const LIMIT = 200;

export class AnomalyPanel {
  readonly root: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly counts: HTMLDivElement;
  private readonly tagSel: HTMLSelectElement;
  private readonly sortSel: HTMLSelectElement;
  private readonly note: HTMLParagraphElement;
  private prefs: Prefs;
  private results = new Map<string, Anomalies | string>();
  private generation = 0;
  done = 0;

  constructor(private readonly host: AnomalyHost) {
    this.prefs = { ...DEFAULTS, ...load<Partial<Prefs>>("anomalies", {}) };
    const num = (label: string, key: "threshold" | "minJump", min: number, step: number, title: string) => {
      const inp = h("input", { type: "number", class: "tbb-input tbb-num-input", min, step, value: this.prefs[key], "aria-label": label, title, "data-key": key });
      inp.addEventListener("input", debounce(() => {
        const v = Number(inp.value);
        if (!(v >= min)) return;
        this.prefs[key] = v;
        this.savePrefs();
        void this.load();
      }, 400));
      return h("label", { class: "tbb-check tbb-small", title }, `${label} `, inp);
    };
    this.sortSel = h("select", { class: "tbb-input tbb-small", "aria-label": "Sort anomalies" },
      h("option", { value: "score", text: "by score" }), h("option", { value: "step", text: "by step" }));
    this.sortSel.value = this.prefs.sort;
    this.sortSel.addEventListener("change", () => { this.prefs.sort = this.sortSel.value === "step" ? "step" : "score"; this.savePrefs(); this.render(); });
    this.tagSel = h("select", { class: "tbb-input tbb-small", "aria-label": "Anomalies of tag" });
    this.tagSel.addEventListener("change", () => { this.prefs.tag = this.tagSel.value; this.savePrefs(); this.render(); });
    this.counts = h("div", { class: "tbb-anom-counts" });
    this.list = h("ol", { class: "tbb-anom-list", "aria-label": "Anomalies" });
    this.note = h("p", { class: "tbb-muted tbb-small tbb-anom-help" });
    this.note.append(
      "Whole-batch (the score): the batch's per-sample loss median/upper quartile jumps (log scale) against the 25 batches before ",
      h("em", { text: "and" }), " after; a validation batch against itself in the 5 evaluations around. ",
      "Samples: the loss jumps but one sample holds ≥ 20% of it. grad, lr: the gradient norm, the learning rate jumps. ",
      "Warm-up excluded; NaN/Inf first.");
    this.root = h("div", { class: "tbb-anoms" },
      h("div", { class: "tbb-row" },
        num("score ≥", "threshold", 3, 0.5, "Spike score threshold: distance from the local median in robust standard deviations (1.4826 × MAD), the smaller of both sides"),
        num("jump ≥", "minJump", 0, 5, "Minimum jump, in % of the series' spread (its 1st…99th percentile range): noise on a flat near-zero stretch is not a spike")),
      h("div", { class: "tbb-row" }, this.sortSel, this.tagSel),
      this.counts,
      this.list,
      this.note,
    );
  }

  private savePrefs(): void {
    save("anomalies", this.prefs);
  }

  /** (Re)scores the plotted runs, one at a time and only while no chart is loading. */
  async load(): Promise<void> {
    const gen = ++this.generation;
    const runs = this.host.plotted();
    this.results = new Map(runs.map((r) => [r, "loading…"]));
    this.render();
    for (const r of runs) {
      while (this.host.busy()) await new Promise((res) => setTimeout(res, 50));
      if (gen !== this.generation) return;
      let got: Anomalies | string;
      try {
        got = await fetchAnomalies(r, { limit: LIMIT, threshold: this.prefs.threshold, min_jump: this.prefs.minJump / 100 });
      } catch (e) {
        got = String((e as Error).message);
      }
      if (gen !== this.generation) return;
      this.results.set(r, got);
      this.render();
    }
    this.done = gen;
  }

  get loaded(): boolean {
    return this.done === this.generation;
  }

  private validation(run: string): boolean {
    return isValidationRun(run, this.host.role(run), this.results.get(run));
  }

  /** Every anomaly of the plotted runs, filtered and sorted as the controls say: the training
   * runs' entries, then the validation runs'. */
  rows(): Anomaly[] {
    const [train, val] = this.sections();
    return [...train, ...val];
  }

  private sections(): [Anomaly[], Anomaly[]] {
    const all: Anomaly[] = [];
    for (const v of this.results.values()) if (typeof v !== "string") all.push(...v.anomalies);
    const f = sortAnomalies(this.prefs.tag ? all.filter((a) => a.tag === this.prefs.tag) : all, this.prefs.sort);
    const val = new Set([...this.results.keys()].filter((r) => this.validation(r)));
    return [f.filter((a) => !val.has(a.run)), f.filter((a) => val.has(a.run))];
  }

  render(): void {
    // tag filter: every tag with a scored series
    const tags = new Set<string>();
    for (const v of this.results.values()) if (typeof v !== "string") for (const s of v.series) tags.add(s.tag);
    const cur = this.prefs.tag;
    clear(this.tagSel);
    this.tagSel.append(h("option", { value: "", text: "all tags" }));
    for (const t of [...tags].sort()) this.tagSel.append(h("option", { value: t, text: t }));
    this.tagSel.value = tags.has(cur) ? cur : "";
    this.renderCounts();
    clear(this.list);
    const [train, val] = this.sections();
    for (const a of train.slice(0, 300)) this.list.append(this.entry(a, false));
    if (val.length) {
      this.list.append(h("li", { class: "tbb-anom-head" }, h("h3", { class: "tbb-small", text: "Validation" })));
      for (const a of val.slice(0, 300)) this.list.append(this.entry(a, true));
    }
    if (!train.length && !val.length && [...this.results.values()].every((v) => typeof v !== "string" || v !== "loading…")) {
      this.list.append(h("li", { class: "tbb-muted tbb-small", text: this.results.size ? "None at this threshold." : "" }));
    }
  }

  /** Per run the counts of each kind (the comparable numbers, before any limit): the runs with
   * the most whole-batch anomalies first, validation runs under a label of their own. */
  private renderCounts(): void {
    clear(this.counts);
    if (!this.results.size) this.counts.append(h("p", { class: "tbb-muted tbb-small", text: "No run selected." }));
    const rows = [...this.results].map(([run, v]) => {
      let text: string, title = "", whole: number | null = null;
      if (v === "loading…") text = "…";
      else if (typeof v === "string") { text = "error"; title = v; }
      else {
        const c = runCounts(v, this.prefs.tag);
        whole = c.whole;
        text = countText(c, v.batch_scored);
        title = `${c.points.toLocaleString("en-US")} points scored (${c.series} series); the steps of each kind`;
      }
      return { run, validation: this.validation(run), whole, text, title };
    });
    const { train, validation } = orderRuns(rows);
    const row = (r: (typeof rows)[number]) => h("div", { class: "tbb-anom-count", "data-run": r.run, title: r.title },
      swatch(this.host.color(r.run)),
      h("span", { class: "tbb-run-name", text: r.run }), h("span", { class: "tbb-num tbb-muted", text: ` ${r.text}` }));
    this.counts.append(...train.map(row));
    if (validation.length) this.counts.append(h("div", { class: "tbb-muted tbb-small tbb-anom-group", text: "validation" }), ...validation.map(row));
  }

  private entry(a: Anomaly, validation: boolean): HTMLLIElement {
    const res = this.results.get(a.run);
    const kind = kindLabel(a, typeof res === "object" ? res.threshold : Infinity);
    const b = h("button", {
      type: "button", class: "tbb-anom" + (validation ? " tbb-anom-val" : ""), "data-run": a.run, "data-step": a.step, "data-kind": a.kind, "data-tag": a.tag,
      title: `${kind.title}\n${a.run}: ${a.tag} = ${fmtNum(a.value)} at step ${fmtStep(a.step)}` + (a.level !== null ? ` (local level ${fmtNum(a.level)}, jump ${fmtNum(a.jump)})` : ""),
    },
    swatch(this.host.color(a.run)),
    h("span", { class: "tbb-anom-what", text: entryWhat(a, validation) }),
    h("span", { class: "tbb-anom-score tbb-num" + (kind.bad ? " tbb-bad" : ""), text: kind.text }));
    b.addEventListener("click", () => this.host.jumpTo(a.run, a.tag, a.step));
    return h("li", {}, b);
  }
}
