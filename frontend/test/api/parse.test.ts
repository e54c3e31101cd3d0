// Parsing the plugin's HTTP answers, non-finite strings and the binary layout (src/api/parse.ts).
import { describe, expect, it } from "vitest";
import { apiUrl } from "../../src/api/client";
import {
  decodeBinary, parseAnomalies, parseDistribution, parseDistributionBinary, parseNum, parseSeries, parseStep, toF64,
} from "../../src/api/parse";

describe("API response parsing", () => {
  it("parses a series with non-finite strings", () => {
    const s = parseSeries({
      run: "train", tag: "loss", start: 0, end: 3, count: 4, reduced: false, method: "raw",
      steps: [0, 1, 2, 3], values: [1.5, "NaN", "Infinity", "-Infinity"], wall_times: [1, 2, 3, 4], sampled: null,
    });
    expect(Array.from(s.values)).toEqual([1.5, NaN, Infinity, -Infinity]);
    expect(s.steps).toBeInstanceOf(Float64Array);
    expect(s.sampled).toBeNull();
    expect(s.method).toBe("raw");
  });
  it("parses sampled info", () => {
    const s = parseSeries({ run: "r", tag: "t", start: 0, end: 9, count: 2, reduced: false, steps: [0, 9], values: [1, 2], wall_times: [0, 0], sampled: { n: 2, N: 10 } });
    expect(s.sampled).toEqual({ n: 2, N: 10 });
  });
  it("parses a distribution", () => {
    const d = parseDistribution({
      run: "r", tag: "per_sample_loss", count: 10, reduced: true, method: "bands",
      quantile_probs: [0, 0.5, 1], steps: [0, 5], step_ends: [4, 9],
      min: [0, "-Infinity"], max: [1, 2], mean: [0.5, "NaN"],
      quantiles: [[0, 0.1], [0.5, 0.6], [1, 2]],
      heatmap: { edges: [0, 1, 2], counts: [[3, 2], [0, 5]] },
    });
    expect(d.probs).toEqual([0, 0.5, 1]);
    expect(Array.from(d.stepEnds)).toEqual([4, 9]);
    expect(d.min[1]).toBe(-Infinity);
    expect(d.mean[1]).toBeNaN();
    expect(Array.from(d.quantiles[2])).toEqual([1, 2]);
    expect(d.counts).toEqual([[3, 2], [0, 5]]);
  });
  it("reads a binary distribution as the JSON one", () => {
    // The layout of docs/http_api.md, written by hand: uint32 n, JSON, zeros to 8, arrays.
    const arrays: [string, string, number[], number[]][] = [
      ["steps", "f8", [2], [0, 5]], ["step_ends", "f8", [2], [4, 9]],
      ["min", "f8", [2], [0, -Infinity]], ["max", "f8", [2], [1, 2]], ["mean", "f8", [2], [0.5, NaN]],
      ["quantiles", "f8", [3, 2], [0, 0.1, 0.5, 0.6, 1, 2]], ["heatmap_counts", "f4", [2, 2], [3, 2, 0, 5.5]],
    ];
    let offset = 0;
    const meta = arrays.map(([name, dtype, shape, values]) => {
      const m = { name, dtype, shape, offset };
      offset += Math.ceil((values.length * (dtype === "f4" ? 4 : 8)) / 8) * 8;
      return m;
    });
    const header = new TextEncoder().encode(JSON.stringify({
      run: "r", tag: "per_sample_loss", count: 10, reduced: true, method: "bands", quantile_probs: [0, 0.5, 1],
      heatmap: { edges: [0, 1, 2] }, sampled: null, arrays: meta,
    }));
    const base = Math.ceil((4 + header.length) / 8) * 8;
    const buf = new ArrayBuffer(base + offset);
    new DataView(buf).setUint32(0, header.length, true);
    new Uint8Array(buf, 4).set(header);
    arrays.forEach(([, dtype, , values], i) => {
      const Ctor = dtype === "f4" ? Float32Array : Float64Array;
      new Ctor(buf, base + meta[i].offset, values.length).set(values);
    });
    expect(decodeBinary(buf).arrays.quantiles.shape).toEqual([3, 2]);
    const d = parseDistributionBinary(buf);
    expect(d.probs).toEqual([0, 0.5, 1]);
    expect(Array.from(d.stepEnds)).toEqual([4, 9]);
    expect(d.min[1]).toBe(-Infinity);
    expect(d.mean[1]).toBeNaN();
    expect(Array.from(d.quantiles[2])).toEqual([1, 2]);
    expect(d.counts).toEqual([[3, 2], [0, 5.5]]);
    expect(d.edges).toEqual([0, 1, 2]);
  });
  it("parses a step", () => {
    const s = parseStep({
      run: "r", step: 7, wall_time: 1.7e9, found: true, scalars: { loss: "NaN", acc: 0.5 },
      distributions: { p: { count: 4, nan_count: 1, posinf_count: 0, neginf_count: 0, min: 0, max: 1, mean: 0.5, std: "NaN",
        quantile_probs: [0, 1], quantiles: [0, 1], bin_edges: [0, 1], histogram: [3] } },
      prev_step: 6, next_step: null,
    });
    expect(s.scalars.loss).toBeNaN();
    expect(s.distributions.p.std).toBeNaN();
    expect(s.next_step).toBeNull();
    expect(s.prev_step).toBe(6);
  });
  it("builds URLs relative to the plugin base", () => {
    const u = apiUrl("series", { run: "a&b", tag: "loss", width: 400, start: undefined }, "http://h:1/data/plugin/tb_batch/");
    expect(u).toBe("http://h:1/data/plugin/tb_batch/series?run=a%26b&tag=loss&width=400");
  });
});

