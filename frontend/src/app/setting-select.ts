// A toolbar control choosing one value of a setting (chart size, heatmap colours): kept with the
// other settings; a change rebuilds the cards.
import type { Settings } from "../model/settings";
import { h } from "../ui/dom";

type ChoiceKey = "chartSize" | "heatNorm";

export function settingSelect<K extends ChoiceKey>(
  host: { readonly settings: Settings; settingChanged(recreate: boolean): void },
  o: { key: K; label: string; title: string; options: readonly { value: Settings[K]; text: string }[]; valid: (v: unknown) => Settings[K] },
): HTMLSelectElement {
  const select = h("select", { class: "tbb-input", "aria-label": o.label, title: o.title },
    ...o.options.map((c) => h("option", { value: c.value, text: c.text })));
  select.value = host.settings[o.key];
  select.addEventListener("change", () => {
    host.settings[o.key] = o.valid(select.value);
    host.settingChanged(true);
  });
  return select;
}
