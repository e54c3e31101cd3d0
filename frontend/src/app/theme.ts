// Follows TensorBoard's light/dark theme (see model/colors.ts for where TensorBoard keeps it):
// the plugin's iframe gets no theme from TensorBoard, but it is same-origin, so it can read
// TensorBoard's page (the "dark-mode" class on its body, watched for changes) and its stored
// setting (localStorage "_tb_global_settings", whose changes arrive as `storage` events), with
// the browser's prefers-color-scheme as the last word. The charts' colours are the page's CSS
// variables of that theme.
import { resolveDark, themeFromSettings } from "../model/colors";
import type { Theme } from "../model/settings";
import { cssVar } from "../ui/dom";

export const TB_SETTINGS_KEY = "_tb_global_settings";

/** TensorBoard's page body, when this frame is inside TensorBoard and may read it. */
function hostBody(): HTMLElement | null {
  try {
    const p = window.parent;
    if (!p || p === window) return null;
    const d = p.document;
    return d.querySelector("tb-webapp") ? d.body : null;
  } catch {
    return null; // cross-origin
  }
}

function prefersDark(): boolean {
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

function storedChoice() {
  try {
    return themeFromSettings(localStorage.getItem(TB_SETTINGS_KEY));
  } catch {
    return null;
  }
}

export function currentDark(): boolean {
  const body = hostBody();
  return resolveDark(body ? body.classList.contains("dark-mode") : null, storedChoice(), prefersDark());
}

/** Sets the document's theme and calls `onChange(dark)` whenever it changes. */
export function followTheme(onChange: (dark: boolean) => void): boolean {
  let dark = currentDark();
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  const check = () => {
    const d = currentDark();
    if (d === dark) return;
    dark = d;
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    onChange(dark);
  };
  const body = hostBody();
  if (body && typeof MutationObserver === "function") {
    new MutationObserver(check).observe(body, { attributes: true, attributeFilter: ["class"] });
  }
  window.addEventListener("storage", (e) => { if (e.key === null || e.key === TB_SETTINGS_KEY) check(); });
  matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", check);
  return dark;
}

/** The theme's colours (the CSS variables of style.css), and whether it is dark. */
export function readTheme(dark: boolean): Theme {
  return {
    fg: cssVar("--tbb-fg") || "#222",
    muted: cssVar("--tbb-muted") || "#666",
    grid: cssVar("--tbb-grid") || "rgba(0,0,0,0.08)",
    bg: cssVar("--tbb-bg") || "#fff",
    bad: cssVar("--tbb-bad") || "#d00",
    dark,
  };
}
