// The "Likely mislabelled" list (next to the hardest samples, and under the Data Map): per plotted
// run (and classification output) with per-sample dynamics, the samples the `label_issues`
// endpoint ranks most likely mislabelled (low AUM, often forgotten, rarely right), each with its
// label → prediction, AUM and score and a `copy` of its fingerprint for `tbb.find`; a click marks
// the steps that trained on it (its presentations) on the loss chart.
import { fetchLabelIssues, fetchPresentations } from "../api/client";
import type { DynamicsRecord, LabelIssues } from "../api/types";
import { dynamicsMembers, isWrong, labelArrow } from "../model/datamap";
import { fmtNum, fmtShort } from "../model/format";
import { identity, sampleKey } from "../model/samples";
import { actOnRow, highlightMarked, samplesHead, settled, TableCard } from "../ui/card";
import type { ViewContext } from "../ui/context";
import { clear, copyButton, h } from "../ui/dom";

/** How many samples each run asks for; the flagged ones among them are listed, then NEXT_SHOWN more. */
export const ISSUES_TOP = 50;
export const NEXT_SHOWN = 10;

export class MislabelledCard extends TableCard {
  results: { run: string; output: string; res: LabelIssues | null; error: string }[] = [];

  constructor(app: ViewContext) {
    super(app, { cls: "tbb-issues", title: "Likely mislabelled", bodyClass: "tbb-issues-runs",
      note: "the samples whose given label the model kept ranking below another class (AUM < 0) and got wrong in most presentations, most likely first; click one to mark its presentations" });
  }

  load(): Promise<void> {
    return this.loader.run(async (signal) => {
      const members = dynamicsMembers(this.app.plotted(), (r) => this.app.meta(r));
      this.results = await Promise.all(members.map(async ({ run, output }) => {
        const { value, error } = await settled(fetchLabelIssues(run, output, ISSUES_TOP, signal), signal);
        return { run, output, res: value, error };
      }));
      if (signal.aborted) return;
      this.render();
      this.msgEl.textContent = members.length ? "" : "None of the selected runs recorded per-sample dynamics (BatchStats(dynamics=True) records them).";
      return members.length ? "drawn" : "empty";
    }, (e) => { this.msgEl.textContent = `Could not load the likely mislabelled samples: ${e.message}`; });
  }

  render(): void {
    clear(this.body);
    for (const { run, output, res, error } of this.results) {
      const flagged = res ? res.issues.filter((s) => s.flagged) : [];
      const note = `${output ? `${output} · ` : ""}${res ? `${fmtNum(res.flagged)} flagged of ${fmtNum(res.count)} samples${res.flagged > flagged.length ? ` · the first ${flagged.length}` : ""}` : ""}`;
      const part = h("div", { class: "tbb-issues-run", "data-run": run, "data-output": output }, samplesHead(run, this.app.color(run), note || null));
      this.body.append(part);
      if (!res) { part.append(h("p", { class: "tbb-muted tbb-small", text: error })); continue; }
      if (!res.issues.length) { part.append(h("p", { class: "tbb-muted tbb-small", text: "No sample recorded." })); continue; }
      if (!flagged.length) {
        part.append(h("p", { class: "tbb-muted tbb-small tbb-issues-none",
          text: "None flagged: the model ranked every sample's given label first on average, or got it right in at least half of its presentations." }));
      }
      const head = h("tr", {}, h("th", { class: "tbb-num", text: "#" }), h("th", { text: "sample" }),
        h("th", { text: "label → prediction", title: "The given label → the last prediction" }),
        h("th", { class: "tbb-num", text: "AUM", title: "Area under the margin: the mean of (the label's logit − the largest other logit) over its presentations" }),
        h("th", { class: "tbb-num", text: "score", title: "How likely mislabelled, in [0, 1]: the mean of its ranks by low AUM and by the share of wrong presentations (docs/label_issues.md)" }),
        h("th", { class: "tbb-num", text: "forgotten", title: "Forgetting events: classified correctly, then wrongly at its next presentation" }),
        h("th", { class: "tbb-num", text: "seen", title: "Presentations: the steps that trained on it" }));
      const tb = h("tbody");
      flagged.forEach((s, i) => tb.append(this.row(run, output, s, i)));
      // Then the next ones by score, muted: after long training a mislabelled sample the model
      // memorised is no longer flagged, but still ranks high (docs/label_issues.md).
      const next = res.issues.filter((s) => !s.flagged).slice(0, NEXT_SHOWN);
      if (next.length) {
        tb.append(h("tr", { class: "tbb-issues-next" }, h("td", { colspan: 7, class: "tbb-muted tbb-small",
          text: `next by score, not flagged (the model gets their label right in most presentations, or ranks it first on average):` })));
        next.forEach((s, i) => tb.append(this.row(run, output, s, flagged.length + i)));
      }
      part.append(h("div", { class: "tbb-scroll tbb-hardest-scroll" }, h("table", { class: "tbb-table tbb-samples tbb-issues-table" }, h("thead", {}, head), tb)));
    }
    this.marksChanged();
  }

