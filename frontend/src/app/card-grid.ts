// The cards of the tab and where they go: which cards each tab shows (Steps: a chart per scalar
// series; Distributions: a card per distribution tag; Samples: the loss charts above the
// hardest samples, the likely mislabelled ones and the per-class heatmap; Data Map: the loss
// charts above the data maps and the likely mislabelled samples), in sections by axis, pin and
// tag prefix; cards are kept across rebuilds while their series stay, and reloaded, redrawn or
// recoloured together.
import type { Axis } from "../model/axes";
import type { Settings } from "../model/settings";
import { keySource, keyTag, tagSections } from "../model/tags";
import type { ViewContext } from "../ui/context";
import { clear, h } from "../ui/dom";
import { load, save } from "../ui/store";
import { ClassHeatCard } from "../views/class-heat";
import { DataMapCard } from "../views/datamap";
import { DistCard } from "../views/distributions";
import { HardestCard } from "../views/hardest";
import { MislabelledCard } from "../views/mislabelled";
import { StepChart } from "../views/steps";

const AXES: Axis[] = ["train", "val"];

/** What a card of the grid can be asked. */
export interface Card {
  readonly root: HTMLElement;
  readonly axis: Axis | "any";
  load(): Promise<void>;
  destroy(): void;
  redraw(): void;
  recolor(): void;
}

/** The status line of a tab without a card: no run selected, or no tag of theirs matches. */
export function noCardText(tab: Settings["tab"], plotted: number): string {
  if (!plotted) return "No run selected.";
  return tab === "steps" ? "No scalar tag of the selected runs matches." : "No distribution tag of the selected runs matches.";
}

/** Keeps the cards of `want` (by id) in `cards`: destroys the others, creates the missing ones. */
function syncCards<C extends Card, W>(cards: Map<string, C>, want: ReadonlyMap<string, W>, create: (w: W) => C): void {
  for (const [id, c] of cards) if (!want.has(id)) { c.destroy(); cards.delete(id); }
  for (const [id, w] of want) if (!cards.has(id)) cards.set(id, create(w));
}

function destroyAll(cards: Map<string, Card>): void {
  for (const c of cards.values()) c.destroy();
  cards.clear();
}

export class CardGrid {
  readonly root: HTMLDivElement;
  private readonly stepCharts = new Map<string, StepChart>();
  private readonly distCards = new Map<string, DistCard>();
  private hardestCard: HardestCard | null = null;
  private classCard: ClassHeatCard | null = null;
  private issuesCard: MislabelledCard | null = null;
  private mapCard: DataMapCard | null = null;
  /** chart keys pinned to the top (in pin order, kept in this browser) */
  private pins: string[] = load<string[]>("pins", []).filter((p) => typeof p === "string");

  constructor(private readonly app: ViewContext) {
    this.root = h("div", { class: "tbb-sections" });
  }

  togglePin(key: string): void {
    this.pins = this.pins.includes(key) ? this.pins.filter((k) => k !== key) : [...this.pins, key];
    save("pins", this.pins);
  }

  isPinned(key: string): boolean {
    return this.pins.includes(key);
  }

  /** Creates/removes the cards of a tab and lays them out in sections; `keys` are the chart keys
   * of an axis. Returns how many cards there are. */
  layout(tab: Settings["tab"], recreate: boolean, keys: (kind: "scalar" | "distribution", axis: Axis) => string[]): number {
    if (recreate) {
      destroyAll(this.stepCharts);
      destroyAll(this.distCards);
      this.dropSampleCards();
    }
    clear(this.root);
    if (tab === "samples") return this.layoutSamples(keys);
    if (tab === "datamap") return this.layoutDataMap(keys);
    this.dropSampleCards();
    return tab === "steps" ? this.layoutSteps(keys) : this.layoutDistributions(keys);
  }

  /** A card per distribution tag, by prefix; validation batches apart. */
  private layoutDistributions(keys: (kind: "distribution", axis: Axis) => string[]): number {
    destroyAll(this.stepCharts);
    const want = new Map<string, { tag: string; axis: Axis }>();
    for (const axis of AXES) for (const tag of keys("distribution", axis)) want.set(`${axis}|${tag}`, { tag, axis });
    syncCards(this.distCards, want, ({ tag, axis }) => new DistCard(this.app, tag, axis));
    for (const axis of AXES) {
      const ids = [...want.keys()].filter((id) => id.startsWith(`${axis}|`));
      for (const s of tagSections(ids, (id) => id.slice(id.indexOf("|") + 1), [], this.app.settings.byPrefix)) {
        this.section(`${axis}-${s.key}`, axis === "val" ? `Validation batches${s.title ? ` · ${s.title}` : ""}` : s.title, "",
          s.items.map((id) => this.distCards.get(id)!.root));
      }
    }
    return want.size;
  }

  /** The loss charts (wide) above the hardest samples, the likely mislabelled ones and the
   * per-class heatmap: a marked sample's steps are seen against the loss. */
  private layoutSamples(keys: (kind: "scalar", axis: Axis) => string[]): number {
    this.mapCard?.destroy();
    this.mapCard = null;
    const charts = this.lossCharts(keys);
    this.hardestCard ??= new HardestCard(this.app);
    this.issuesCard ??= new MislabelledCard(this.app);
    this.classCard ??= new ClassHeatCard(this.app);
    this.section("samples", "", "", [this.hardestCard.root, this.issuesCard.root, this.classCard.root]);
    return charts + 3;
  }

