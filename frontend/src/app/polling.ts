// Keeping the runs current: the `runs` route is read at start, after TensorBoard's reloads (its
// IPC messages, and again a little later), and every few seconds while the page is visible and
// no chart loads (every second while the server says it is indexing: runs are being added); the
// app hears of it only when the answer changed (or a reload was asked).
import { fetchRuns } from "../api/client";
import { connectToHost, IPC, MSG_DATA_RELOADED, MSG_RUNS_CHANGED } from "../api/ipc";
import type { RunsResponse } from "../api/types";
import { debounce } from "../ui/dom";

/** How often `runs` is polled while the page is visible (a small JSON; charts reload only when
 * it changed). */
export const POLL_MS = 5000;
/** How soon `runs` is read again while the server says `indexing` (runs are being added). */
export const INDEXING_POLL_MS = 1000;

export interface PollingHost {
  /** new runs (`first`: the first answer; `force`: a reload was asked) */
  runsChanged(res: RunsResponse, first: boolean, force: boolean): void;
  /** the runs could not be read (or not applied) */
  failed(message: string): void;
  /** some chart is loading: polling waits */
  loading(): boolean;
}

export class RunPolling {
  private ipc: IPC | null = null;
  /** the last answer, as JSON ("" before the first) */
  private signature = "";
  /** the next read while the server indexes, if one is due */
  private indexingTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly host: PollingHost) {}

  start(): void {
    this.ipc = connectToHost();
    // The server re-reads the log directory at most about once a second: ask again a little
    // later, so that data written just before TensorBoard's reload is not missed.
    const again = debounce(() => void this.reload(), 1500);
    const reload = debounce(() => { void this.reload(); again(); }, 300);
    this.ipc?.listen(MSG_DATA_RELOADED, () => { reload(); return null; });
    this.ipc?.listen(MSG_RUNS_CHANGED, () => { reload(); return null; });
    void this.reload();
    // a growing run advances on its own: a cheap `runs` request while the page is visible
    setInterval(() => {
      if (document.visibilityState === "visible" && !this.host.loading()) void this.reload();
    }, POLL_MS);
  }

  /** Re-reads the runs; the app hears of them when anything changed (or when `force`). */
  async reload(force = false): Promise<void> {
    try {
      const first = this.signature === "";
      const res = await fetchRuns();
      if (res.indexing && this.indexingTimer === null) {
        this.indexingTimer = setTimeout(() => { this.indexingTimer = null; void this.reload(); }, INDEXING_POLL_MS);
      }
      const sig = JSON.stringify(res);
      if (!force && sig === this.signature) return;
      this.signature = sig;
      this.host.runsChanged(res, first, force);
    } catch (e) {
      this.host.failed(`Could not load runs: ${(e as Error).message}`);
    }
  }
}
