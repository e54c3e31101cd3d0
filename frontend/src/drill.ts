// The drill-down panel: everything recorded at one step of one run (the `step` endpoint), next
// to the same step of every other plotted run. Left/Right arrows move one step.
import { fetchStep, StepData, StepDist } from "./api";
import type { Ctx } from "./ctx";
import { clear, h } from "./dom";
import { fmtNum, fmtStep } from "./logic";

function histogramCanvas(d: StepDist, color: string, fg: string): HTMLCanvasElement {
  const W = 186, H = 64;
  const px = window.devicePixelRatio || 1;
  const cv = h("canvas", {
    class: "tbb-hist", width: Math.round(W * px), height: Math.round(H * px),
    role: "img", "aria-label": `Histogram: ${d.histogram.length} bins from ${fmtNum(d.min)} to ${fmtNum(d.max)}`,
  });
  cv.style.width = `${W}px`;
  cv.style.height = `${H}px`;
  const c = cv.getContext("2d");
  if (!c) return cv;
  c.scale(px, px);
  const n = d.histogram.length;
  const max = Math.max(1, ...d.histogram.filter(Number.isFinite));
  const bw = (W - 2) / Math.max(1, n);
  c.fillStyle = color;
  for (let i = 0; i < n; i++) {
    const v = d.histogram[i];
    if (!(v > 0)) continue;
    const bh = Math.max(1, (v / max) * (H - 14));
    c.fillRect(1 + i * bw, H - 12 - bh, Math.max(1, bw - 1), bh);
  }
  c.fillStyle = fg;
  c.font = "10px system-ui, sans-serif";
  c.textBaseline = "bottom";
  c.fillText(fmtNum(d.min), 1, H);
  const t = fmtNum(d.max);
  c.fillText(t, W - 1 - c.measureText(t).width, H);
  return cv;
}

export class Drill {
  readonly root: HTMLElement;
  private readonly titleEl: HTMLHeadingElement;
  private readonly body: HTMLDivElement;
  private readonly prevBtn: HTMLButtonElement;
  private readonly nextBtn: HTMLButtonElement;
  run: string | null = null;
  step: number | null = null;
  data: StepData | null = null;
  private abort: AbortController | null = null;
  private returnFocus: HTMLElement | null = null;

  constructor(private readonly ctx: Ctx, private readonly onChange: () => void) {
    this.titleEl = h("h2", { class: "tbb-drill-title", id: "tbb-drill-title" });
    this.prevBtn = h("button", { type: "button", text: "◀ prev", title: "Previous step (Left arrow)" });
    this.nextBtn = h("button", { type: "button", text: "next ▶", title: "Next step (Right arrow)" });
    const close = h("button", { type: "button", text: "✕", title: "Close (Escape)", "aria-label": "Close the step panel" });
    this.prevBtn.addEventListener("click", () => this.move(-1));
    this.nextBtn.addEventListener("click", () => this.move(1));
    close.addEventListener("click", () => this.close());
    this.body = h("div", { class: "tbb-drill-body" });
    this.root = h(
      "aside",
      { class: "tbb-drill", role: "dialog", "aria-modal": "false", "aria-labelledby": "tbb-drill-title", hidden: true, tabindex: -1 },
      h("div", { class: "tbb-drill-head" }, this.titleEl, h("div", { class: "tbb-drill-nav" }, this.prevBtn, this.nextBtn, close)),
      this.body,
    );
    document.addEventListener("keydown", (e) => this.onKey(e));
  }

  get isOpen(): boolean {
    return !this.root.hidden;
  }

  open(run: string, step: number): void {
    if (!this.isOpen) this.returnFocus = document.activeElement as HTMLElement | null;
    this.run = run;
    this.step = Math.round(step);
    this.root.hidden = false;
    this.root.dataset.run = run;
    this.root.dataset.step = String(this.step);
    void this.load();
    this.root.focus({ preventScroll: true });
    this.onChange();
  }

  close(): void {
    this.abort?.abort();
    this.root.hidden = true;
    this.run = this.step = null;
    this.data = null;
    this.onChange();
    this.returnFocus?.focus?.({ preventScroll: true });
  }

