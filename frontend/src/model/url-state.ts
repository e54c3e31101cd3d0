// The tab's state as part of TensorBoard's URL: the view, x axis, zoom of each axis, open step,
// unchecked runs and the settings, written as `tbb.*` components of TensorBoard's own hash
// (`#tb_batch&tbb.view=dists&tbb.zoom=714..814`, the `&key=value` form TensorBoard's tf_storage
// keeps for its dashboards). Pure (test/model/url-state.test.ts).
import type { Range } from "./ranges";
import { DEFAULT_SETTINGS, settingsFrom, type Settings } from "./settings";

export interface UrlState {
  /** tab and x axis included */
  settings: Settings;
  zoom: Range | null;
  vzoom: Range | null;
  open: { run: string; step: number } | null;
  /** the runs left unchecked */
  off: string[];
}

/** The settings a URL carries, by key (the others stay this browser's). */
const KEYS: [string, keyof Settings][] = [
  ["view", "tab"], ["x", "xAxis"], ["log", "log"], ["smooth", "smoothing"], ["outliers", "outliers"],
  ["prefix", "byPrefix"], ["tags", "tagFilter"], ["group", "groupMode"], ["gregex", "groupRegex"],
  ["band", "band"], ["heat", "heatmaps"],
];

const P = "tbb.";
const enc = encodeURIComponent;

function rangeText(r: Range): string {
  return `${r.start}..${r.end}`;
}

function parseRange(s: string | undefined): Range | null {
  const m = /^(-?[\d.e+-]+)\.\.(-?[\d.e+-]+)$/.exec(s ?? "");
  if (!m) return null;
  const start = Number(m[1]), end = Number(m[2]);
  return Number.isFinite(start) && Number.isFinite(end) && start < end ? { start, end } : null;
}

/** The hash's components after the plugin's name (`tb_batch&a=1&b=2` → {a: "1", b: "2"}). */
function components(hash: string): { plugin: string; kv: Map<string, string> } {
  const parts = hash.replace(/^#/, "").split("&");
  const kv = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const i = p.indexOf("=");
    if (i <= 0) continue;
    try {
      kv.set(decodeURIComponent(p.slice(0, i)), decodeURIComponent(p.slice(i + 1)));
    } catch {
      /* a malformed escape: that component is ignored */
    }
  }
  return { plugin: parts[0], kv };
}

/** TensorBoard's hash with this state: the plugin's name, TensorBoard's other components kept,
 * then the state (only the settings that differ from the defaults). */
export function encodeHash(plugin: string, state: UrlState, current = ""): string {
  const { kv } = components(current);
  const out = [plugin];
  for (const [k, v] of kv) if (!k.startsWith(P)) out.push(`${enc(k)}=${enc(v)}`);
  const put = (k: string, v: string) => out.push(`${P}${k}=${enc(v)}`);
  const s = state.settings;
  for (const [k, key] of KEYS) {
    if (k === "view" || s[key] !== DEFAULT_SETTINGS[key]) put(k, typeof s[key] === "boolean" ? (s[key] ? "1" : "0") : String(s[key]));
  }
  if (state.zoom) put("zoom", rangeText(state.zoom));
  if (state.vzoom) put("vzoom", rangeText(state.vzoom));
  if (state.open) put("open", `${state.open.step}@${state.open.run}`);
  if (state.off.length) put("off", state.off.map(enc).join(","));
  return `#${out.join("&")}`;
}

/** The state of a hash of `plugin`; null when it is another plugin's or carries no state (no
 * `tbb.view`). Missing settings are the defaults over `base`'s other keys; bad values are dropped. */
export function decodeHash(hash: string, plugin: string, base: Settings): UrlState | null {
  const { plugin: p, kv } = components(hash);
  if (p !== plugin || !kv.has(`${P}view`)) return null;
  const raw: Record<string, unknown> = { ...base };
  for (const [k, key] of KEYS) {
    const v = kv.get(P + k);
    const d = DEFAULT_SETTINGS[key];
    if (v === undefined) raw[key] = d;
    else if (typeof d === "boolean") raw[key] = v === "1";
    else if (typeof d === "number") raw[key] = Number.isFinite(Number(v)) ? Number(v) : d;
    else raw[key] = v;
  }
  const open = /^(-?\d+)@(.+)$/.exec(kv.get(`${P}open`) ?? "");
  let off: string[] = [];
  try {
    off = (kv.get(`${P}off`) ?? "").split(",").filter(Boolean).map(decodeURIComponent);
  } catch {
    off = [];
  }
  return {
    settings: settingsFrom(raw as Partial<Settings>),
    zoom: parseRange(kv.get(`${P}zoom`)), vzoom: parseRange(kv.get(`${P}vzoom`)),
    open: open ? { run: open[2], step: Number(open[1]) } : null,
    off,
  };
}

/** Whether going from `a` to `b` is a move worth a history entry (another view, zoom or open
 * step); other changes (a setting, a step through the drill-down) replace the current one. */
export function isNavigation(a: UrlState, b: UrlState): boolean {
  const r = (x: Range | null) => (x ? rangeText(x) : "");
  return a.settings.tab !== b.settings.tab || r(a.zoom) !== r(b.zoom) || r(a.vzoom) !== r(b.vzoom) || !a.open !== !b.open || a.open?.run !== b.open?.run;
}
