// The toolbar's chart size control (small, medium, large): a setting kept with the others; a
// change rebuilds the cards at their new height.
import { CHART_SIZES, ChartSize, chartSizeOf } from "../model/chart-size";
import type { Settings } from "../model/settings";
import { h } from "../ui/dom";

export function chartSizeSelect(host: { readonly settings: Settings; settingChanged(recreate: boolean): void }): HTMLSelectElement {
  const select = h("select", { class: "tbb-input", "aria-label": "Chart size", title: "Height of the charts" },
    ...CHART_SIZES.map((s: ChartSize) => h("option", { value: s, text: `size: ${s}` })));
  select.value = host.settings.chartSize;
  select.addEventListener("change", () => {
    host.settings.chartSize = chartSizeOf(select.value);
    host.settingChanged(true);
  });
  return select;
}
