// The floating tooltip of the charts: one element for the page, placed next to the pointer and
// kept inside the chart's card (model/tip-place.ts); its rows are model/tip-rows.ts's, by value
// or as the chart lists them (a setting). Text goes through textContent only.
import { insideBox, placeTip } from "../model/tip-place";
import { sortTipRows, TipRow } from "../model/tip-rows";
import { clear, h, swatch } from "./dom";

let el: HTMLDivElement | null = null;
/** rows by value, highest first (else in the chart's order: the runs') */
let byValue = true;

/** The tooltip's row order (the "tooltip by value" setting). */
export function setTipByValue(on: boolean): void {
  byValue = on;
}

function tipEl(): HTMLDivElement {
  if (!el) {
    el = h("div", { class: "tbb-tip", role: "tooltip", hidden: true });
    document.body.append(el);
  }
  return el;
}

/** Shows `rows` (by value, highest first, NaN last; or as given) under a title at client (x, y),
 * inside the card under the pointer (else the window). */
export function showTip(x: number, y: number, title: string, rows: readonly TipRow[], footer = ""): void {
  const t = tipEl();
  clear(t);
  t.append(h("div", { class: "tbb-tip-title", text: title }));
  const tb = h("tbody");
  for (const r of byValue ? sortTipRows(rows) : rows) {
    tb.append(h("tr", { "data-label": r.label },
      h("td", {}, swatch(r.color)),
      h("td", { class: "tbb-tip-name", text: r.label }),
      h("td", { class: "tbb-num" + (r.bad ? " tbb-bad" : ""), text: r.text }),
      h("td", { class: "tbb-num tbb-muted", text: r.note ?? "" }),
    ));
  }
  t.append(h("table", {}, tb));
  if (footer) t.append(h("div", { class: "tbb-tip-foot", text: footer }));
  const win = { left: 0, top: 0, right: document.documentElement.clientWidth, bottom: document.documentElement.clientHeight };
  const card = document.elementFromPoint(x, y)?.closest(".tbb-card")?.getBoundingClientRect();
  const box = insideBox(card ?? win, win);
  // as wide as the card at most: its rows wrap rather than cover the neighbouring chart
  t.style.maxWidth = `${Math.min(560, Math.max(200, box.right - box.left))}px`;
  t.hidden = false;
  const { left, top } = placeTip(x, y, t.offsetWidth, t.offsetHeight, box);
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
