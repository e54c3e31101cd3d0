// What a chart's legend lists: each drawn run with its colour, each run group with its members
// (each member in its own colour: the group's line takes the first member's), each placed
// validation run. Pure (test/model/legend.test.ts).

export interface LegendMember {
  run: string;
  color: string;
}

export interface LegendEntry {
  /** the run's name, or the group's */
  name: string;
  color: string;
  kind: "run" | "group" | "eval";
  /** a group's runs (empty for a run) */
  members: LegendMember[];
}

/** The drawn layers as they read in a legend (only what a legend needs of a layer). */
export type LegendLayer =
  | { kind: "run" | "eval"; run: string; color: string }
  | { kind: "group"; name: string; runs: readonly string[]; color: string };

/** One entry per layer, in draw order; a group lists its members with `color(member)`. */
export function legendEntries(layers: readonly LegendLayer[], color: (run: string) => string): LegendEntry[] {
  return layers.map((l): LegendEntry => l.kind === "group"
    ? { name: l.name, color: l.color, kind: "group", members: l.runs.map((r) => ({ run: r, color: color(r) })) }
    : { name: l.run, color: l.color, kind: l.kind, members: [] });
}
