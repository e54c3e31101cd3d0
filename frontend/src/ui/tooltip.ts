// The floating tooltip of the charts: one element for the page, placed next to the pointer and
// kept inside the window; its rows are model/tip-rows.ts's. Text goes through textContent only.
import { sortTipRows, TipRow } from "../model/tip-rows";
import { clear, h, swatch } from "./dom";

let el: HTMLDivElement | null = null;

function tipEl(): HTMLDivElement {
  if (!el) {
    el = h("div", { class: "tbb-tip", role: "tooltip", hidden: true });
    document.body.append(el);
  }
  return el;
}

/** Shows `rows` (sorted by value, highest first; NaN last) under a title at client (x, y). */
export function showTip(x: number, y: number, title: string, rows: readonly TipRow[], footer = ""): void {
  const t = tipEl();
  clear(t);
  t.append(h("div", { class: "tbb-tip-title", text: title }));
  const tb = h("tbody");
  for (const r of sortTipRows(rows)) {
    tb.append(h("tr", { "data-label": r.label },
      h("td", {}, swatch(r.color)),
      h("td", { class: "tbb-tip-name", text: r.label }),
      h("td", { class: "tbb-num" + (r.bad ? " tbb-bad" : ""), text: r.text }),
      h("td", { class: "tbb-num tbb-muted", text: r.note ?? "" }),
    ));
  }
  t.append(h("table", {}, tb));
  if (footer) t.append(h("div", { class: "tbb-tip-foot", text: footer }));
  t.hidden = false;
  const w = t.offsetWidth, hh = t.offsetHeight;
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  let left = x + 16, top = y + 14;
  if (left + w > vw - 4) left = Math.max(4, x - w - 16);
  if (top + hh > vh - 4) top = Math.max(4, y - hh - 14);
  t.style.left = `${left}px`;
  t.style.top = `${top}px`;
}

export function hideTip(): void {
  if (el) el.hidden = true;
}

export function tipRows(): { label: string; text: string }[] {
  if (!el || el.hidden) return [];
  return Array.from(el.querySelectorAll("tr")).map((tr) => ({
    label: tr.dataset.label ?? "",
    text: (tr.children[2] as HTMLElement).textContent ?? "",
  }));
}