  move(dir: -1 | 1): void {
    const d = this.data;
    if (!d || this.run === null) return;
    const s = dir < 0 ? d.prev_step : d.next_step;
    if (s === null || s === undefined) return;
    this.open(this.run, s);
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.isOpen) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.key === "ArrowLeft") this.move(-1);
    else if (e.key === "ArrowRight") this.move(1);
    else if (e.key === "Escape") this.close();
    else return;
    e.preventDefault();
  }

  async load(): Promise<void> {
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    const run = this.run!, step = this.step!;
    this.titleEl.textContent = `Step ${fmtStep(step)}`;
    this.root.dataset.state = "loading";
    const others = this.ctx.plotted().filter((r) => r !== run);
    const res = await Promise.allSettled([run, ...others].map((r) => fetchStep(r, step, ac.signal)));
    if (ac.signal.aborted) return;
    const datas: StepData[] = [];
    const errors: string[] = [];
    res.forEach((r, i) => {
      if (r.status === "fulfilled") datas.push(r.value);
      else errors.push(`${[run, ...others][i]}: ${(r.reason as Error)?.message ?? r.reason}`);
    });
    this.data = datas.find((d) => d.run === run) ?? null;
    this.render(run, step, datas, errors);
    this.root.dataset.state = "loaded";
  }

  private render(run: string, step: number, datas: StepData[], errors: string[]): void {
    clear(this.body);
    const primary = this.data;
    this.prevBtn.disabled = !primary || primary.prev_step === null;
    this.nextBtn.disabled = !primary || primary.next_step === null;
    const sw = (r: string) => h("span", { class: "tbb-swatch", style: `background:${this.ctx.color(r)}` });
    const who = h("p", { class: "tbb-drill-run" }, sw(run), h("span", { class: "tbb-run-name", text: run }));
    if (primary?.wall_time) who.append(h("span", { class: "tbb-muted tbb-sep", text: `· ${new Date(primary.wall_time * 1000).toLocaleString()}` }));
    this.body.append(who);
    for (const e of errors) this.body.append(h("p", { class: "tbb-bad", text: e }));
    if (primary && !primary.found) {
      const p = h("p", { class: "tbb-muted", text: `Run has no point at step ${fmtStep(step)}. ` });
      for (const s of [primary.prev_step, primary.next_step]) {
        if (s === null) continue;
        const b = h("button", { type: "button", class: "tbb-linkbtn", text: `go to step ${fmtStep(s)}` });
        b.addEventListener("click", () => this.open(run, s));
        p.append(b, " ");
      }
      this.body.append(p);
    }
    const cols = datas.filter((d) => d.found);
    if (!cols.length) return;
    const missing = datas.filter((d) => !d.found && d.run !== run).map((d) => d.run);
    if (missing.length) {
      const p = h("p", { class: "tbb-muted tbb-small", text: `No point at step ${fmtStep(step)} in: ` });
      missing.forEach((r, i) => p.append(i ? ", " : "", h("span", { class: "tbb-run-name", text: r })));
      this.body.append(p);
    }

    // Scalars: one row per tag, one column per run (the clicked run first).
    const tags = [...new Set(cols.flatMap((d) => Object.keys(d.scalars)))].sort();
    if (tags.length) {
      const head = h("tr", {}, h("th", { text: "scalar" }));
      for (const d of cols) head.append(h("th", { class: "tbb-num" }, sw(d.run), h("span", { class: "tbb-run-name", text: d.run })));
      const tb = h("tbody");
      for (const t of tags) {
        const tr = h("tr", { "data-tag": t }, h("th", { scope: "row", text: t }));
        for (const d of cols) {
          const v = d.scalars[t];
          tr.append(h("td", {
            class: "tbb-num" + (v !== undefined && !Number.isFinite(v) ? " tbb-bad" : ""),
            text: v === undefined ? "–" : fmtNum(v),
            title: v === undefined ? null : String(v),
          }));
        }
        tb.append(tr);
      }
      this.body.append(h("h3", { text: "Scalars" }), h("div", { class: "tbb-scroll" }, h("table", { class: "tbb-table tbb-drill-scalars" }, h("thead", {}, head), tb)));
    }

    // Distributions: per tag, one block per run side by side.
    const dtags = [...new Set(cols.flatMap((d) => Object.keys(d.distributions)))].sort();
    for (const t of dtags) {
      const row = h("div", { class: "tbb-drill-dists" });
      const without = cols.filter((d) => !d.distributions[t]).map((d) => d.run);
      for (const d of cols) {
        const dist = d.distributions[t];
        if (!dist) continue;
        const block = h("div", { class: "tbb-drill-dist", "data-run": d.run }, h("div", { class: "tbb-drill-dist-run" }, sw(d.run), h("span", { class: "tbb-run-name", text: d.run })));
        {
          block.append(histogramCanvas(dist, this.ctx.color(d.run), this.ctx.theme.fg));
          const nonfin = dist.nan_count + dist.posinf_count + dist.neginf_count;
          block.append(h("p", {
            class: "tbb-small" + (nonfin > 0 ? " tbb-bad" : ""),
            text: `n=${fmtNum(dist.count)}` + (nonfin > 0 ? ` (NaN ${dist.nan_count}, +Inf ${dist.posinf_count}, -Inf ${dist.neginf_count})` : ""),
          }));
          block.append(h("p", { class: "tbb-small", text: `mean ${fmtNum(dist.mean)} ± ${fmtNum(dist.std)}` }));
          const qt = h("tbody");
          dist.quantile_probs.forEach((p, i) => {
            qt.append(h("tr", {}, h("th", { scope: "row", text: p === 0 ? "min" : p === 1 ? "max" : `p${+(p * 100).toFixed(2)}` }), h("td", { class: "tbb-num", text: fmtNum(dist.quantiles[i]) })));
          });
          block.append(h("table", { class: "tbb-table tbb-quantiles" }, qt));
        }
        row.append(block);
      }
      this.body.append(h("h3", { text: t }), row);
      if (without.length) {
        const p = h("p", { class: "tbb-muted tbb-small", text: `${t} not recorded in: ` });
        without.forEach((r, i) => p.append(i ? ", " : "", h("span", { class: "tbb-run-name", text: r })));
        this.body.append(p);
      }
    }
  }
}
