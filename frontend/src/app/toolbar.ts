// The toolbar above the cards: the tabs (Steps, Distributions, Samples, Data Map), the x axis, the tag
// filter, the view settings (log y, outliers, smoothing, band, heatmaps), the zoom buttons, the
// range shown, the marked sample's chip, and the help. Each control writes a setting and asks
// the app to rebuild its views.
import { X_MODES } from "../model/settings";
import type { Settings, XMode } from "../model/settings";
import { panRange, Range, zoomRange } from "../model/ranges";
import { zoomModifier } from "../model/wheel";
import { debounce, h } from "../ui/dom";
import { chartSizeSelect, heatNormSelect } from "./choice-selects";
import { installMenuKeys } from "../ui/keys";
import { setTipByValue } from "../ui/tooltip";

export interface ToolbarHost {
  readonly settings: Settings;
  /** a setting changed: it is saved and the views rebuilt (`recreate`: every card anew) */
  settingChanged(recreate: boolean): void;
  /** the x axis changed: the views of every axis are reset */
  xAxisChanged(): void;
  /** the training axis' view becomes `f(current view, everything)` */
  zoomTrain(f: (cur: Range, full: Range) => Range | null): void;
  /** every axis shows all its steps */
  showAll(): void;
}

type BoolSetting = "log" | "outliers" | "byPrefix" | "heatmaps" | "tipByValue";

const HELP = [
  `Drag across a chart to zoom (Alt/Ctrl+drag: zoom y), ${zoomModifier(navigator.platform)}+wheel to zoom (the plain wheel scrolls the page), shift+wheel to pan, double-click to show all.`,
  "Esc closes the help, a menu, then the step panel; a click elsewhere closes a menu.",
  "Click a point to open that step; ←/→ step through it, Esc closes. The step's samples with the highest loss are listed there (copy a fingerprint: tbb.find(x, [fingerprint]) gives its row in your data).",
  "Samples: the samples that keep coming back among their batch's highest losses in the steps shown (click one: its steps are marked ▼ on the charts), the samples likely mislabelled, and each class's loss per step.",
  "Data Map (runs recorded with BatchStats(dynamics=True)): every sample's confidence against its variability over training, coloured by AUM (red: negative, likely mislabelled) or forgetting events; click one: its presentations, marked on the loss chart.",
  "Shaded band: each pixel column's min…max, no point is hidden. Carets on an edge: values beyond the y range.",
  "Validation runs with evaluation markers are drawn on the training axis: one band (min…max of its batches) and the mean per evaluation, at the step it ran. Without markers they get their own validation-batch axis.",
];

export class Toolbar {
  readonly root: HTMLElement;
  /** says when the tag filter is not a valid regex */
  readonly tagError: HTMLSpanElement;
  /** the marked sample (the app fills it) */
  readonly marksChip: HTMLSpanElement;
  private readonly rangeEl: HTMLSpanElement;
  private readonly tabButtons: Record<Settings["tab"], HTMLButtonElement>;
  private readonly stepsOnly: HTMLElement[];
  private readonly distsOnly: HTMLElement[];

  constructor(private readonly host: ToolbarHost) {
    this.tabButtons = {
      steps: this.tab("steps", "Steps"), dists: this.tab("dists", "Distributions"), samples: this.tab("samples", "Samples"), datamap: this.tab("datamap", "Data Map"),
    };
    const xSelect = this.xAxisSelect();
    const smoothing = this.smoothingSlider();
    const outliers = this.checkbox("tbb-outliers", "ignore outliers", "outliers", "y range from the 5th…95th percentile (as TensorBoard's default); points beyond are marked at the edge");
    const heatmaps = this.checkbox("tbb-heat", "heatmaps", "heatmaps", "Histogram over steps of each run, with its colour scale");
    const band = this.bandSelect();
    const size = chartSizeSelect(this.host);
    const heatNorm = heatNormSelect(this.host);
    // the tooltip's order: no chart to rebuild, only the setting to keep
    setTipByValue(this.host.settings.tipByValue);
    const tipOrder = this.checkbox("tbb-tip-sort", "tooltip by value", "tipByValue", "The tooltip lists the runs by value, highest first (else in run order)",
      (on) => setTipByValue(on));
    this.stepsOnly = [xSelect, smoothing, outliers, size];
    this.distsOnly = [band, heatmaps, heatNorm];
    this.tagError = h("span", { class: "tbb-bad tbb-small" });
    this.marksChip = h("span", { class: "tbb-chip tbb-marks", hidden: true, role: "status" });
    this.rangeEl = h("span", { class: "tbb-muted tbb-small tbb-range", "aria-live": "polite" });
    this.root = h(
      "div",
      { class: "tbb-toolbar", role: "toolbar", "aria-label": "View" },
      h("div", { class: "tbb-tabs", role: "group", "aria-label": "View" }, this.tabButtons.steps, this.tabButtons.dists, this.tabButtons.samples, this.tabButtons.datamap),
      xSelect,
      h("span", { class: "tbb-tagfilter" }, this.tagFilterInput(), this.tagError),
      this.checkbox("tbb-prefix", "group by prefix", "byPrefix", "One section per tag prefix (per_sample_loss/…)"),
      this.checkbox("tbb-log", "log y", "log", "Logarithmic y axis (values ≤ 0 are left out)"),
      outliers,
      tipOrder,
      smoothing,
      band,
      heatmaps,
      heatNorm,
      size,
      this.zoomButtons(),
      this.rangeEl,
      this.marksChip,
      ...helpPanel(),
    );
    installMenuKeys();
  }