  /** The loss charts (wide) above the data maps and the likely mislabelled samples: a clicked
   * sample's presentations are marked on the loss. */
  private layoutDataMap(keys: (kind: "scalar", axis: Axis) => string[]): number {
    this.hardestCard?.destroy();
    this.classCard?.destroy();
    this.hardestCard = this.classCard = null;
    const charts = this.lossCharts(keys);
    this.mapCard ??= new DataMapCard(this.app);
    this.issuesCard ??= new MislabelledCard(this.app);
    this.section("datamap", "", "", [this.mapCard.root, this.issuesCard.root]);
    return charts + 2;
  }

  /** The `loss` charts of both axes, wide, in a section of their own; how many. */
  private lossCharts(keys: (kind: "scalar", axis: Axis) => string[]): number {
    destroyAll(this.distCards);
    const want = new Map<string, { key: string; axis: Axis }>();
    for (const axis of AXES) for (const key of keys("scalar", axis)) if (keyTag(key) === "loss") want.set(`${axis}|${key}`, { key, axis });
    syncCards(this.stepCharts, want, ({ key, axis }) => new StepChart(this.app, key, axis, keySource(key)));
    this.section("samples-loss", "", "", [...want.keys()].map((id) => { const r = this.stepCharts.get(id)!.root; r.classList.add("tbb-wide"); return r; }));
    return want.size;
  }

  /** A chart per scalar series: pinned ones first, then by prefix; validation batches apart. */
  private layoutSteps(keys: (kind: "scalar", axis: Axis) => string[]): number {
    const pins = this.pins;
    for (const c of this.stepCharts.values()) c.root.classList.remove("tbb-wide");
    destroyAll(this.distCards);
    const want = new Map<string, { key: string; axis: Axis }>();
    for (const axis of AXES) for (const key of keys("scalar", axis)) want.set(`${axis}|${key}`, { key, axis });
    syncCards(this.stepCharts, want, ({ key, axis }) => new StepChart(this.app, key, axis, keySource(key)));
    for (const axis of AXES) {
      const ids = [...want.keys()].filter((id) => id.startsWith(`${axis}|`));
      const pinIds = pins.map((k) => `${axis}|${k}`);
      for (const s of tagSections(ids, (id) => keyTag(id.slice(id.indexOf("|") + 1)), pinIds, this.app.settings.byPrefix)) {
        const cards = s.items.map((id) => { const c = this.stepCharts.get(id)!; c.setPinned(pins.includes(c.key)); return c.root; });
        if (axis === "val") this.section(`val-${s.key}`, s.title ? `Validation batches · ${s.title}` : "Validation batches",
          "no evaluation markers in these logs: validation on its own axis, not over training steps", cards);
        else this.section(s.key, s.title, "", cards);
      }
    }
    return want.size;
  }

  private section(key: string, title: string, note: string, cards: HTMLElement[]): void {
    if (!cards.length) return;
    const head = title ? h("h2", { class: "tbb-section-title" }, h("span", { text: title }), note ? h("span", { class: "tbb-muted tbb-small tbb-sep", text: note }) : null) : null;
    this.root.append(h("section", { class: "tbb-section", "data-section": key }, head, h("div", { class: "tbb-grid" }, ...cards)));
  }

  private dropSampleCards(): void {
    for (const c of [this.hardestCard, this.classCard, this.issuesCard, this.mapCard]) c?.destroy();
    this.hardestCard = this.classCard = null;
    this.issuesCard = null;
    this.mapCard = null;
  }

  /** Every card (of an axis, and those of any axis). */
  cards(axis?: Axis): Card[] {
    const all: Card[] = [...this.stepCharts.values(), ...this.distCards.values(),
      ...[this.hardestCard, this.issuesCard, this.classCard, this.mapCard].filter((c): c is NonNullable<typeof c> => !!c)];
    return all.filter((c) => !axis || c.axis === axis || c.axis === "any");
  }

  /** The marked sample changed: the charts draw its steps, the tables highlight it. */
  marksChanged(): void {
    for (const c of this.stepCharts.values()) c.redraw();
    this.classCard?.redraw();
    this.hardestCard?.marksChanged();
    this.issuesCard?.marksChanged();
    this.mapCard?.marksChanged();
  }

  /** The drill-down's step changed: every chart draws it. */
  drillChanged(): void {
    for (const c of this.stepCharts.values()) c.redraw();
    for (const c of this.distCards.values()) c.redraw();
    this.classCard?.redraw();
  }

  recolor(): void {
    for (const c of this.cards()) c.recolor();
  }

  /** The chart of a tag on an axis. */
  chart(tag: string, axis: Axis): StepChart | undefined {
    return [...this.stepCharts.values()].find((c) => c.tag === tag && c.axis === axis);
  }

  classHeat(): ClassHeatCard | null {
    return this.classCard;
  }

  dataMap(): DataMapCard | null {
    return this.mapCard;
  }

  debug() {
    return {
      charts: [...this.stepCharts.values()].map((c) => c.debug()),
      dists: [...this.distCards.values()].map((c) => c.debug()),
      hardest: this.hardestCard?.debug() ?? null,
      classes: this.classCard?.debug() ?? null,
      issues: this.issuesCard?.debug() ?? null,
      datamap: this.mapCard?.debug() ?? null,
    };
  }
}
