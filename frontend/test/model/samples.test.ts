// The samples behind a step and per-class losses (src/model/samples.ts).
import { describe, expect, it } from "vitest";
import { parseHardest, parsePerClass, parseSamples } from "../../src/api/parse";
import { rampColor } from "../../src/model/heat-colors";
import {
  columnOfStep, fingerprintList, fmtPct, fmtProb, identity, lossColor, lossScale, lossSummary, lossSummaryText, lossT, marksSummary,
  outputsOf, predictions, predictionText, sampleKey, worstStepOfClass,
} from "../../src/model/samples";

// A `samples` answer as the server writes it (docs/http_api.md): the id of a run without ids is
// the string "NaN".
const STEP = {
  run: "lr_0.08/train", step: 742, found: true, num_samples: 8, share: 0.9985,
  fields: ["fingerprint", "loss", "share", "id", "position", "label", "predicted", "probability", "label_probability"],
  samples: [
    { loss: 66.02, share: 0.8368, id: "NaN", position: 6.0, label: 6.0, predicted: 0.0, probability: 1.0, label_probability: 2.1e-29, fingerprint: "8ff28c05288714bc" },
    { loss: 4.43, share: 0.0562, id: "NaN", position: 0.0, label: 6.0, predicted: 0.0, probability: 0.79, label_probability: 0.0118, fingerprint: "d55115291ba2bb66" },
  ],
};

describe("samples of a step", () => {
  it("parses the server's rows, non-finite strings included", () => {
    const s = parseSamples(STEP);
    expect(s.found).toBe(true);
    expect(s.samples.map((r) => r.fingerprint)).toEqual(["8ff28c05288714bc", "d55115291ba2bb66"]);
    expect(s.samples[0].values.loss).toBe(66.02);
    expect(Number.isNaN(s.samples[0].values.id)).toBe(true);
    expect(s.samples[0].values).not.toHaveProperty("fingerprint");
    expect(parseSamples({ run: "r", step: 3, found: false, samples: [], share: null }).share).toBeNaN();
  });
  it("finds the outputs of a layout and each output's label and prediction", () => {
    expect(outputsOf(STEP.fields)).toEqual([""]);
    const multi = ["fingerprint", "loss", "share", "id", "position", "label/digit", "predicted/digit", "probability/digit",
      "label_probability/digit", "label/size", "predicted/size"];
    expect(outputsOf(multi)).toEqual(["digit", "size"]);
    const p = predictions({ "label/digit": 3, "predicted/digit": 8, "probability/digit": 0.9, "label_probability/digit": 0.01, "label/size": 1.5, "predicted/size": 1.25 },
      ["digit", "size"]);
    expect(p[0]).toEqual({ output: "digit", classes: true, label: 3, predicted: 8, probability: 0.9, labelProbability: 0.01 });
    expect(p[1].classes).toBe(false);
    expect(Number.isNaN(p[1].probability)).toBe(true);
    expect(p.map(predictionText)).toEqual(["digit: 3 → 8", "size: 1.5 → 1.25"]);
    expect(predictionText(predictions(parseSamples(STEP).samples[0].values, [""])[0])).toBe("6 → 0");
  });
  it("shows an id when recorded, else the shortened fingerprint, keyed as hardest keys them", () => {
    expect(identity("8ff28c05288714bc", NaN)).toEqual({ text: "8ff28c05…", full: "8ff28c05288714bc", kind: "fingerprint" });
    expect(identity("8ff28c05288714bc", null).text).toBe("8ff28c05…");
    expect(identity("8ff28c05288714bc", 1234)).toEqual({ text: "id 1234", full: "8ff28c05288714bc", kind: "id" });
    expect(sampleKey({ fingerprint: "ab", id: null })).toBe("fp:ab");
    expect(sampleKey({ fingerprint: "ab", id: 0 })).toBe("id:0");
    expect(fingerprintList(parseSamples(STEP).samples)).toBe('["8ff28c05288714bc", "d55115291ba2bb66"]');
  });
  it("says how few samples carry the batch loss", () => {
    // shares by hand: 0.52 + 0.31 = 0.83 >= 0.8 after two
    const s = lossSummary([0.52, 0.31, 0.1, 0.03]);
    expect(s).toEqual({ n: 2, share: 0.52 + 0.31, listed: 4, total: 0.52 + 0.31 + 0.1 + 0.03 });
    expect(lossSummaryText(s)).toBe("2 samples = 83% of this batch's loss (the 4 listed: 96%)");
    expect(lossSummaryText(lossSummary([0.84, 0.06]))).toBe("1 sample = 84% of this batch's loss (the 2 listed: 90%)");
    // a flat batch: the listed samples carry less than 80%
    const flat = lossSummary([0.05, 0.05, 0.04]);
    expect(flat.n).toBe(3);
    expect(lossSummaryText(flat)).toBe("the 3 listed = 14% of this batch's loss");
    // all of it in the last listed one
    expect(lossSummaryText(lossSummary([0.5, 0.5]))).toBe("2 samples = 100% of this batch's loss");
    expect(lossSummaryText(lossSummary([]))).toBe("no sample recorded at this step");
    expect(lossSummary([0.9, NaN]).n).toBe(1);
  });
  it("formats shares and probabilities", () => {
    expect(fmtPct(0.8368)).toBe("84%");
    expect(fmtPct(0.0562)).toBe("5.6%");
    expect(fmtPct(0.02)).toBe("2%");
    expect(fmtPct(0.0001)).toBe("<0.1%");
    expect(fmtPct(0)).toBe("0%");
    expect(fmtPct(NaN)).toBe("–");
    expect(fmtProb(1)).toBe("1");
    expect(fmtProb(0.7908697)).toBe("0.791");
    expect(fmtProb(2.112830311207526e-29)).toBe("2.1e-29");
    expect(fmtProb(1.7e-17)).toBe("1.7e-17");
    expect(fmtProb(0.0005)).toBe("5e-4");
  });
});

