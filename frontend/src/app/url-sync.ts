// The tab's state in TensorBoard's URL (model/url-state.ts). The plugin runs in an iframe whose
// own URL TensorBoard sets (`data/plugin_entry.html?name=tb_batch`, anew on every load), so its
// hash would neither survive a reload nor be in a copied link; the top frame is same-origin and
// TensorBoard keeps its hash (`#tb_batch`) as `plugin&key=value` components (tf_storage), through
// reloads and history. So the state goes there as `tbb.*` components: a view, zoom or open step
// is a new history entry (back/forward walk through them), any other change replaces the
// current one. The last state is also kept in sessionStorage: TensorBoard's hash says only
// `#scalars` while another tab is shown, and `#tb_batch` when it comes back.
import type { Settings } from "../model/settings";
import { decodeHash, encodeHash, isNavigation, type UrlState } from "../model/url-state";
import { debounce } from "../ui/dom";

const KEY = "tb_batch:url";

export interface UrlHost {
  readonly settings: Settings;
  /** the state shown now */
  urlState(): UrlState;
  /** back/forward (or an edited hash): show this view, zoom and open step */
  navigate(s: UrlState): void;
}

/** The window whose hash is the shared URL: TensorBoard's page (same origin), else this one. */
function topWindow(): Window {
  try {
    const w = window.top;
    if (w && w !== window && typeof w.location.hash === "string") return w;
  } catch {
    /* another origin: the plugin's own page */
  }
  return window;
}

export class UrlSync {
  private readonly win = topWindow();
  private readonly plugin = new URLSearchParams(location.search).get("name") ?? "tb_batch";
  private written: UrlState | null = null;
  private appliedHash = "";

  constructor(private readonly host: UrlHost) {
    const onNav = () => this.onNavigate();
    this.win.addEventListener("popstate", onNav);
    this.win.addEventListener("hashchange", onNav);
    // TensorBoard may drop the iframe: its listeners on TensorBoard's page go with it
    window.addEventListener("pagehide", () => {
      this.win.removeEventListener("popstate", onNav);
      this.win.removeEventListener("hashchange", onNav);
    });
  }

  /** The state to open with: the URL's, else this browser tab's last (back from another tab). */
  initial(): UrlState | null {
    const s = decodeHash(this.win.location.hash, this.plugin, this.host.settings);
    if (s) return s;
    try {
      return decodeHash(sessionStorage.getItem(KEY) ?? "", this.plugin, this.host.settings);
    } catch {
      return null;
    }
  }

  /** The state changed: written to the URL shortly (one entry for a burst of changes). */
  readonly changed = debounce(() => this.write(), 200);

  private write(): void {
    const cur = this.win.location.hash;
    if (!this.ours(cur)) return; // TensorBoard shows another tab
    const state = this.host.urlState();
    const hash = encodeHash(this.plugin, state, cur);
    this.remember(hash);
    if (hash === cur) return;
    const url = this.win.location.pathname + this.win.location.search + hash;
    const push = this.written !== null && decodeHash(cur, this.plugin, this.host.settings) !== null && isNavigation(this.written, state);
    this.appliedHash = hash;
    if (push) this.win.history.pushState(this.win.history.state, "", url);
    else this.win.history.replaceState(this.win.history.state, "", url);
    this.written = state;
  }

  private onNavigate(): void {
    const hash = this.win.location.hash;
    if (!this.ours(hash) || hash === this.appliedHash) return;
    this.appliedHash = hash;
    const s = decodeHash(hash, this.plugin, this.host.settings);
    // `#tb_batch` alone: TensorBoard came back to this tab; the URL gets the state shown
    if (!s) { this.write(); return; }
    this.written = s;
    this.remember(hash);
    this.host.navigate(s);
  }

  private ours(hash: string): boolean {
    const p = hash.replace(/^#/, "").split("&")[0];
    return p === this.plugin || (p === "" && this.win === window);
  }

  private remember(hash: string): void {
    try {
      sessionStorage.setItem(KEY, hash);
    } catch {
      /* no storage: the URL alone */
    }
  }
}
