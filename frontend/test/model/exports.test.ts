// CSV download links (src/model/exports.ts).
import { describe, expect, it } from "vitest";
import { exportFileName, exportHref } from "../../src/model/exports";

describe("export", () => {
  it("builds an escaped relative link and a safe file name", () => {
    expect(exportHref("<img src=x>", "loss")).toBe("export?run=%3Cimg+src%3Dx%3E&tag=loss&format=csv");
    expect(exportFileName("train/a b", "loss/x")).toBe("train_a_b__loss_x.csv");
    expect(exportFileName("///", "t")).toBe("x__t.csv");
  });
});