describe("hardest samples", () => {
  it("parses ids, labels and non-finite losses", () => {
    const h = parseHardest({
      run: "r", start: 0, end: 99, samples: [
        { fingerprint: "00000000000000ff", id: null, count: 31, max_loss: 44.7, mean_loss: 12.1, first_step: 12, last_step: 90, label: 3.0, predicted: 8.0 },
        { fingerprint: "0000000000000001", id: 7, count: 2, max_loss: "NaN", mean_loss: "Infinity", first_step: 1, last_step: 2, label: null, predicted: null },
      ],
    });
    expect(h.samples[0]).toEqual({ fingerprint: "00000000000000ff", id: null, count: 31, max_loss: 44.7, mean_loss: 12.1, first_step: 12, last_step: 90, label: 3, predicted: 8 });
    expect(h.samples[1].id).toBe(7);
    expect(h.samples[1].max_loss).toBeNaN();
    expect(h.samples[1].mean_loss).toBe(Infinity);
    expect(h.samples[1].label).toBeNull();
  });
});

describe("per-class heatmap", () => {
  // 3 classes, columns [0..1], [2..5], [6]
  const pc = parsePerClass({
    run: "r", output: null, start: 0, end: 6, count: 7, classes: 3, reduced: true, method: "columns",
    steps: [0, 2, 6], step_ends: [1, 5, 6],
    means: [[0.5, "NaN", 2.0], [1e-6, 0.25, 40.0], ["NaN", "NaN", 0.1]],
    counts: [[3, 0, 1], [2, 5, 1], [0, 0, 4]],
  });
  it("parses columns with NaN means", () => {
    expect(pc.classes).toBe(3);
    expect(pc.stepEnds).toEqual([1, 5, 6]);
    expect(pc.means[0][1]).toBeNaN();
    expect(Array.from(pc.counts[1])).toEqual([2, 5, 1]);
    expect(parsePerClass({ steps: [4], means: [[1]], counts: [[1]], classes: 1 }).stepEnds).toEqual([4]);
  });
  it("finds the column of a step", () => {
    expect([0, 1, 2, 5, 6].map((s) => columnOfStep(pc, s))).toEqual([0, 0, 1, 1, 2]);
    expect(columnOfStep(pc, 1.7)).toBe(0);
    expect(columnOfStep(pc, -3)).toBe(-1);
    expect(columnOfStep(pc, 9)).toBe(-1);
  });
  it("has a log colour scale from the 1st percentile of the positive means to the largest", () => {
    const [lo, hi] = lossScale([pc])!;
    // positive finite means: 1e-6, 0.1, 0.25, 0.5, 2, 40; numpy's linear quantile at 1%: 1e-6 + 0.05 * (0.1 - 1e-6)
    expect(hi).toBe(40);
    expect(lo).toBeCloseTo(1e-6 + 0.05 * (0.1 - 1e-6), 12);
    expect(lossScale([parsePerClass({ steps: [0], means: [["NaN", 0]], counts: [[0, 1]], classes: 2 })])).toBeNull();
    expect(lossT(40, [lo, hi])).toBe(1);
    expect(lossT(1e-9, [lo, hi])).toBe(0);
    expect(lossT(Math.sqrt(0.01 * 1), [0.01, 1])).toBeCloseTo(0.5, 12);
    expect(lossColor(NaN, [0.01, 1], false)[3]).toBe(0);
    expect(lossColor(1, [0.01, 1], false)).toEqual([...rampColor(1, false), 255]);
  });
  it("opens, of a column's steps, the one where the class's loss was highest", () => {
    const raw = parsePerClass({
      steps: [2, 3, 4, 5], step_ends: [2, 3, 4, 5], classes: 2,
      means: [[1, "NaN"], [3, 0.5], [2, "NaN"], ["NaN", 7]], counts: [[1, 0], [2, 1], [1, 0], [0, 1]],
    });
    expect(worstStepOfClass(raw, 0)).toBe(3);
    expect(worstStepOfClass(raw, 1)).toBe(5);
    const nan = parsePerClass({ steps: [2, 3], classes: 1, means: [[5], ["NaN"]], counts: [[1], [1]] });
    expect(worstStepOfClass(nan, 0)).toBe(3); // a NaN loss ranks highest
    expect(worstStepOfClass(parsePerClass({ steps: [2], classes: 1, means: [["NaN"]], counts: [[0]] }), 0)).toBeNaN();
  });
});

describe("the marked sample's chip", () => {
  it("how many steps are marked, or that only the first and last are", () => {
    expect(marksSummary({ run: "a/train", complete: true, count: 1 }).text).toBe(" of a/train: 1 step marked");
    expect(marksSummary({ run: "a/train", complete: true, count: 25 }).text).toBe(" of a/train: 25 steps marked");
    expect(marksSummary({ run: "b", complete: false, count: 7 })).toEqual({
      text: " of b: first and last of its 7 steps", title: "This server does not list every step of a sample: only the first and last are marked",
    });
  });
});
