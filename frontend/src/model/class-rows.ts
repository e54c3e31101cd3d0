// How tall the rows of a per-class heatmap are and which rows are labelled: every class readable
// (18 px rows, each labelled) up to 20 classes; beyond, rows shrink so the map stays under about
// 400 px (never under 4 px) and every n-th class is labelled, labels at least 14 px apart.
// Pure (test/model/class-rows.test.ts).

export const LABEL_PX = 14;

export function classRows(classes: number): { rowPx: number; every: number; height: number } {
  const rowPx = classes <= 20 ? 18 : Math.max(4, Math.floor(400 / classes));
  const every = Math.max(1, Math.ceil(LABEL_PX / rowPx));
  return { rowPx, every, height: Math.max(56, classes * rowPx) };
}
