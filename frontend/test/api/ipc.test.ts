// The guest side of TensorBoard's dynamic-plugin IPC (src/api/ipc.ts).
import { describe, expect, it } from "vitest";
import { IPC } from "../../src/api/ipc";

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
