// Tag order, sections and series keys (src/model/tags.ts).
import { describe, expect, it } from "vitest";
import {
  keySource, keyTag, orderTags, seriesKey, splitTags, tagPrefix, tagRank, tagSections,
} from "../../src/model/tags";

describe("tags: order, sections, series keys", () => {
  it("loss first, then metrics, then optimizer tags", () => {
    expect(tagRank("loss")).toBe(0);
    expect(tagRank("val/loss")).toBe(0);
    expect(tagRank("accuracy")).toBe(1);
    expect(tagRank("learning_rate")).toBe(2);
    expect(tagRank("grad_norm")).toBe(2);
    expect(tagRank("optimizer/beta_1")).toBe(2);
    expect(tagRank("learning_rate/adam")).toBe(2);
    expect(tagRank("grad_norm/sgd")).toBe(2);
    expect(orderTags(["learning_rate", "accuracy", "grad_norm", "loss", "aux_loss", "auc"]))
      .toEqual(["loss", "aux_loss", "accuracy", "auc", "grad_norm", "learning_rate"]);
    expect(orderTags(["m10", "m9"])).toEqual(["m9", "m10"]);
  });
  it("sections: pinned, ungrouped, then prefixes with more than one tag", () => {
    const keys = ["per_sample_loss/a", "per_sample_loss/b", "loss", "accuracy", "x/only", "learning_rate"];
    const s = tagSections(keys, (k) => k, ["accuracy"], true);
    expect(s.map((x) => [x.key, x.items])).toEqual([
      ["pinned", ["accuracy"]],
      ["", ["loss", "x/only", "learning_rate"]],
      ["per_sample_loss", ["per_sample_loss/a", "per_sample_loss/b"]],
    ]);
    expect(tagSections(keys, (k) => k, [], false)[0].items[0]).toBe("loss");
    expect(tagPrefix("a/b/c")).toBe("a");
    expect(tagPrefix("loss")).toBe("");
  });
  it("splits a tag by source only where a run has it from two writers", () => {
    const runs = [
      { tags: [{ tag: "loss", kind: "scalar", source: "tb_batch" }, { tag: "loss", kind: "scalar", source: "scalars" }, { tag: "acc", kind: "scalar", source: "tb_batch" }] },
      { tags: [{ tag: "acc", kind: "scalar", source: "simple_value" }] },
    ];
    expect([...splitTags(runs)]).toEqual(["loss"]);
    const k = seriesKey("loss", "scalars", true);
    expect(keyTag(k)).toBe("loss");
    expect(keySource(k)).toBe("scalars");
    expect(seriesKey("acc", "tb_batch", false)).toBe("acc");
    expect(keySource("acc")).toBeUndefined();
  });
});
