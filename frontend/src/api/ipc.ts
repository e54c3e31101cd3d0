// The guest side of TensorBoard's dynamic-plugin IPC, reimplemented (TensorBoard's
// plugin_util bundle is not published as a package). The guest opens a MessageChannel and posts
// "experimental.bootstrap" with one port to the parent window; then both sides exchange
// JSON-encoded messages {type, id, payload, error, isReply} over the port. The host broadcasts
// "experimental.DataReloaded" after each reload and "experimental.RunsChanged" with the run
// names, and waits for a reply to each.

export interface Message {
  type: string;
  id: number;
  payload: unknown;
  error: string | null;
  isReply: boolean;
}

export type Listener = (payload: unknown) => unknown;

interface Wait {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class IPC {
  private nextId = 0;
  private readonly waits = new Map<number, Wait>();
  private readonly listeners = new Map<string, Listener>();

  constructor(private readonly port: MessagePort) {
    port.addEventListener("message", (ev: MessageEvent) => void this.onMessage(ev.data));
    port.start();
  }

  listen(type: string, cb: Listener): void {
    this.listeners.set(type, cb);
  }

  unlisten(type: string): void {
    this.listeners.delete(type);
  }

  send(type: string, payload: unknown = null, timeoutMs = 5000): Promise<unknown> {
    const id = this.nextId++;
    this.post({ type, id, payload, error: null, isReply: false });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waits.delete(id);
        reject(new Error(`IPC ${type}: no reply`));
      }, timeoutMs);
      this.waits.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  private post(m: Message): void {
    this.port.postMessage(JSON.stringify(m));
  }

  private async onMessage(data: unknown): Promise<void> {
    let m: Message;
    try {
      m = (typeof data === "string" ? JSON.parse(data) : data) as Message;
    } catch {
      return;
    }
    if (!m || typeof m.type !== "string") return;
    if (m.isReply) {
      const w = this.waits.get(m.id);
      if (!w) return;
      this.waits.delete(m.id);
      if (m.error) w.reject(new Error(String(m.error)));
      else w.resolve(m.payload);
      return;
    }
    let payload: unknown = null;
    let error: string | null = null;
    const cb = this.listeners.get(m.type);
    if (cb) {
      try {
        payload = (await cb(m.payload)) ?? null;
      } catch (e) {
        error = String((e as Error)?.message ?? e);
      }
    }
    this.post({ type: m.type, id: m.id, payload, error, isReply: true });
  }
}

/** Connects to the TensorBoard host; null when the page is not inside a frame. */
export function connectToHost(win: Window = window): IPC | null {
  if (!win.parent || win.parent === win) return null;
  const ch = new MessageChannel();
  const ipc = new IPC(ch.port1);
  win.parent.postMessage("experimental.bootstrap", "*", [ch.port2]);
  return ipc;
}

export const MSG_DATA_RELOADED = "experimental.DataReloaded";
export const MSG_RUNS_CHANGED = "experimental.RunsChanged";
export const MSG_GET_RUNS = "experimental.GetRuns";
