// The hardest samples of the Samples view (with the loss chart above it, from the app): per run,
// the samples that kept coming back among their batch's highest losses over the visible steps
// (the `hardest` endpoint); a click marks every step of a sample on the charts, a step opens the
// drill-down there.
import { fetchHardest } from "../api/client";
import type { HardSample, Hardest } from "../api/types";
import { evaluationStepRange } from "../model/axes";
import { fmtNum, fmtShort, fmtStep } from "../model/format";
import { identity, sampleKey } from "../model/samples";
import { actOnRow, highlightMarked, samplesHead, settled, TableCard } from "../ui/card";
import type { ViewContext } from "../ui/context";
import { clear, copyButton, h } from "../ui/dom";

/** How many of the hardest samples each run lists. */
export const HARDEST_TOP = 50;

/** The steps of a run (its own numbering) that the view of its axis shows, undefined for all;
 * null when the view holds none of them (a placed validation run: the evaluations in view). */
export function viewStepsOf(app: ViewContext, run: string): { start: number; end: number } | undefined | null {
  const m = app.meta(run);
  if (!m) return undefined;
  const v = app.view(m.axis);
  if (!v) return undefined;
  const off = app.settings.xAxis === "relstep" ? app.stepOffset(run) : 0;
  if (m.placed) return evaluationStepRange(m.info.evaluations ?? [], v.start + off, v.end + off);
  return { start: v.start + off, end: v.end + off };
}

function rangeText(r: Hardest, placed: boolean): string {
  return `${placed ? "validation batches" : "steps"} ${fmtStep(r.start)}–${fmtStep(r.end)}`;
}

/** The hardest samples of every plotted run that recorded samples, one table per run. */
export class HardestCard extends TableCard {
  results: { run: string; res: Hardest | null; error: string }[] = [];

  constructor(app: ViewContext) {
    super(app, { cls: "tbb-hardest", title: "Hardest samples", bodyClass: "tbb-hardest-runs",
      note: "most often among their batch's highest losses in the steps shown; click one to mark its steps" });
  }

  /** Plotted runs with samples: training runs first, then validation runs. */
  members(): string[] {
    const runs = this.app.plotted().filter((r) => this.app.meta(r)?.info.samples);
    const val = (r: string) => (this.app.meta(r)?.role === "validation" ? 1 : 0);
    return runs.map((r, i) => ({ r, i })).sort((a, b) => val(a.r) - val(b.r) || a.i - b.i).map((x) => x.r);
  }

  load(): Promise<void> {
    return this.loader.run(async (signal) => {
      const runs = this.members();
      const got = await Promise.all(runs.map(async (run) => {
        const r = viewStepsOf(this.app, run);
        if (r === null) return { run, res: null, error: "no evaluation in the steps shown" };
        const { value, error } = await settled(fetchHardest(run, r?.start, r?.end, HARDEST_TOP, signal), signal);
        return { run, res: value, error };
      }));
      if (signal.aborted) return;
      this.results = got;
      this.render();
      this.msgEl.textContent = runs.length ? "" : "None of the selected runs recorded samples (BatchStats(samples=8), the default, records them).";
      return runs.length ? "drawn" : "empty";
    }, (e) => { this.msgEl.textContent = `Could not load the hardest samples: ${e.message}`; });
  }

  render(): void {
    clear(this.body);
    for (const { run, res, error } of this.results) {
      const placed = !!this.app.meta(run)?.placed;
      const part = h("div", { class: "tbb-hardest-run", "data-run": run }, samplesHead(run, this.app.color(run), res ? rangeText(res, placed) : null));
      this.body.append(part);
      if (!res) { part.append(h("p", { class: "tbb-muted tbb-small", text: error })); continue; }
      if (!res.samples.length) { part.append(h("p", { class: "tbb-muted tbb-small", text: "No samples recorded in these steps." })); continue; }
      const head = h("tr", {}, h("th", { class: "tbb-num", text: "#" }), h("th", { text: "sample" }),
        h("th", { class: "tbb-num", text: "times", title: "At how many steps it was among its batch's highest-loss samples" }),
        h("th", { class: "tbb-num", text: "mean loss", title: "Its mean loss over those steps" }),
        h("th", { class: "tbb-num", text: "max loss" }),
        h("th", { class: "tbb-num", text: "first", title: "The first and last of those steps (click: open it)" }),
        h("th", { class: "tbb-num", text: "last" }),
        h("th", { text: "label → pred.", title: "The given label → the last prediction" }));
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
      b.addEventListener("click", (e) => { e.stopPropagation(); this.app.openDrill(run, st, null); });
      return b;
    };
    const wrong = s.label !== null && s.predicted !== null && s.label !== s.predicted;
    const tr = h("tr", { "data-fingerprint": s.fingerprint, "data-key": sampleKey(s), tabindex: 0, class: "tbb-clickable",
      title: "Click: mark on the charts every step at which it was among its batch's highest losses" },
      h("td", { class: "tbb-num tbb-muted", text: String(i + 1) }),
      h("td", { class: "tbb-mono", title: `fingerprint ${who.full}${s.id !== null ? ` (id ${s.id})` : ""}` },
        h("span", { text: who.text }), " ", copyButton(() => s.fingerprint, "copy", `Copy the fingerprint ${s.fingerprint}`)),
      h("td", { class: "tbb-num", text: String(s.count) }),
      h("td", { class: "tbb-num", text: fmtShort(s.mean_loss), title: String(s.mean_loss) }),
      h("td", { class: "tbb-num", text: fmtShort(s.max_loss), title: String(s.max_loss) }),
      h("td", { class: "tbb-num" }, step(s.first_step)),
      h("td", { class: "tbb-num" }, step(s.last_step)),
      h("td", { class: wrong ? "tbb-wrong" : "", text: s.label === null ? "–" : `${fmtNum(s.label)} → ${s.predicted === null ? "–" : fmtNum(s.predicted)}` }));
    actOnRow(tr, () => this.app.markSample(run, s, s));
    return tr;
  }

  /** Highlights the marked sample's row. */
  marksChanged(): void {
    highlightMarked(this.body, ".tbb-hardest-run", this.app.marks);
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
