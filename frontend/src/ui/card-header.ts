// The header of a chart card (Steps, Distributions): its title, provenance badges (where the
// values come from), the badge saying what is drawn (raw, reduced, sampled), chips, the CSV menu
// and buttons; and the pin and full-screen buttons a card may have there.
import { PROVENANCE_HELP, PROVENANCE_LABEL } from "../model/tags";
import { clear, h, icon, swatch } from "./dom";

export interface CsvLinkSpec {
  run: string;
  color: string;
  href: string;
  download: string;
  title?: string;
}

export class ChartHeader {
  readonly root: HTMLElement;
  private readonly badge: HTMLSpanElement;
  private readonly provenance: HTMLSpanElement | null;
  private readonly csvList: HTMLUListElement;
  private provenanceKey = "";
  private csvKey = "";

  /** [title, provenance badges (when asked), badge, chips, CSV menu, buttons] */
  constructor(o: { title: HTMLElement; provenance: boolean; chips: HTMLElement[]; csvTitle: string; buttons: HTMLElement[] }) {
    this.badge = h("span", { class: "tbb-badge" });
    this.provenance = o.provenance ? h("span", { class: "tbb-provs" }) : null;
    this.csvList = h("ul", { class: "tbb-menu-list" });
    const csv = h("details", { class: "tbb-menu" }, h("summary", { class: "tbb-icon", text: "CSV", title: o.csvTitle }), this.csvList);
    this.root = h("header", { class: "tbb-card-head" }, o.title, this.provenance, this.badge, ...o.chips, csv, ...o.buttons);
  }

  /** The badge's text and kind (its data-kind), and its tooltip when given. */
  setBadge(text: string, kind: string, title?: string): void {
    this.badge.textContent = text;
    this.badge.dataset.kind = kind;
    if (title !== undefined) this.badge.title = title;
  }

  get badgeText(): string | null {
    return this.badge.textContent;
  }

  /** One badge per provenance, with the runs it applies to when the runs differ (left alone
   * when unchanged). */
  setProvenance(byProvenance: ReadonlyMap<string, string[]>): void {
    const key = JSON.stringify([...byProvenance]);
    if (!this.provenance || key === this.provenanceKey) return;
    this.provenanceKey = key;
    clear(this.provenance);
    for (const [p, runs] of byProvenance) {
      const many = byProvenance.size > 1;
      this.provenance.append(h("span", {
        class: "tbb-badge tbb-prov", "data-prov": p,
        text: (PROVENANCE_LABEL[p] ?? p) + (many ? ` (${runs.length})` : ""),
        title: `${PROVENANCE_HELP[p] ?? ""}${many ? `\nRuns: ${runs.join(", ")}` : ""}`,
      }));
    }
  }

  /** The provenances shown (tests). */
  provenances(): (string | undefined)[] {
    return this.provenance ? Array.from(this.provenance.children, (e) => (e as HTMLElement).dataset.prov) : [];
  }

  /** One download link per run in the CSV menu (the DOM is left alone when unchanged: a zoom). */
  setCsv(links: readonly CsvLinkSpec[]): void {
    const key = JSON.stringify(links);
    if (key === this.csvKey) return;
    this.csvKey = key;
    clear(this.csvList);
    for (const l of links) {
      this.csvList.append(h("li", { "data-run": l.run }, h("a", { href: l.href, download: l.download, class: "tbb-link", title: l.title ?? null },
        swatch(l.color), h("span", { text: l.run }))));
    }
  }
}

/** A card's pin button (pinned charts go first); `showPinned` says whether it is. */
export function pinButton(label: string, onClick: () => void): HTMLButtonElement {
  const b = h("button", { type: "button", class: "tbb-icon", title: "Pin this chart to the top", "aria-pressed": "false", "aria-label": `Pin ${label}`, "data-action": "pin" }, icon("pin"));
  b.addEventListener("click", onClick);
  return b;
}

export function showPinned(button: HTMLButtonElement, on: boolean): void {
  button.setAttribute("aria-pressed", String(on));
  button.title = on ? "Unpin" : "Pin this chart to the top";
}

/** A card's full-screen button: the card fills the window until the button, or Esc, leaves
 * (Esc closes an open drill-down first: `escapeTaken`). `changed` follows each switch. */
export class FullScreenToggle {
  readonly button: HTMLButtonElement;
  active = false;

  constructor(private readonly card: () => HTMLElement, label: string, private readonly escapeTaken: () => boolean, private readonly changed: () => void) {
    this.button = h("button", { type: "button", class: "tbb-icon", title: "Full screen (Esc leaves)", "aria-label": `Full screen ${label}`, "data-action": "full" }, icon("full"));
    this.button.addEventListener("click", () => this.set(!this.active));
  }

  set(on: boolean): void {
    if (on === this.active) return;
    this.active = on;
    this.card().classList.toggle("tbb-full", on);
    this.button.setAttribute("aria-pressed", String(on));
    this.button.replaceChildren(icon(on ? "exit" : "full"));
    if (on) document.addEventListener("keydown", this.onKey);
    else document.removeEventListener("keydown", this.onKey);
    this.changed();
    if (!on) this.card().scrollIntoView({ block: "nearest" });
  }

  dispose(): void {
    document.removeEventListener("keydown", this.onKey);
  }

  private onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape" && !this.escapeTaken()) { this.set(false); e.preventDefault(); }
  };
}