describe("parseNum / toF64", () => {
  it("reads the API's non-finite strings", () => {
    expect(parseNum("NaN")).toBeNaN();
    expect(parseNum("Infinity")).toBe(Infinity);
    expect(parseNum("-Infinity")).toBe(-Infinity);
    expect(parseNum(1.5)).toBe(1.5);
    expect(parseNum(null)).toBeNaN();
    expect(parseNum("garbage")).toBeNaN();
    expect(parseNum("2.5")).toBe(2.5);
  });
  it("converts arrays to Float64Array", () => {
    const a = toF64([1, "NaN", "Infinity", "-Infinity", 0]);
    expect(a).toBeInstanceOf(Float64Array);
    expect(Array.from(a)).toEqual([1, NaN, Infinity, -Infinity, 0]);
    expect(toF64(null).length).toBe(0);
  });
});

describe("API: new fields", () => {
  it("parses anomalies with scores, jumps and counts", () => {
    const a = parseAnomalies({
      run: "r", threshold: 6, min_jump: 0.2, warmup: 25, window: 25,
      series: [{ tag: "loss", source: "tb_batch", points: 10, spread: 1, spike: 1, nan: 1, inf: 0, "-inf": 0 }],
      anomalies: [{ tag: "loss", source: "tb_batch", step: 3, value: "NaN", kind: "nan", score: null, jump: null, level: null },
        { tag: "loss", step: 5, value: 9, kind: "spike", score: 23.5, jump: 8, level: 1 }],
    });
    expect(a.anomalies.map((x) => [x.run, x.kind, x.score, x.jump])).toEqual([["r", "nan", null, null], ["r", "spike", 23.5, 8]]);
    expect(a.anomalies[0].value).toBeNaN();
    expect(a.series[0].spike).toBe(1);
  });
  it("parses anomalies' kinds, batch scores, shares, stretches, evaluations and the run's counts", () => {
    const a = parseAnomalies({
      run: "v", threshold: 6, min_jump: 0.2, warmup: 25, window: 25, batch_scored: true,
      series: [{ tag: "loss", source: "tb_batch", points: 300, spread: 1.4, spike: 1, samples: 10, gradient: 0, learning_rate: 0, nan: 0, inf: 0, "-inf": 0 }],
      counts: { spike: 1, samples: 10, gradient: 0, learning_rate: 0, nan: 0, inf: 0, "-inf": 0 },
      anomalies: [
        { tag: "loss", source: "tb_batch", step: 239, value: 3.09, kind: "samples", score: 24.2, jump: 2.8, level: 0.27,
          batch_score: 5.8, share: 0.41, evaluation: { train_step: 900, epoch: 19, batch: 11 } },
        { tag: "loss", step: 721, value: 2.6, kind: "spike", score: 13.6, jump: 2.3, level: 0.3, batch_score: 13.6,
          first_step: 721, last_step: 722, evaluation: null },
      ],
    });
    expect(a.batch_scored).toBe(true);
    expect(a.counts!.samples).toBe(10);
    expect(a.series[0]).toMatchObject({ tag: "loss", points: 300, samples: 10, spread: 1.4 });
    expect(a.anomalies[0]).toMatchObject({ kind: "samples", batch_score: 5.8, share: 0.41, evaluation: { train_step: 900, epoch: 19, batch: 11 } });
    expect(a.anomalies[1]).toMatchObject({ first_step: 721, last_step: 722, evaluation: null });
  });
  it("parses an older server's anomalies: no kinds' counts, no batch scores", () => {
    const a = parseAnomalies({ run: "r", threshold: 6, series: [{ tag: "loss", points: 5, spike: 2, nan: 0, inf: 0, "-inf": 0 }],
      anomalies: [{ tag: "loss", step: 5, value: 9, kind: "spike", score: 23.5, jump: 8, level: 1 }] });
    expect([a.batch_scored, a.counts]).toEqual([false, null]);
    expect(a.series[0]).toMatchObject({ spike: 2, samples: 0, gradient: 0, learning_rate: 0 });
    expect(a.anomalies[0].batch_score).toBeUndefined();
    expect(a.anomalies[0].evaluation).toBeUndefined();
  });
  it("parses a step's evaluation", () => {
    const s = parseStep({ run: "v", step: 3, found: true, scalars: {}, distributions: {}, prev_step: 2, next_step: 4,
      evaluation: { first_step: 0, last_step: 37, count: 38, train_step: 45, epoch: 0 } });
    expect(s.evaluation!.train_step).toBe(45);
    expect(parseStep({ run: "v", step: 3, found: false }).evaluation).toBeNull();
  });
});
