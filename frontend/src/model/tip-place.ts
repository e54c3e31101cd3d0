// Where the charts' tooltip goes: next to the pointer and inside the chart's card (clipped to
// the window), so it never covers the neighbouring chart. Pure (test/model/tip-place.test.ts).

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The tooltip's top-left for a pointer at (x, y): below and right of it; on the other side of
 * the pointer where it would leave `box`; pushed inside where neither side fits (and to the
 * box's top-left when larger than the box). */
export function placeTip(x: number, y: number, w: number, h: number, box: Box): { left: number; top: number } {
  const side = (p: number, size: number, lo: number, hi: number, gap: number) => {
    if (p + gap + size <= hi) return p + gap;
    if (p - gap - size >= lo) return p - gap - size;
    return Math.max(lo, hi - size);
  };
  return { left: side(x, w, box.left, box.right, 16), top: side(y, h, box.top, box.bottom, 14) };
}

/** `a` inside `b` (the card's box inside the window), less a margin. */
export function insideBox(a: Box, b: Box, margin = 4): Box {
  return {
    left: Math.max(a.left, b.left + margin), top: Math.max(a.top, b.top + margin),
    right: Math.min(a.right, b.right - margin), bottom: Math.min(a.bottom, b.bottom - margin),
  };
}
