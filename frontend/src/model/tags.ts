// Which charts the tab shows and in what order: pure functions (test/model/tags.test.ts).

/** Where a series' values come from (docs/http_api.md, `runs`: provenance), as a badge. */
export const PROVENANCE_LABEL: Record<string, string> = {
  exact: "exact per batch",
  reported: "running mean as reported",
  custom: "custom loop",
  logged: "logged by other code",
};

export const PROVENANCE_HELP: Record<string, string> = {
  exact: "BatchStats: this batch's own exact value.",
  reported: "BatchStats: the value the train step reported (e.g. an epoch's running mean of a non-additive metric), not this batch alone.",
  custom: "tb_batch_plugin.summary in a custom loop: the value given for that step.",
  logged: "Written by other code (tf.summary, keras.callbacks.TensorBoard, PyTorch, tensorboardX): the step means whatever that writer meant.",
};

const OPTIMIZER = /^(optimizer|learning_rate|lr|grad(ient)?s?_?norm|global_?norm|momentum|weight_decay|beta_?[12]|epsilon|iterations|loss_scale|clip\w*)$/i;

/** 0: a loss, 1: a metric, 2: an optimizer quantity (learning rate, gradient norm, ...: a
 * path component with such a name, e.g. `learning_rate/adam`, `optimizer/beta_1`). */
export function tagRank(tag: string): number {
  if (tag.split("/").some((p) => OPTIMIZER.test(p))) return 2;
  const leaf = tag.slice(tag.lastIndexOf("/") + 1);
  return /loss/i.test(leaf) ? 0 : 1;
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** `loss` first (losses, `loss` itself before the others), then metrics, then optimizer tags;
 * natural name order within each. */
export function orderTags(tags: readonly string[]): string[] {
  return [...tags].sort((a, b) => {
    const r = tagRank(a) - tagRank(b);
    if (r) return r;
    const la = a === "loss" ? 0 : 1, lb = b === "loss" ? 0 : 1;
    return la - lb || collator.compare(a, b);
  });
}

/** The prefix group of a tag: its part before the first "/" ("" for a tag without one). */
export function tagPrefix(tag: string): string {
  const i = tag.indexOf("/");
  return i > 0 ? tag.slice(0, i) : "";
}

export interface TagSection {
  /** "pinned", "" (ungrouped tags) or a prefix */
  key: string;
  title: string;
  items: string[];
}

/**
 * Charts in sections: pinned ones first (in pin order), then the ungrouped tags, then one section
 * per prefix (`per_sample_loss/…`), each in `orderTags` order and the sections by their first
 * tag's rank. `keys` are chart keys; `tagOf` gives a key's tag.
 */
export function tagSections(
  keys: readonly string[],
  tagOf: (key: string) => string,
  pinned: readonly string[],
  byPrefix: boolean,
): TagSection[] {
  const pins = pinned.filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !pins.includes(k));
  const byTag = new Map<string, string[]>();
  for (const k of rest) {
    const t = tagOf(k);
    if (!byTag.has(t)) byTag.set(t, []);
    byTag.get(t)!.push(k);
  }
  const ordered = orderTags([...byTag.keys()]).flatMap((t) => byTag.get(t)!);
  const out: TagSection[] = [];
  if (pins.length) out.push({ key: "pinned", title: "Pinned", items: pins });
  if (!byPrefix) {
    if (ordered.length) out.push({ key: "", title: "", items: ordered });
    return out;
  }
  const groups = new Map<string, string[]>();
  for (const k of ordered) {
    const p = tagPrefix(tagOf(k));
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p)!.push(k);
  }
  // a prefix with a single tag is not worth a section of its own
  const loose: string[] = [];
  const named: TagSection[] = [];
  for (const [p, items] of groups) {
    if (p === "" || items.length < 2) loose.push(...items);
    else named.push({ key: p, title: p, items });
  }
  if (loose.length) out.push({ key: "", title: "", items: orderKeys(loose, tagOf) });
  out.push(...named);
  return out;
}

function orderKeys(keys: string[], tagOf: (k: string) => string): string[] {
  const order = orderTags(keys.map(tagOf));
  return [...keys].sort((a, b) => order.indexOf(tagOf(a)) - order.indexOf(tagOf(b)));
}

export interface SeriesRef {
  run: string;
  tag: string;
  source?: string;
  provenance?: string;
}

/** A chart key: the tag, plus its source when some run has the tag from two writers (then each
 * writer's series gets its own chart and every request names its `source`). */
export function seriesKey(tag: string, source: string | undefined, split: boolean): string {
  return split && source ? `${tag}\u0000${source}` : tag;
}

export function keyTag(key: string): string {
  const i = key.indexOf("\u0000");
  return i < 0 ? key : key.slice(0, i);
}

export function keySource(key: string): string | undefined {
  const i = key.indexOf("\u0000");
  return i < 0 ? undefined : key.slice(i + 1);
}

/** Tags that some run has from more than one source. */
export function splitTags(runs: readonly { tags: readonly { tag: string; kind: string; source?: string }[] }[]): Set<string> {
  const out = new Set<string>();
  for (const r of runs) {
    const seen = new Map<string, string | undefined>();
    for (const t of r.tags) {
      if (t.kind !== "scalar") continue;
      if (seen.has(t.tag) && seen.get(t.tag) !== t.source) out.add(t.tag);
      seen.set(t.tag, t.source);
    }
  }
  return out;
}
