// The side panel: the runs (a checkbox, a colour to change and badges each; a regex filter; all
// or none), the run grouping, and the anomalies panel under them. Changes are kept in this
// browser and passed to the app.
import { isHexColor } from "../model/colors";
import type { GroupMode } from "../model/groups";
import { makeRunFilter } from "../model/runs";
import type { Settings } from "../model/settings";
import { clear, debounce, h } from "../ui/dom";
import { save } from "../ui/store";
import type { RunState } from "./run-state";

export interface RunListHost {
  readonly settings: Settings;
  readonly state: RunState;
  /** re-reads the runs (`force`: reloads every chart too) */
  reload(force?: boolean): Promise<void>;
  /** the plotted runs changed (selection, filter) */
  selectionChanged(): void;
  /** a run's colour changed; `anomalies`: the anomalies list shows it too */
  colorsChanged(anomalies: boolean): void;
  /** a setting changed (grouping): saved, and every card rebuilt */
  settingChanged(recreate: boolean): void;
}

export class RunList {
  readonly root: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly filterError: HTMLDivElement;

  constructor(private readonly host: RunListHost, anomalies: HTMLElement) {
    const reloadBtn = h("button", { type: "button", class: "tbb-btn", text: "⟳ Reload", title: "Reload runs and data" });
    const again = debounce(() => void host.reload(), 1500);
    reloadBtn.addEventListener("click", () => { void host.reload(true); again(); });
    const filter = h("input", {
      type: "search", class: "tbb-input", placeholder: "Filter runs (regex)", "aria-label": "Filter runs by regular expression",
      spellcheck: "false", autocomplete: "off",
    });
    filter.value = host.state.filter;
    filter.addEventListener("input", debounce(() => {
      host.state.filter = filter.value;
      save("filter", host.state.filter);
      this.render();
      host.selectionChanged();
    }, 200));
    this.filterError = h("div", { class: "tbb-bad tbb-small", role: "status" });
    const allBtn = h("button", { type: "button", class: "tbb-btn tbb-small", text: "All" });
    const noneBtn = h("button", { type: "button", class: "tbb-btn tbb-small", text: "None" });
    allBtn.addEventListener("click", () => this.setAll(true));
    noneBtn.addEventListener("click", () => this.setAll(false));
    this.list = h("ul", { class: "tbb-runs", "aria-label": "Runs" });
    this.root = h(
      "nav",
      { class: "tbb-side", "aria-label": "Runs and anomalies" },
      h("div", { class: "tbb-side-head" }, h("h2", { text: "Runs" }), reloadBtn),
      filter,
      this.filterError,
      h("div", { class: "tbb-row" }, allBtn, noneBtn),
      this.list,
      this.groupControls(),
      h("h2", { text: "Anomalies" }),
      anomalies,
    );
  }

  /** Runs one by one, grouped by path prefix, or by regex (its captured groups name a group). */
  private groupControls(): HTMLElement {
    const settings = this.host.settings;
    const mode = h("select", { class: "tbb-input tbb-small", "aria-label": "Group runs" },
      h("option", { value: "none", text: "runs one by one" }),
      h("option", { value: "prefix", text: "group by path prefix" }),
      h("option", { value: "regex", text: "group by regex" }));
    mode.value = settings.groupMode;
    const regex = h("input", {
      type: "text", class: "tbb-input tbb-small", placeholder: "regex, e.g. (lr_[^/]+)", "aria-label": "Group runs by regex (captured groups name the group)",
      spellcheck: "false", hidden: settings.groupMode !== "regex",
    });
    regex.value = settings.groupRegex;
    mode.addEventListener("change", () => {
      settings.groupMode = mode.value as GroupMode;
      regex.hidden = settings.groupMode !== "regex";
      this.host.settingChanged(true);
    });
    regex.addEventListener("input", debounce(() => {
      settings.groupRegex = regex.value;
      this.host.settingChanged(true);
    }, 300));
    return h("div", { class: "tbb-row tbb-groups", title: "A group is drawn as its runs' mean with a min…max band" }, mode, regex);
  }

  private setAll(on: boolean): void {
    const state = this.host.state;
    const f = makeRunFilter(state.filter);
    for (const r of state.runs) if (f.test(r.run)) state.selection[r.run] = on;
    save("selection", state.selection);
    this.render();
    this.host.selectionChanged();
  }

  /** The runs matching the filter, each with its checkbox, colour, badges and colour reset. */
  render(): void {
    const state = this.host.state;
    const f = makeRunFilter(state.filter);
    this.filterError.textContent = f.error ? `Not a valid regex (${f.error}); matching as text.` : "";
    clear(this.list);
    let shown = 0;
    for (const r of state.runs) {
      if (!f.test(r.run)) continue;
      shown++;
      this.list.append(this.item(r.run, `tbb-run-${shown}`, r.source === "sampled"));
    }
    if (!shown) this.list.append(h("li", { class: "tbb-muted", text: state.runs.length ? "No run matches the filter." : "No runs." }));
  }

  private item(run: string, id: string, sampled: boolean): HTMLLIElement {
    const state = this.host.state;
    const box = h("input", { type: "checkbox", id });
    box.checked = !!state.selection[run];
    box.addEventListener("change", () => {
      state.selection[run] = box.checked;
      save("selection", state.selection);
      this.host.selectionChanged();
    });
    const pick = h("input", { type: "color", class: "tbb-color", value: state.color(run), title: "Change this run's colour", "aria-label": `Colour of ${run}` });
    pick.addEventListener("change", () => {
      if (!isHexColor(pick.value)) return;
      state.overrides[run] = pick.value;
      save("colorOverrides", state.overrides);
      this.host.colorsChanged(true);
    });
    const m = state.meta(run);
    const badges: HTMLElement[] = [];
    if (sampled) badges.push(h("span", { class: "tbb-badge", "data-kind": "sampled", text: "sampled" }));
    if (m?.placed) {
      badges.push(h("span", { class: "tbb-badge tbb-role", text: `${m.info.evaluations!.length} evals`, title: `Validation: each evaluation drawn on the training axis${m.train_run ? ` of ${m.train_run}` : ""}, at the step it ran` }));
    } else if (m?.axis === "val") {
      badges.push(h("span", { class: "tbb-badge tbb-role", text: "own axis", title: "Validation without evaluation markers (older logs): drawn on its own validation-batch axis, never over training steps" }));
    }
    const label = h("label", { for: id, class: "tbb-run-label", title: run }, h("span", { class: "tbb-run-name", text: run }), ...badges);
    const reset = isHexColor(state.overrides[run]) ? h("button", { type: "button", class: "tbb-linkbtn tbb-small", text: "↺", title: "Back to TensorBoard's colour" }) : null;
    reset?.addEventListener("click", () => {
      delete state.overrides[run];
      save("colorOverrides", state.overrides);
      this.host.colorsChanged(false);
    });
    return h("li", { "data-run": run }, box, pick, label, reset);
  }
}
