// The chart size setting of the Steps view (small, medium, large): a chart's height in CSS px,
// axes included. Pure (test/model/chart-size.test.ts).

export type ChartSize = "small" | "medium" | "large";

export const CHART_SIZES: readonly ChartSize[] = ["small", "medium", "large"];

const HEIGHTS: Record<ChartSize, number> = { small: 150, medium: 200, large: 320 };

/** A Steps chart's height (plot and axes) at a size; an unknown size is medium. */
export function chartHeight(size: ChartSize): number {
  return HEIGHTS[size] ?? HEIGHTS.medium;
}

/** A stored size, or medium when it is not one. */
export function chartSizeOf(v: unknown): ChartSize {
  return CHART_SIZES.includes(v as ChartSize) ? (v as ChartSize) : "medium";
}
