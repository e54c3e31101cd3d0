// What every card of the tab shares: its loading lifecycle, written once (a newer load aborts the
// one before; the card counts as busy until its load ends; its state shows as data-state), and
// the parts several cards build alike (title, message line, run labels, colour scale, the marked
// sample's rows). A chart card's header is card-header.ts.
import type { Axis } from "../model/axes";
import type { SampleMarks } from "../model/settings";
import type { ViewContext } from "./context";
import { h, swatch } from "./dom";

/** What a load is doing, or how the last one ended. */
export type LoadState = "init" | "loading" | "error";
export type CardState = LoadState | "drawn" | "empty";

/**
 * The loading lifecycle of a card. `run(work)` aborts the load under way, marks the card busy and
 * "loading", and runs `work` with the new load's signal; `work` returns the state to show when
 * it is done (or sets it itself and returns nothing). A load that a newer one replaced changes
 * nothing more; an error (not an abort) goes to `failed` and shows "error". The card stays busy
 * until its latest load ends.
 */
export class CardLoader<Done extends string = "drawn" | "empty"> {
  state: LoadState | Done = "init";
  private controller: AbortController | null = null;

  constructor(private readonly root: HTMLElement, private readonly busy: (on: boolean) => void = () => {}) {}

  setState(state: LoadState | Done): void {
    this.state = state;
    this.root.dataset.state = state;
  }

  async run(work: (signal: AbortSignal) => Promise<Done | void>, failed: (e: Error) => void): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.busy(true);
    this.setState("loading");
    try {
      const done = await work(controller.signal);
      if (done && !controller.signal.aborted) this.setState(done);
    } catch (e) {
      if (controller.signal.aborted || (e as Error).name === "AbortError") return;
      failed(e as Error);
      this.setState("error");
    } finally {
      if (this.controller === controller) this.busy(false);
    }
  }

  /** Aborts the load under way (its result is dropped). */
  cancel(): void {
    this.controller?.abort();
  }

  /** The card goes away: its load is aborted and it is no longer busy. */
  dispose(): void {
    this.cancel();
    this.busy(false);
  }
}

/** One request of a load that may fail alone: its value, or its error's message. An error once
 * the load was aborted is thrown: the load is over. */
export async function settled<T>(request: Promise<T>, signal: AbortSignal): Promise<{ value: T; error: "" } | { value: null; error: string }> {
  try {
    return { value: await request, error: "" };
  } catch (e) {
    if (signal.aborted) throw e;
    return { value: null, error: (e as Error).message };
  }
}

/** A card's title: its text (also as tooltip), then any notes. */
export function cardTitle(text: string, ...notes: (HTMLElement | null)[]): HTMLHeadingElement {
  return h("h3", { class: "tbb-title", title: text }, h("span", { text }), ...notes);
}

/** The note of a card on the validation axis. */
export function axisNote(axis: Axis): HTMLElement | null {
  return axis === "val" ? h("span", { class: "tbb-axis-note", text: "validation batches" }) : null;
}

/** The status line under a card's plot (messages, errors). */
export function messageLine(): HTMLDivElement {
  return h("div", { class: "tbb-msg", role: "status" });
}

/** A wide card of the Samples view: a title, a note after it, its body. */
export function wideCard(cls: string, title: string, note: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", { class: `tbb-card tbb-wide ${cls}`, "data-state": "init" },
    h("header", { class: "tbb-card-head" }, h("h3", { class: "tbb-title" }, h("span", { text: title }),
      h("span", { class: "tbb-muted tbb-sep tbb-small", text: `· ${note}` }))), ...body);
}

/** A wide card of tables with a part per run (the lists of the Samples view): its body, message
 * line and loading lifecycle; it draws nothing on a canvas, and a recolour renders it again. */
export abstract class TableCard {
  readonly root: HTMLElement;
  readonly axis = "any" as const;
  protected readonly body: HTMLDivElement;
  protected readonly msgEl: HTMLDivElement;
  protected readonly loader: CardLoader;

  constructor(protected readonly app: ViewContext, o: { cls: string; title: string; note: string; bodyClass: string }) {
    this.body = h("div", { class: o.bodyClass });
    this.msgEl = messageLine();
    this.root = wideCard(o.cls, o.title, o.note, this.body, this.msgEl);
    this.loader = new CardLoader(this.root, (on) => this.app.chartBusy(this, on));
  }

  get state(): CardLoader["state"] {
    return this.loader.state;
  }

  abstract load(): Promise<void>;

  abstract render(): void;

  recolor(): void {
    this.render();
  }

  redraw(): void { /* tables: nothing drawn on a canvas */ }

  destroy(): void {
    this.loader.dispose();
    this.root.remove();
  }
}

/** The label above one run's heatmap: its colour and name, then any notes. */
export function runLabel(run: string, color: string, ...notes: (HTMLElement | null)[]): HTMLDivElement {
  return h("div", { class: "tbb-heat-label" }, swatch(color), h("span", { class: "tbb-run-name", text: run }), ...notes);
}

/** The head of one run's part of a samples table: colour, name, a muted note. */
export function samplesHead(run: string, color: string, note: string | null): HTMLDivElement {
  return h("div", { class: "tbb-samples-head" }, swatch(color), h("span", { class: "tbb-run-name", text: run }),
    note !== null ? h("span", { class: "tbb-muted tbb-small tbb-sep", text: note }) : null);
}

/** A colour scale: a 160 px bar from `colorAt(0)` to `colorAt(1)` between its end labels. */
export function colorScale(o: {
  label: string; ariaLabel: string; low: string; high: string; after: string; colorAt: ((t: number) => string) | null;
}): HTMLElement {
  const bar = h("canvas", { class: "tbb-scale-bar", width: 160, height: 10, role: "img", "aria-label": o.ariaLabel });
  const c = bar.getContext("2d");
  if (c && o.colorAt) {
    for (let i = 0; i < 160; i++) {
      c.fillStyle = o.colorAt(i / 159);
      c.fillRect(i, 0, 1, 10);
    }
  }
  return h("div", { class: "tbb-scale" },
    h("span", { class: "tbb-muted", text: o.label }),
    h("span", { class: "tbb-num", text: o.low }), bar, h("span", { class: "tbb-num", text: o.high }),
    h("span", { class: "tbb-muted", text: o.after }));
}

/** A table row that acts as a button: a click, Enter or Space calls `act`. */
export function actOnRow(tr: HTMLTableRowElement, act: () => void): void {
  tr.addEventListener("click", act);
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); act(); } });
}

/** Highlights the marked sample's rows (tr[data-fingerprint]) in the per-run parts
 * (`partSelector`, each with its data-run) of a table block. */
export function highlightMarked(root: Element, partSelector: string, m: Pick<SampleMarks, "run" | "fingerprint"> | null): void {
  root.querySelectorAll<HTMLElement>(partSelector).forEach((part) => {
    part.querySelectorAll<HTMLElement>("tr[data-fingerprint]").forEach((tr) => {
      if (m && m.run === part.dataset.run && m.fingerprint === tr.dataset.fingerprint) tr.setAttribute("aria-selected", "true");
      else tr.removeAttribute("aria-selected");
    });
  });
}
