// The sample marked on the charts: every step of its run at which it was among its batch's
// highest losses (the `samples?fingerprint=` route; a server without it: the first and last step
// `hardest` gives), or every step that trained on it (its presentations, from its dynamics), and
// the toolbar chip that names it and unmarks it.
import { fetchHardest, fetchSampleSteps } from "../api/client";
import type { HardSample } from "../api/types";
import { identity, marksSummary, sampleKey } from "../model/samples";
import type { SampleMarks } from "../model/settings";
import { clear, h } from "../ui/dom";

export class SampleMarker {
  marks: SampleMarks | null = null;
  /** counts the marks asked for: an answer to an older ask is dropped */
  private generation = 0;

  constructor(private readonly chip: HTMLElement, private readonly color: (run: string) => string, private readonly changed: () => void) {}

  /** Marks (or, when it is marked already, unmarks) every step of a sample of a run; `known` is
   * what `hardest` said of it. */
  toggle(run: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): void {
    const key = sampleKey(sample);
    if (this.marks && this.marks.run === run && this.marks.key === key) { this.set(null); return; }
    void this.load(run, key, sample, known);
  }

  /** Marks (or, when these are marked already, unmarks) the given steps of a sample of a run:
   * every step that trained on it (its presentations, from its dynamics). */
  togglePresentations(run: string, sample: { fingerprint: string; id: number | null }, steps: readonly number[]): void {
    const key = sampleKey(sample);
    if (this.marks && this.marks.run === run && this.marks.key === key && this.marks.what === "presentations") { this.set(null); return; }
    this.generation++;
    this.set({ run, key, fingerprint: sample.fingerprint, id: sample.id, steps: [...steps], complete: true, count: steps.length, what: "presentations" });
  }

  /** Every step of the sample (the server's `samples?fingerprint=`); a server without it: the
   * first and last step `hardest` gives (over all steps, when `known` is not given). */
  private async load(run: string, key: string, sample: { fingerprint: string; id: number | null }, known?: HardSample): Promise<void> {
    const gen = ++this.generation;
    const base = { run, key, fingerprint: sample.fingerprint, id: sample.id };
    let got: { steps: number[] } | null = null;
    try { got = await fetchSampleSteps(run, sample); } catch { got = null; }
    if (gen !== this.generation) return;
    if (got) { this.set({ ...base, steps: got.steps, complete: true, count: got.steps.length }); return; }
    let k = known;
    if (!k) {
      const all = await fetchHardest(run, undefined, undefined, 1000).catch(() => null);
      k = all?.samples.find((x) => sampleKey(x) === key);
    }
    if (gen !== this.generation) return;
    const steps = k ? [...new Set([k.first_step, k.last_step])] : [];
    this.set({ ...base, steps, complete: false, count: k?.count ?? 0 });
  }

  private set(m: SampleMarks | null): void {
    if (!m) this.generation++;
    this.marks = m;
    clear(this.chip);
    this.chip.hidden = !m;
    if (m) {
      const who = identity(m.fingerprint, m.id);
      const off = h("button", { type: "button", class: "tbb-linkbtn", text: "✕", title: "Unmark", "aria-label": "Unmark the sample" });
      off.addEventListener("click", () => this.set(null));
      this.chip.append(h("span", { class: "tbb-mark-glyph", style: `color:${this.color(m.run)}`, text: "▼" }),
        h("span", { class: "tbb-mono", text: who.text, title: who.full }), h("span", marksSummary(m)), " ", off);
    }
    this.changed();
  }
}
