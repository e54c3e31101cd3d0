// The toolbar's chart size control (small, medium, large) and heatmap colour control (log count,
// per step, by rank): settings kept with the others.
import { CHART_SIZES, chartSizeOf } from "../model/chart-size";
import { heatNormOf } from "../model/heat-norm";
import type { Settings } from "../model/settings";
import { settingSelect } from "./setting-select";

type Host = { readonly settings: Settings; settingChanged(recreate: boolean): void };

export function chartSizeSelect(host: Host): HTMLSelectElement {
  return settingSelect(host, {
    key: "chartSize", label: "Chart size", title: "Height of the charts", valid: chartSizeOf,
    options: CHART_SIZES.map((s) => ({ value: s, text: `size: ${s}` })),
  });
}

export function heatNormSelect(host: Host): HTMLSelectElement {
  return settingSelect(host, {
    key: "heatNorm", label: "Heatmap colours", valid: heatNormOf,
    title: "How bin counts become colours: log count over all runs, each step on its own scale, or a bin's rank (colours spread evenly over the data)",
    options: [
      { value: "log", text: "heat: log count" }, { value: "step", text: "heat: per step" }, { value: "quantile", text: "heat: by rank" },
    ],
  });
}
