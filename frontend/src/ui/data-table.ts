// The data table under a Steps chart (as TensorBoard's Time Series has): at the selected step
// (the drill-down's) each run's value, step, wall time and time since its first point; with a
// zoom range, each run's min, max, mean and change over it. Sortable by any column (a click on
// its head), collapsible (kept in this browser for every chart). The numbers are model/range-stats.ts.
import { fmtDuration, fmtNum, fmtStep } from "../model/format";
import { pointAt, rangeStats, RangeStats, SortDir, sortRows, StepPoint } from "../model/range-stats";
import type { Range } from "../model/ranges";
import { clear, h, swatch } from "./dom";
import { load, save } from "./store";

/** A run's loaded points on a chart (raw, or M4-reduced: `reduced`). */
export interface TableRun {
  run: string;
  color: string;
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
  walls: ArrayLike<number>;
  reduced: boolean;
  /** this run's step at x 0 of the chart (relative steps), else 0 */
  offset: number;
}

export interface TableSource {
  /** the exact point of a run at a step (one small request when not loaded), null when none */
  point(run: string, step: number): Promise<StepPoint | null>;
  /** the wall time of a run's first point of this tag */
  wall0(run: string): Promise<number | null>;
}

type Cell = number | string | null;
interface Column<R> { name: string; key: (r: R) => Cell; show: (r: R) => HTMLElement | string; help?: string }

const OPEN_KEY = "dataTableOpen";

/** One sortable table: its columns, rows and sort state. */
class SortableTable<R> {
  readonly root: HTMLTableElement;
  private sortBy = 0;
  private dir: SortDir = 1;
  private rows: R[] = [];

  constructor(cls: string, private readonly columns: Column<R>[]) {
    this.root = h("table", { class: `tbb-table tbb-data-table ${cls}` });
  }

  set(rows: R[]): void {
    this.rows = rows;
    this.render();
  }

  private render(): void {
    clear(this.root);
    const head = h("tr");
    this.columns.forEach((c, i) => {
      const sorted = i === this.sortBy;
      const b = h("button", { type: "button", class: "tbb-sort", text: c.name + (sorted ? (this.dir > 0 ? " ▲" : " ▼") : ""), title: c.help ?? `Sort by ${c.name}` });
      b.addEventListener("click", () => {
        this.dir = sorted ? (-this.dir as SortDir) : 1;
        this.sortBy = i;
        this.render();
      });
      head.append(h("th", { class: i ? "tbb-num" : null, "aria-sort": sorted ? (this.dir > 0 ? "ascending" : "descending") : "none", "data-col": c.name }, b));
    });
    this.root.append(h("thead", {}, head));
    const body = h("tbody");
    for (const r of sortRows(this.rows, this.columns[this.sortBy].key, this.dir)) {
      const tr = h("tr");
      this.columns.forEach((c, i) => {
        const k = c.key(r);
        // the full number for tests and copying (the cell shows 7 digits)
        tr.append(h("td", { class: i ? "tbb-num" : null, "data-col": c.name, "data-value": typeof k === "number" ? String(k) : null }, c.show(r)));
      });
      body.append(tr);
    }
    this.root.append(body);
  }
}

interface StepRow { run: string; color: string; p: StepPoint | null; rel: number | null }
interface RangeRow { run: string; color: string; s: RangeStats | null; approx: boolean }

const runCell = (r: { run: string; color: string }) => h("span", { class: "tbb-data-run", title: r.run }, swatch(r.color), h("span", { class: "tbb-run-name", text: r.run }));

export class DataTable {
  readonly root: HTMLDetailsElement;
  private readonly stepHead: HTMLDivElement;
  private readonly rangeHead: HTMLDivElement;
  private readonly stepTable: SortableTable<StepRow>;
  private readonly rangeTable: SortableTable<RangeRow>;
  private readonly summary: HTMLElement;
  private readonly body: HTMLDivElement;
  private readonly walls0 = new Map<string, number | null>();
  /** exact points asked of the server, by run and step (a redraw asks nothing again) */
  private readonly asked = new Map<string, StepPoint | null>();
  private gen = 0;