  /** Shows which tab is open, and only the controls that act on it. */
  showTab(tab: Settings["tab"]): void {
    for (const [k, b] of Object.entries(this.tabButtons)) b.setAttribute("aria-pressed", String(k === tab));
    for (const el of this.stepsOnly) el.hidden = tab === "dists";
    for (const el of this.distsOnly) el.hidden = tab !== "dists";
  }

  /** The steps shown (the training axis' view). */
  showRange(text: string): void {
    this.rangeEl.textContent = text;
  }

  private tab(k: Settings["tab"], label: string): HTMLButtonElement {
    const b = h("button", { type: "button", class: "tbb-tab", text: label, "data-tab": k });
    b.addEventListener("click", () => {
      this.host.settings.tab = k;
      this.host.settingChanged(true);
    });
    return b;
  }

  private xAxisSelect(): HTMLSelectElement {
    const settings = this.host.settings;
    const select = h("select", { class: "tbb-input", "aria-label": "x axis" },
      h("option", { value: "step", text: "x: step" }),
      h("option", { value: "relstep", text: "x: steps since start" }),
      h("option", { value: "wall", text: "x: wall time" }),
      h("option", { value: "relwall", text: "x: time since start" }));
    select.value = settings.xAxis;
    select.addEventListener("change", () => {
      settings.xAxis = (X_MODES as string[]).includes(select.value) ? (select.value as XMode) : "step";
      this.host.xAxisChanged();
    });
    return select;
  }

  /** A checkbox of a setting; changing it rebuilds every card, or only calls `apply` when given. */
  private checkbox(id: string, label: string, key: BoolSetting, title: string, apply?: (on: boolean) => void): HTMLLabelElement {
    const box = h("input", { type: "checkbox", id });
    box.checked = this.host.settings[key];
    box.addEventListener("change", () => {
      this.host.settings[key] = box.checked;
      apply?.(box.checked);
      this.host.settingChanged(!apply);
    });
    return h("label", { class: "tbb-check", for: id, title }, box, ` ${label}`);
  }

  private smoothingSlider(): HTMLLabelElement {
    const settings = this.host.settings;
    const slider = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, id: "tbb-smooth", "aria-label": "Smoothing weight (0 = off)" });
    slider.value = String(settings.smoothing);
    const value = h("span", { class: "tbb-num tbb-small", text: settings.smoothing.toFixed(2) });
    slider.addEventListener("input", () => (value.textContent = Number(slider.value).toFixed(2)));
    slider.addEventListener("change", () => {
      settings.smoothing = Number(slider.value) || 0;
      this.host.settingChanged(true);
    });
    return h("label", { class: "tbb-check", for: "tbb-smooth" }, "smoothing ", slider, value);
  }

  private tagFilterInput(): HTMLInputElement {
    const input = h("input", {
      type: "search", class: "tbb-input", placeholder: "Filter tags (regex)", "aria-label": "Filter tags by regular expression",
      spellcheck: "false", autocomplete: "off",
    });
    input.value = this.host.settings.tagFilter;
    input.addEventListener("input", debounce(() => {
      this.host.settings.tagFilter = input.value;
      this.host.settingChanged(false);
    }, 250));
    return input;
  }

  private bandSelect(): HTMLSelectElement {
    const select = h("select", { class: "tbb-input", "aria-label": "Quantile band around each run's median" },
      h("option", { value: "iqr", text: "band: 25…75%" }), h("option", { value: "p90", text: "band: 5…95%" }),
      h("option", { value: "p98", text: "band: 1…99%" }), h("option", { value: "minmax", text: "band: min…max" }),
      h("option", { value: "none", text: "median only" }));
    select.value = this.host.settings.band;
    select.addEventListener("change", () => {
      this.host.settings.band = select.value as Settings["band"];
      this.host.settingChanged(true);
    });
    return select;
  }

  private zoomButtons(): HTMLElement {
    const button = (label: string, title: string, onClick: () => void) => {
      const b = h("button", { type: "button", class: "tbb-btn", text: label, title, "aria-label": title });
      b.addEventListener("click", onClick);
      return b;
    };
    const zoom = (f: (cur: Range, full: Range) => Range | null) => () => this.host.zoomTrain(f);
    return h("div", { class: "tbb-row", role: "group", "aria-label": "Zoom" },
      button("−", "Zoom out", zoom((c, f) => zoomRange(c, f, 2))),
      button("+", "Zoom in", zoom((c, f) => zoomRange(c, f, 0.5))),
      button("◀", "Pan left", zoom((c, f) => panRange(c, f, -0.25))),
      button("▶", "Pan right", zoom((c, f) => panRange(c, f, 0.25))),
      button("Reset", "Show all steps", () => this.host.showAll()),
    );
  }
}

/** The `?` button and its help: a row of its own at the toolbar's end, pushing the charts down
 * (never over the loss chart) until `?`, its ✕ or Esc (ui/keys.ts) closes it. */
function helpPanel(): [HTMLButtonElement, HTMLElement] {
  const button = h("button", { type: "button", class: "tbb-btn tbb-help", text: "?", title: "Help", "aria-expanded": "false" });
  const close = h("button", { type: "button", class: "tbb-icon tbb-help-close", text: "✕", title: "Close the help (Esc)", "aria-label": "Close the help" });
  const panel = h("div", { class: "tbb-help-text", role: "region", "aria-label": "Help", hidden: true, "data-closable": "" },
    close, ...HELP.map((text) => h("p", { text })));
  const show = (on: boolean) => { panel.hidden = !on; button.setAttribute("aria-expanded", String(on)); };
  button.addEventListener("click", () => show(panel.hidden));
  close.addEventListener("click", () => show(false));
  panel.addEventListener("close", () => show(false));
  return [button, panel];
}
