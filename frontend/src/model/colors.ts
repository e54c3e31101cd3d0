// Run colours and the theme: pure functions (test/model/colors.test.ts).
//
// Colours: TensorBoard's own default palette (its settings store, "colorPalette" id "default":
// a light and a dark hex per colour) in TensorBoard's own order of runs (its `data/runs` list,
// sorted by the runs' start times, then by name): TensorBoard's Time Series gives the i-th run
// of that list palette colour i mod 7, so a run has the same colour here as there, in every
// browser and on every load. A user's choice for a run overrides it (kept in this browser).
//
// Theme: TensorBoard keeps its light/dark choice in localStorage "_tb_global_settings"
// ({"theme": "browser_default" | "light" | "dark"}, same origin as the plugin's iframe) and
// shows it as the class "dark-mode" on its document's body; "browser_default" follows
// prefers-color-scheme.

export interface PaletteColor {
  name: string;
  light: string;
  dark: string;
}

/** TensorBoard 2.x's default run palette (webapp settings, colorPalette "default"). */
export const TB_PALETTE: readonly PaletteColor[] = [
  { name: "Slate", light: "#425066", dark: "#8e98a3" },
  { name: "Cyan", light: "#12b5cb", dark: "#12b5cb" },
  { name: "Pink", light: "#e52592", dark: "#e52592" },
  { name: "Yellow", light: "#f9ab00", dark: "#f9ab00" },
  { name: "Purple", light: "#9334e6", dark: "#9334e6" },
  { name: "Light Green", light: "#7cb342", dark: "#7cb342" },
  { name: "Orange", light: "#e8710a", dark: "#e8710a" },
];

/**
 * Palette index of every run: its position in TensorBoard's run list (`tbOrder`), so that it
 * matches TensorBoard's Time Series; runs TensorBoard does not list (or every run, when its list
 * is unavailable) follow it in name order.
 */
export function runColorIndex(runs: readonly string[], tbOrder: readonly string[] | null): Record<string, number> {
  const out: Record<string, number> = {};
  const pos = new Map<string, number>();
  (tbOrder ?? []).forEach((r, i) => { if (!pos.has(r)) pos.set(r, i); });
  let next = pos.size;
  for (const r of [...runs].sort()) {
    out[r] = pos.has(r) ? pos.get(r)! : next++;
  }
  return out;
}

export const isHexColor = (s: unknown): s is string => typeof s === "string" && /^#[0-9a-f]{6}$/i.test(s);

/** The colour of every run: a valid user override, else TensorBoard's palette colour. */
export function runColors(
  runs: readonly string[],
  tbOrder: readonly string[] | null,
  overrides: Readonly<Record<string, string>>,
  dark: boolean,
  palette: readonly PaletteColor[] = TB_PALETTE,
): Record<string, string> {
  const idx = runColorIndex(runs, tbOrder);
  const out: Record<string, string> = {};
  for (const r of runs) {
    const o = overrides[r];
    const p = palette[idx[r] % palette.length];
    out[r] = isHexColor(o) ? o.toLowerCase() : dark ? p.dark : p.light;
  }
  return out;
}

export type ThemeChoice = "light" | "dark" | null;

/** TensorBoard's stored theme choice from the JSON of localStorage "_tb_global_settings"
 * (null: browser default, missing or unreadable). */
export function themeFromSettings(json: string | null | undefined): ThemeChoice {
  if (!json) return null;
  try {
    const t = JSON.parse(json)?.theme;
    return t === "dark" || t === "light" ? t : null;
  } catch {
    return null;
  }
}

/**
 * Dark or not: TensorBoard's own page when it can be read (the "dark-mode" class it puts on its
 * body: its effective choice), else its stored choice, else the browser's preference.
 */
export function resolveDark(hostDark: boolean | null, stored: ThemeChoice, prefersDark: boolean): boolean {
  if (hostDark !== null) return hostDark;
  if (stored !== null) return stored === "dark";
  return prefersDark;
}

/** "#rrggbb" with an alpha, as rgba(). */
export function withAlpha(hex: string, a: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}