  constructor(private readonly source: TableSource) {
    this.stepTable = new SortableTable<StepRow>("tbb-data-step", [
      { name: "run", key: (r) => r.run, show: runCell },
      { name: "value", key: (r) => r.p?.value ?? null, show: (r) => fmtNum(r.p?.value) },
      { name: "step", key: (r) => r.p?.step ?? null, show: (r) => (r.p ? fmtStep(r.p.step) : "–") },
      { name: "wall time", key: (r) => r.p?.wall ?? null, show: (r) => (r.p ? new Date(r.p.wall * 1000).toLocaleString() : "–") },
      { name: "relative", key: (r) => r.rel, show: (r) => (r.rel === null ? "–" : fmtDuration(r.rel)), help: "Time since the run's first point of this tag" },
    ]);
    this.rangeTable = new SortableTable<RangeRow>("tbb-data-range", [
      { name: "run", key: (r) => r.run, show: runCell },
      { name: "min", key: (r) => r.s?.min ?? null, show: (r) => fmtNum(r.s?.min) },
      { name: "max", key: (r) => r.s?.max ?? null, show: (r) => fmtNum(r.s?.max) },
      { name: "mean", key: (r) => r.s?.mean ?? null, show: (r) => (r.s ? (r.approx ? "≈" : "") + fmtNum(r.s.mean) : "–"), help: "≈: mean of the drawn points (reduced); zoom in for the exact mean" },
      { name: "change", key: (r) => r.s?.change ?? null, show: (r) => (r.s ? (r.s.change > 0 ? "+" : "") + fmtNum(r.s.change) : "–"), help: "Last value minus first value in the range" },
    ]);
    this.stepHead = h("div", { class: "tbb-data-head tbb-muted tbb-small" });
    this.rangeHead = h("div", { class: "tbb-data-head tbb-muted tbb-small" });
    this.summary = h("summary", { class: "tbb-data-summary tbb-small", text: "Data" });
    this.body = h("div", { class: "tbb-data-body" });
    this.root = h("details", { class: "tbb-data", hidden: true }, this.summary, this.body);
    this.root.open = load<boolean>(OPEN_KEY, true);
    this.root.addEventListener("toggle", () => save(OPEN_KEY, this.root.open));
  }

  /** Shows the runs at the selected step `x` and over the zoom range `range` (chart x units:
   * steps, or steps since each run's start). */
  update(runs: readonly TableRun[], x: number | null, range: Range | null): void {
    const gen = ++this.gen;
    this.root.hidden = !runs.length || (x === null && !range);
    this.summary.textContent = `Data${x !== null ? ` · step ${fmtStep(x)}` : ""}${range ? ` · steps ${fmtStep(range.start)}–${fmtStep(range.end)}` : ""}`;
    // only the tables that apply are in the card (none without a selected step or a zoom)
    this.body.replaceChildren(...(x !== null ? [this.stepHead, this.stepTable.root] : []), ...(range ? [this.rangeHead, this.rangeTable.root] : []));
    if (range) {
      this.rangeHead.textContent = `over steps ${fmtStep(range.start)}–${fmtStep(range.end)} (the zoom range)`;
      this.rangeTable.set(runs.map((r) => ({
        run: r.run, color: r.color, s: rangeStats(r.steps, r.values, range.start + r.offset, range.end + r.offset), approx: r.reduced,
      })));
    }
    if (x === null) return;
    this.stepHead.textContent = `at step ${fmtStep(x)} (the selected step)`;
    const rows = runs.map((r): StepRow => ({
      run: r.run, color: r.color, p: pointAt(r.steps, r.values, r.walls, x + r.offset) ?? this.asked.get(`${r.run}\u0000${x + r.offset}`) ?? null, rel: null,
    }));
    const withRel = (row: StepRow) => {
      const w0 = this.walls0.get(row.run);
      row.rel = row.p && w0 !== undefined && w0 !== null ? row.p.wall - w0 : null;
    };
    rows.forEach(withRel);
    this.stepTable.set(rows);
    // what is not loaded (a reduced series, the first wall time) is asked once, then shown
    void Promise.all(rows.map(async (row, i) => {
      const step = x + runs[i].offset, key = `${row.run}\u0000${step}`;
      if (!row.p && !this.asked.has(key)) {
        if (this.asked.size > 500) this.asked.clear();
        this.asked.set(key, await this.source.point(row.run, step).catch(() => null));
      }
      row.p ??= this.asked.get(key) ?? null;
      if (!this.walls0.has(row.run)) this.walls0.set(row.run, await this.source.wall0(row.run).catch(() => null));
      withRel(row);
    })).then(() => { if (gen === this.gen) this.stepTable.set(rows); });
  }
}
