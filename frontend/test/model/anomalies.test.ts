// What the anomalies panel says of entries and runs (src/model/anomalies.ts).
import { describe, expect, it } from "vitest";
import { parseAnomalies } from "../../src/api/parse";
import type { Anomaly } from "../../src/api/types";
import { countText, entryWhat, isValidationRun, isWholeBatch, kindLabel, orderRuns, runCounts } from "../../src/model/anomalies";

const entry = (o: Partial<Anomaly>): Anomaly => ({ run: "r", tag: "loss", step: 764, value: 1.86, kind: "spike", score: 8.26, jump: 1.6, level: 0.25, ...o });

describe("kindLabel", () => {
  it("a whole batch: the score, and what rose", () => {
    const k = kindLabel(entry({ batch_score: 8.26 }), 6);
    expect(k.text).toBe("8.3");
    expect(k.title).toBe("the batch as a whole: its per-sample loss median/upper quartile rose 8.3 robust σ");
    expect(k.bad).toBe(false);
    expect(kindLabel(entry({ batch_score: 13.6, score: 13.6, first_step: 721, last_step: 722 }), 6).title)
      .toContain("one event over steps 721–722");
  });
  it("a spike no per-sample losses decide: the score, and not a whole-batch title", () => {
    for (const a of [entry({}), entry({ batch_score: 0 })]) {
      expect(isWholeBatch(a, 6)).toBe(false);
      expect(kindLabel(a, 6).text).toBe("8.3");
      expect(kindLabel(a, 6).title).toMatch(/^a spike of the series: 8\.3 robust σ/);
    }
  });
  it("a few samples: the top sample's share as a percentage; the drill-down lists them", () => {
    const k = kindLabel(entry({ kind: "samples", score: 9.84, batch_score: 0, share: 0.3885 }), 6);
    expect(k.text).toBe("1 sample 39%");
    expect(k.title).toContain("a few samples carry the batch's loss");
    expect(k.title).toContain("one sample holds 39% of it");
    expect(k.title).toContain("the drill-down lists them");
    expect(kindLabel(entry({ kind: "samples", share: null }), 6).text).toBe("samples");
  });
  it("gradient, learning rate, non-finite values", () => {
    expect(kindLabel(entry({ kind: "gradient", tag: "grad_norm" }), 6).text).toBe("grad");
    expect(kindLabel(entry({ kind: "learning_rate", tag: "learning_rate" }), 6).text).toBe("lr");
    const n = kindLabel(entry({ kind: "nan", value: NaN, score: null }), 6);
    expect([n.text, n.bad]).toEqual(["NAN", true]);
    expect(kindLabel(entry({ kind: "-inf", value: -Infinity, score: null }), 6).text).toBe("-INF");
  });
});

describe("entryWhat", () => {
  it("a training entry: tag @ step", () => {
    expect(entryWhat(entry({}), false)).toBe("loss @ 764");
  });
  it("a validation entry: its evaluation, epoch 1-based", () => {
    expect(entryWhat(entry({ step: 239, evaluation: { train_step: 585, epoch: 12, batch: 11 } }), true))
      .toBe("val loss · eval at step 585 (epoch 13), batch 11");
    expect(entryWhat(entry({ step: 239, evaluation: { train_step: 585, epoch: null, batch: 0 } }), true))
      .toBe("val loss · eval at step 585, batch 0");
    expect(entryWhat(entry({ step: 239 }), true)).toBe("val loss @ 239");
  });
});

const response = (run: string, o: Record<string, unknown>) => parseAnomalies({
  run, threshold: 6, min_jump: 0.2, warmup: 25, window: 25, series: [], anomalies: [], ...o,
});

describe("runCounts and countText", () => {
  const zero = { spike: 0, samples: 0, gradient: 0, learning_rate: 0, nan: 0, inf: 0, "-inf": 0 };
  it("the run's counts where the server sends them", () => {
    const r = response("lr_0.08/train", {
      batch_scored: true, counts: { ...zero, samples: 11 },
      series: [{ tag: "loss", points: 1125, ...zero, samples: 12 }, { tag: "accuracy", points: 1125, ...zero }],
    });
    const c = runCounts(r, "");
    expect([c.whole, c.spikes, c.samples, c.points, c.series]).toEqual([0, 0, 11, 2250, 2]);
    expect(countText(c, true)).toBe("0 whole-batch · 11 samples");
    expect(countText(runCounts(response("lr_0.003/train", { batch_scored: true, counts: zero }), ""), true)).toBe("0 whole-batch");
  });
  it("summed over the series of the chosen tag, or of an older server's response", () => {
    const series = [{ tag: "loss", points: 10, spike: 2, nan: 1, inf: 0, "-inf": 1 }, { tag: "acc", points: 10, spike: 1, nan: 0, inf: 0, "-inf": 0 }];
    const old = response("r", { series });
    expect(old.counts).toBeNull();
    expect(old.batch_scored).toBe(false);
    expect(countText(runCounts(old, ""), old.batch_scored)).toBe("3 spikes · 2 NaN/Inf");
    expect(countText(runCounts(old, "acc"), old.batch_scored)).toBe("1 spike");
    const r = response("r", { batch_scored: true, counts: { ...zero, spike: 5, gradient: 1, learning_rate: 2 }, series });
    expect(runCounts(r, "loss").whole).toBe(2);
  });
  it("spike steps no per-sample losses decide are counted apart from whole-batch ones", () => {
    const r = response("spiky/train", {
      batch_scored: true, counts: { ...zero, spike: 3 },
      anomalies: [{ tag: "loss", step: 300, value: 2, kind: "spike", score: 40, batch_score: 0 },
        { tag: "grad_norm", step: 300, value: 2, kind: "spike", score: 7, batch_score: 0 },
        { tag: "loss", step: 555, value: 2, kind: "spike", score: 30, batch_score: 9 },
        { tag: "loss", step: 800, value: 2, kind: "spike", score: 20, batch_score: 0 }],
    });
    const c = runCounts(r, "");
    expect([c.whole, c.spikes]).toEqual([1, 2]);
    expect(countText(c, true)).toBe("1 whole-batch · 2 spikes");
  });
});

describe("validation runs and the runs' order", () => {
  it("the run meta's role first, then an entry's evaluation, then the name", () => {
    const ev = response("v", { anomalies: [{ tag: "loss", step: 3, value: 1, kind: "samples", score: 7, evaluation: { train_step: 90, epoch: 1, batch: 3 } }] });
    expect(isValidationRun("a/validation", "train", ev)).toBe(false);
    expect(isValidationRun("v", "validation")).toBe(true);
    expect(isValidationRun("v", null, ev)).toBe(true);
    expect(isValidationRun("a/validation", null, "loading…")).toBe(true);
    expect(isValidationRun("a/train", null)).toBe(false);
  });
  it("most whole-batch anomalies first, then by name; validation runs apart; not yet known last", () => {
    const rows = [
      { run: "lr_0.003/train", validation: false, whole: 0 },
      { run: "lr_0.08/validation", validation: true, whole: 0 },
      { run: "b/train", validation: false, whole: null },
      { run: "lr_0.08/train", validation: false, whole: 7 },
      { run: "a/train", validation: false, whole: 0 },
      { run: "lr_0.003/validation", validation: true, whole: 2 },
    ];
    const o = orderRuns(rows);
    expect(o.train.map((r) => r.run)).toEqual(["lr_0.08/train", "a/train", "lr_0.003/train", "b/train"]);
    expect(o.validation.map((r) => r.run)).toEqual(["lr_0.003/validation", "lr_0.08/validation"]);
  });
});
