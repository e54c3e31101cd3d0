import { describe, expect, it } from "vitest";
import { apiUrl, decodeBinary, parseDistribution, parseDistributionBinary, parseSeries, parseStep } from "../src/api";
import { IPC } from "../src/ipc";

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

describe("IPC (TensorBoard plugin protocol)", () => {
  const pair = () => {
    const ch = new MessageChannel();
    const guest = new IPC(ch.port1 as unknown as MessagePort);
    const host = ch.port2;
    const got: any[] = [];
    host.onmessage = (e: MessageEvent) => got.push(JSON.parse(e.data as string));
    return { ch, guest, host, got };
  };
  const tick = () => new Promise((r) => setTimeout(r, 20));

  it("replies to host broadcasts such as DataReloaded", async () => {
    const { ch, guest, host, got } = pair();
    let calls = 0;
    guest.listen("experimental.DataReloaded", () => { calls++; return null; });
    host.postMessage(JSON.stringify({ type: "experimental.DataReloaded", id: 3, payload: null, error: null, isReply: false }));
    await tick();
    expect(calls).toBe(1);
    expect(got).toEqual([{ type: "experimental.DataReloaded", id: 3, payload: null, error: null, isReply: true }]);
    ch.port1.close();
    ch.port2.close();
  });
  it("replies even to unknown types (the host awaits every reply)", async () => {
    const { ch, host, got } = pair();
    host.postMessage(JSON.stringify({ type: "experimental.Other", id: 1, payload: 5, error: null, isReply: false }));
    await tick();
    expect(got[0].isReply).toBe(true);
    expect(got[0].id).toBe(1);
    ch.port1.close();
    ch.port2.close();
  });
  it("sends requests and resolves replies", async () => {
    const { ch, guest, host, got } = pair();
    const p = guest.send("experimental.GetRuns");
    await tick();
    expect(got[0]).toMatchObject({ type: "experimental.GetRuns", isReply: false, error: null });
    host.postMessage(JSON.stringify({ type: "experimental.GetRuns", id: got[0].id, payload: ["a"], error: null, isReply: true }));
    await expect(p).resolves.toEqual(["a"]);
    ch.port1.close();
    ch.port2.close();
  });
  it("rejects on an error reply and ignores garbage", async () => {
    const { ch, guest, host, got } = pair();
    const p = guest.send("x");
    host.postMessage("not json {");
    await tick();
    host.postMessage(JSON.stringify({ type: "x", id: got[0].id, payload: null, error: "nope", isReply: true }));
    await expect(p).rejects.toThrow("nope");
    ch.port1.close();
    ch.port2.close();
  });
});
