// The sequential colour ramp of every heatmap (bin counts, per-class losses) and the largest
// count of a grid. Pure (test/model/heat-colors.test.ts).

/** A colour of the heatmaps' sequential ramp at t in [0, 1]: from a pale colour to a saturated
 * one (reversed brightness on dark backgrounds). RGB bytes. */
export function rampColor(t: number, dark: boolean): [number, number, number] {
  const stops: [number, number, number][] = dark
    ? [[40, 60, 110], [60, 130, 200], [120, 200, 160], [250, 230, 120]]
    : [[220, 235, 250], [120, 170, 230], [40, 90, 190], [20, 30, 100]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i], b = stops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** Heatmap color of a bin count: log-scaled ramp, transparent for 0. RGBA bytes. */
export function heatColor(count: number, maxCount: number, dark: boolean): [number, number, number, number] {
  if (!(count > 0) || !(maxCount > 0)) return [0, 0, 0, 0];
  const t = Math.min(1, Math.log1p(count) / Math.log1p(maxCount));
  return [...rampColor(t, dark), Math.round(90 + 165 * t)];
}

export function maxOf2D(rows: readonly (readonly number[])[]): number {
  let m = 0;
  for (const r of rows) for (const v of r) if (v > m) m = v;
  return m;
}
