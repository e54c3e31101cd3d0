// Tiny DOM helpers. Text always goes through textContent: run names and tags come from the
// log directory and are never parsed as HTML.

type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/** A small square of a run's colour. */
export function swatch(color: string): HTMLSpanElement {
  return h("span", { class: "tbb-swatch", style: `background:${color}` });
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function cssVar(name: string, el: Element = document.documentElement): string {
  return getComputedStyle(el).getPropertyValue(name).trim();
}

export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let t: ReturnType<typeof setTimeout> | null = null;
  return (...a: A) => {
    if (t) clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn(...a);
    }, ms);
  };
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Small line icons (inline SVG: no icon font, no request). */
const ICONS: Record<string, string> = {
  pin: "M9 2h6l-1 6 3 3v2h-4.5v7l-.5 1-.5-1v-7H7v-2l3-3z",
  full: "M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5",
  exit: "M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5",
};

export function icon(name: keyof typeof ICONS | string): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", ICONS[name] ?? "");
  p.setAttribute("fill", name === "pin" ? "currentColor" : "none");
  p.setAttribute("stroke", "currentColor");
  p.setAttribute("stroke-width", "2");
  p.setAttribute("stroke-linejoin", "round");
  svg.append(p);
  return svg;
}

/**
 * Copies text to the clipboard. TensorBoard's plugin iframe may not be allowed to write the
 * clipboard (no `clipboard-write` permission): then an input holding the text is put after
 * `near`, selected (Ctrl+C copies it), and "selected" is returned. Removed when it loses focus.
 */
export async function copyText(text: string, near: HTMLElement): Promise<"copied" | "selected"> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return "copied";
    }
  } catch { /* blocked: select it instead */ }
  near.parentElement?.querySelectorAll(".tbb-copy-input").forEach((e) => e.remove());
  const input = h("input", {
    type: "text", class: "tbb-input tbb-copy-input", readonly: true, spellcheck: "false",
    size: Math.min(48, text.length + 1), "aria-label": "Press Ctrl+C to copy",
  });
  input.value = text;
  input.addEventListener("blur", () => input.remove());
  near.after(input);
  input.focus({ preventScroll: true });
  input.select();
  let copied = false;
  try { copied = document.execCommand("copy"); } catch { copied = false; }
  if (copied) {
    input.remove();
    return "copied";
  }
  input.title = "Press Ctrl+C to copy";
  return "selected";
}

/** A small button that copies `text()` and says so for a moment. */
export function copyButton(text: () => string, label: string, title: string): HTMLButtonElement {
  const b = h("button", { type: "button", class: "tbb-linkbtn tbb-small tbb-copy", text: label, title, "data-action": "copy" });
  b.addEventListener("click", async (e) => {
    e.stopPropagation();
    const how = await copyText(text(), b);
    b.textContent = how === "copied" ? "copied" : "Ctrl+C";
    b.dataset.copied = how;
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}