  private row(run: string, output: string, s: DynamicsRecord, i: number): HTMLTableRowElement {
    const who = identity(s.fingerprint, s.id);
    const tr = h("tr", { "data-fingerprint": s.fingerprint, "data-key": sampleKey(s), "data-flagged": String(s.flagged), tabindex: 0,
      class: "tbb-clickable" + (s.flagged ? "" : " tbb-muted"),
      title: "Click: mark on the loss chart every step that trained on it" },
      h("td", { class: "tbb-num tbb-muted", text: String(i + 1) }),
      h("td", { class: "tbb-mono", title: `fingerprint ${who.full}${s.id !== null ? ` (id ${s.id})` : ""}` },
        h("span", { text: who.text }), " ", copyButton(() => s.fingerprint, "copy", `Copy the fingerprint ${s.fingerprint}`)),
      h("td", { class: isWrong(s.label, s.predicted) ? "tbb-wrong" : "", text: labelArrow(s.label, s.predicted) }),
      h("td", { class: "tbb-num" + (s.aum < 0 ? " tbb-wrong" : ""), text: fmtShort(s.aum), title: String(s.aum) }),
      h("td", { class: "tbb-num", text: fmtShort(s.score), title: String(s.score) }),
      h("td", { class: "tbb-num", text: fmtNum(s.forgetting) }),
      h("td", { class: "tbb-num", text: fmtNum(s.presentations) }));
    actOnRow(tr, () => void this.mark(run, output, s));
    return tr;
  }

  /** Marks (or unmarks) the steps that trained on a sample. */
  private async mark(run: string, output: string, s: DynamicsRecord): Promise<void> {
    const m = this.app.marks;
    if (m && m.run === run && m.fingerprint === s.fingerprint && m.what === "presentations") {
      this.app.markPresentations(run, s, m.steps);
      return;
    }
    try {
      const pres = await fetchPresentations(run, s.fingerprint, output);
      this.app.markPresentations(run, s, pres.step);
    } catch (e) {
      this.msgEl.textContent = `Could not load its presentations: ${(e as Error).message}`;
    }
  }

  /** Highlights the marked sample's row. */
  marksChanged(): void {
    highlightMarked(this.body, ".tbb-issues-run", this.app.marks);
  }

  debug() {
    return {
      state: this.state,
      runs: this.results.map(({ run, output, res, error }) => ({
        run, output, error, flagged: res?.flagged ?? 0, issues: (res?.issues ?? []).filter((s) => s.flagged).map((s) => ({ fingerprint: s.fingerprint, id: s.id, label: s.label, predicted: s.predicted, aum: s.aum, score: s.score })),
      })),
    };
  }
}
