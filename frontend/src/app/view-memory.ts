// Each view (Steps, Distributions, Samples, Data Map) keeps its own zoom and open step: a zoom
// and drill-down opened in one view (an anomaly's click) do not follow into the next, and coming
// back to a view shows it as it was left.
import type { Range } from "../model/ranges";
import type { Settings } from "../model/settings";

export interface ViewPlace {
  train: Range | null;
  val: Range | null;
  open: { run: string; step: number } | null;
}

export class ViewMemory {
  private readonly places = new Map<Settings["tab"], ViewPlace>();

  constructor(public tab: Settings["tab"]) {}

  /** Leaves `this.tab` (keeping `place`) for `tab`; returns what `tab` showed last (nothing
   * zoomed or open the first time). */
  switchTo(tab: Settings["tab"], place: ViewPlace): ViewPlace {
    this.places.set(this.tab, place);
    this.tab = tab;
    return this.places.get(tab) ?? { train: null, val: null, open: null };
  }
}
