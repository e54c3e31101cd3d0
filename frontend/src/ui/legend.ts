// A chart's legend: a line of run names in their colours above the plot (also in full screen,
// where the sidebar is hidden); a group is followed by its members, each in its own colour.
import type { LegendEntry } from "../model/legend";
import { clear, h, swatch } from "./dom";

export class ChartLegend {
  readonly root: HTMLUListElement;
  private key = "";

  constructor(label: string) {
    this.root = h("ul", { class: "tbb-legend", "aria-label": `Legend of ${label}` });
  }

  /** Shows the entries (the DOM is left alone when unchanged: a zoom). */
  set(entries: readonly LegendEntry[]): void {
    const key = JSON.stringify(entries);
    if (key === this.key) return;
    this.key = key;
    clear(this.root);
    for (const e of entries) {
      const li = h("li", { class: "tbb-legend-entry", "data-kind": e.kind, "data-name": e.name, title: e.name },
        swatch(e.color), h("span", { class: "tbb-legend-name", text: e.name }));
      if (e.kind === "eval") li.append(h("span", { class: "tbb-muted tbb-small", text: " (evaluations)" }));
      if (e.members.length) {
        const ul = h("ul", { class: "tbb-legend-members", "aria-label": `Runs of ${e.name}` });
        for (const m of e.members) {
          ul.append(h("li", { class: "tbb-legend-member", "data-run": m.run, "data-color": m.color, title: m.run },
            swatch(m.color), h("span", { class: "tbb-legend-name", text: m.run })));
        }
        li.append(ul);
      }
      this.root.append(li);
    }
  }

  /** What tests read. */
  entries(): { name: string; kind: string; members: { run: string; color: string }[] }[] {
    return Array.from(this.root.querySelectorAll<HTMLElement>(":scope > li"), (li) => ({
      name: li.dataset.name ?? "", kind: li.dataset.kind ?? "",
      members: Array.from(li.querySelectorAll<HTMLElement>(".tbb-legend-member"), (m) => ({ run: m.dataset.run ?? "", color: m.dataset.color ?? "" })),
    }));
  }
}
