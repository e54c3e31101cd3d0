// The tooltip's place inside the chart's card (src/model/tip-place.ts).
import { describe, expect, it } from "vitest";
import { insideBox, placeTip } from "../../src/model/tip-place";

const card = { left: 100, top: 50, right: 540, bottom: 300 };

describe("tooltip placement", () => {
  it("below and right of the pointer when it fits in the card", () => {
    expect(placeTip(150, 80, 120, 60, card)).toEqual({ left: 166, top: 94 });
  });
  it("flips to the left and above near the card's right and bottom edges", () => {
    expect(placeTip(500, 280, 120, 60, card)).toEqual({ left: 364, top: 206 });
  });
  it("never leaves the card when neither side fits", () => {
    const p = placeTip(320, 170, 300, 200, card);
    expect(p.left).toBeGreaterThanOrEqual(card.left);
    expect(p.left + 300).toBeLessThanOrEqual(card.right);
    expect(p.top).toBe(card.bottom - 200);
    expect(placeTip(320, 170, 600, 400, card)).toEqual({ left: 100, top: 50 });
  });
  it("the card's box is clipped to the window", () => {
    expect(insideBox(card, { left: 0, top: 0, right: 400, bottom: 1000 })).toEqual({ left: 100, top: 50, right: 396, bottom: 300 });
  });
});
