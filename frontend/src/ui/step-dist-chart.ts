// The drill-down's distribution chart: several runs' distributions of one tag at one step on
// one x axis, as histograms (counts per bin, each run its own bins) or CDFs (from the exact
// quantiles), linear or log x, with a hover readout of every run at the x under the pointer.
import uPlot from "uplot";
import type { StepDist } from "../api/types";
import { withAlpha } from "../model/colors";
import { fmtNum } from "../model/format";
import { binAt, cdfAt, cdfPoints, nonPositiveCount, sharedRange } from "../model/histograms";
import type { Theme } from "../model/settings";
import type { TipRow } from "../model/tip-rows";
import { baseAxes } from "./chart-axes";
import { clipToPlot } from "./chart-kit";
import { h } from "./dom";
import { hideTip, showTip } from "./tooltip";

export interface RunStepDist {
  run: string;
  color: string;
  dist: StepDist;
}

/** Draws the chart into `el` (when it is still in the page); null when nothing was plotted (a
 * note says why). On a log x axis, a note says how many values ≤ 0 each run leaves out. */
export function stepDistChart(el: HTMLElement, tag: string, ds: readonly RunStepDist[], o: { logX: boolean; cdf: boolean; theme: Theme }): uPlot | null {
  if (!el.isConnected) return null;
  const { logX, cdf } = o;
  let xr = sharedRange(ds.map((x) => x.dist), logX);
  if (xr && logX) xr = [Math.pow(10, Math.floor(Math.log10(xr[0]))), Math.pow(10, Math.ceil(Math.log10(xr[1])))];
  if (!xr) { el.append(h("p", { class: "tbb-muted", text: "No finite value at this step." })); return null; }
  const xRange = xr;
  let ymax = 1;
  if (!cdf) for (const { dist } of ds) for (const c of dist.histogram) if (c > ymax) ymax = c;
  const [ax, ay] = baseAxes(o.theme, "step");
  const u = new uPlot({
    width: Math.max(300, el.clientWidth || 440), height: 190,
    legend: { show: false },
    padding: [8, 14, 0, 0],
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: logX ? { time: false, distr: 3, log: 10, range: () => xRange } : { time: false, range: () => xRange },
      y: { range: () => (cdf ? [0, 1] : [0, ymax * 1.08]) },
    },
    axes: [{ ...ax, values: (_u: uPlot, s: number[]) => s.map((v) => (v == null ? "" : fmtNum(v))), label: tag, labelSize: 14 },
      { ...ay, label: cdf ? "fraction ≤ x" : "samples per bin", labelSize: 14 }],
    series: [{}, { stroke: "transparent", points: { show: false } }],
    hooks: {
      draw: [(uu) => drawDists(uu, ds, cdf, logX)],
      setCursor: [(uu) => hover(uu, ds, cdf, tag)],
    },
  }, [[xRange[0], xRange[1]], [null, null]] as uPlot.AlignedData, el);
  u.over.addEventListener("mouseleave", () => hideTip());
  const zeros = logX ? ds.filter((x) => nonPositiveCount(x.dist) > 0) : [];
  if (zeros.length) {
    el.append(h("p", { class: "tbb-muted tbb-small", text: `log x leaves out values ≤ 0: ${zeros.map((x) => `${x.run} ≈${nonPositiveCount(x.dist)}`).join(", ")}` }));
  }
  return u;
}

function drawDists(u: uPlot, ds: readonly RunStepDist[], cdf: boolean, logX: boolean): void {
  const c = clipToPlot(u);
  const { left, width } = u.bbox;
  const px = uPlot.pxRatio;
  const xmin = u.scales.x.min!;
  const xPos = (v: number) => u.valToPos(logX ? Math.max(v, xmin) : v, "x", true);
  const yPos = (v: number) => u.valToPos(v, "y", true);
  for (const { color, dist: d } of ds) {
    c.strokeStyle = color;
    c.lineWidth = 1.75 * px;
    c.beginPath();
    if (cdf) {
      const pts = cdfPoints(d);
      pts.x.forEach((x, i) => (i ? c.lineTo(xPos(x), yPos(pts.p[i])) : (c.moveTo(xPos(x), yPos(0)), c.lineTo(xPos(x), yPos(pts.p[i])))));
      if (pts.x.length) c.lineTo(left + width, yPos(1));
      c.stroke();
      continue;
    }
    const e = d.bin_edges;
    c.moveTo(xPos(e[0]), yPos(0));
    for (let i = 0; i < d.histogram.length; i++) {
      if (logX && !(e[i + 1] > 0)) continue;
      c.lineTo(xPos(e[i]), yPos(d.histogram[i]));
      c.lineTo(xPos(e[i + 1]), yPos(d.histogram[i]));
    }
    c.lineTo(xPos(e[e.length - 1]), yPos(0));
    c.stroke();
    c.fillStyle = withAlpha(color, 0.14);
    c.lineTo(xPos(e[0]), yPos(0));
    c.fill();
  }
  c.restore();
}

function hover(u: uPlot, ds: readonly RunStepDist[], cdf: boolean, tag: string): void {
  const left = u.cursor.left;
  if (left === undefined || left === null || left < 0) { hideTip(); return; }
  const x = u.posToVal(left, "x");
  const rows: TipRow[] = ds.map(({ run, color, dist: d }) => {
    if (cdf) {
      const p = cdfAt(cdfPoints(d), x);
      return { color, label: run, value: p, text: `${fmtNum(+(p * 100).toFixed(2))}% ≤ x` };
    }
    const b = binAt(d, x);
    return b ? { color, label: run, value: b.count, text: `${fmtNum(b.count)}`, note: `bin ${fmtNum(b.lo)}…${fmtNum(b.hi)}` }
      : { color, label: run, value: NaN, text: "–", note: "outside its range" };
  });
  const r = u.over.getBoundingClientRect();
  showTip(r.left + left, r.top + (u.cursor.top ?? 0), `${tag} = ${fmtNum(x)}`, rows);
}
