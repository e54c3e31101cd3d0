// Menus close as in TensorBoard: Esc closes every open menu (the help panel, a card's CSV menu,
// any `details.tbb-menu`) before anything else listens to it (the drill-down and full screen
// close on the next Esc), and a click outside an open menu closes it. Installed once per page.

/** Open panels that close with Esc (and not on a click elsewhere): marked `data-closable`. */
const PANELS = "[data-closable]:not([hidden])";
const MENUS = "details.tbb-menu[open]";

let installed = false;

export function installMenuKeys(doc: Document = document): void {
  if (installed) return;
  installed = true;
  // capturing: runs before the document's other keydown listeners, which it then stops
  doc.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const menus = Array.from(doc.querySelectorAll<HTMLDetailsElement>(MENUS));
    const panels = Array.from(doc.querySelectorAll<HTMLElement>(PANELS));
    if (!menus.length && !panels.length) return;
    for (const m of menus) m.open = false;
    for (const p of panels) closePanel(p);
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  doc.addEventListener("mousedown", (e) => {
    const t = e.target as Node | null;
    for (const m of doc.querySelectorAll<HTMLDetailsElement>(MENUS)) if (!t || !m.contains(t)) m.open = false;
  }, true);
}

/** Hides a closable panel and tells its owner (a "close" event). */
export function closePanel(p: HTMLElement): void {
  p.hidden = true;
  p.dispatchEvent(new Event("close"));
}
