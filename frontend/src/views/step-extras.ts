// What a Steps chart shows around its plot: the legend (runs, groups with their members, placed
// validation runs), the log-y notice (values ≤ 0 left out) and the data table (at the selected
// step, over the zoom range). Kept apart from steps.ts, which draws and handles the pointer.
import { fetchSeries } from "../api/client";
import type { Series } from "../api/types";
import type { Axis } from "../model/axes";
import { legendEntries } from "../model/legend";
import { hiddenByLog, logNoticeText } from "../model/log-notice";
import type { Layer, XPlacement } from "../model/step-layers";
import type { ViewContext } from "../ui/context";
import { DataTable, TableRun } from "../ui/data-table";
import { h } from "../ui/dom";
import { ChartLegend } from "../ui/legend";

/** What the extras read of their chart. */
export interface ExtrasChart {
  readonly app: ViewContext;
  readonly tag: string;
  readonly axis: Axis;
  readonly source?: string;
  readonly layers: Layer[];
  readonly place: XPlacement;
}

export class StepExtras {
  readonly legend: ChartLegend;
  readonly table: DataTable;
  /** the log-y notice (a chip in the header) */
  readonly logNotice: HTMLSpanElement;

  constructor(private readonly chart: ExtrasChart) {
    const { app, tag, source } = chart;
    this.legend = new ChartLegend(tag);
    this.logNotice = h("span", { class: "tbb-log-notice", role: "status", hidden: true });
    this.table = new DataTable({
      point: async (run, step) => {
        const s = await fetchSeries(run, tag, 1, step, step, undefined, source);
        return s.steps.length && s.steps[0] === step ? { step, value: s.values[0], wall: s.walls[0] } : null;
      },
      wall0: async (run) => {
        const ti = app.tagInfo(run, tag, "scalar", source);
        if (!ti) return null;
        const s = await fetchSeries(run, tag, 1, ti.first_step, ti.first_step, undefined, source);
        return s.walls.length ? s.walls[0] : null;
      },
    });
  }

  /** After the layers changed (a load, a setting): legend, notice and table. */
  render(): void {
    const { app, layers } = this.chart;
    this.legend.set(legendEntries(layers, (r) => app.color(r)));
    const series: Series[] = layers.flatMap((l) => (l.kind === "group" ? l.series : [l.series]));
    const text = app.settings.log ? logNoticeText(hiddenByLog(series)) : "";
    this.logNotice.textContent = text;
    this.logNotice.title = text ? "A log scale cannot place values ≤ 0: they are left out of this chart (switch log y off to see them)" : "";
    this.logNotice.hidden = !text;
    this.update();
  }

  /** The selected step or the zoom range changed: the table. */
  update(): void {
    const { app, axis, layers, place } = this.chart;
    // runs drawn alone and group members (placed validation runs are on another step axis)
    const runs: TableRun[] = layers.flatMap((l): TableRun[] => {
      const of = (s: Series): TableRun => ({
        run: s.run, color: app.color(s.run), steps: s.steps, values: s.values, walls: s.walls, reduced: s.reduced,
        offset: place.mode === "relstep" ? place.stepOffset(s.run) : 0,
      });
      return l.kind === "run" ? [of(l.series)] : l.kind === "group" ? l.series.map(of) : [];
    });
    const d = app.drill;
    const m = d ? app.meta(d.run) : undefined;
    // the drill-down's step, when it is on this axis (the same steps since start on the relative axis)
    const x = d && m && m.axis === axis && !m.placed ? d.step - (place.mode === "relstep" ? place.stepOffset(d.run) : 0) : null;
    this.table.update(runs, x, app.view(axis));
  }
}
