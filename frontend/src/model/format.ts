// How numbers read on screen: values, steps, axis labels, durations, the x under the pointer.
// Pure (test/model/format.test.ts).
import type { Axis } from "./axes";
import type { XMode } from "./settings";

/** Short display of a value: up to 7 significant digits (float32 precision). */
export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(4).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(7)));
}

/** A value in a chart's tooltip: 5 significant digits, enough to compare runs at a glance (the
 * drill-down has the exact value). */
export function fmtTip(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v) || v === 0) return fmtNum(v);
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(4).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(5)));
}

export function fmtStep(s: number): string {
  return Number.isFinite(s) ? String(Math.round(s)) : "–";
}

/** 4 significant digits (a range next to an exact value). */
export function fmtShort(v: number): string {
  return fmtNum(Number.isFinite(v) ? Number(v.toPrecision(4)) : v);
}

/** Compact axis label for steps: 1.5M, 200k, 950. */
export function compactNum(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(4)));
  if (a >= 1e9) return trim(v / 1e9) + "G";
  if (a >= 1e6) return trim(v / 1e6) + "M";
  if (a >= 1e4) return trim(v / 1e3) + "k";
  return trim(v);
}

/** Duration labels of the relative wall-time axis (seconds since each run's start). */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "";
  const a = Math.abs(s), sign = s < 0 ? "-" : "";
  if (a < 60) return `${sign}${+a.toPrecision(3)}s`;
  if (a < 3600) return `${sign}${+(a / 60).toPrecision(3)}m`;
  if (a < 86400 * 3) return `${sign}${+(a / 3600).toPrecision(3)}h`;
  return `${sign}${+(a / 86400).toPrecision(3)}d`;
}

/** The title of a chart's tooltip: the x under the pointer in the chart's x mode. */
export function hoverXLabel(mode: XMode, axis: Axis, x: number): string {
  switch (mode) {
    case "step": return `${axis === "val" ? "validation batch" : "step"} ${fmtStep(x)}`;
    case "relstep": return `${fmtStep(x)} steps since start`;
    case "wall": return new Date(x * 1000).toLocaleString();
    case "relwall": return `${fmtDuration(x)} since start`;
  }
}
