import { describe, expect, it } from "vitest";
import { NO_DATA, runsStatus, statusOfData } from "../../src/model/run-status";

const run = (name: string) => ({ run: name, tags: [] }) as any;

describe("runsStatus", () => {
  it("says indexing while the server indexes, with the runs listed so far", () => {
    expect(runsStatus({ runs: [], indexing: true })).toBe("indexing…");
    expect(runsStatus({ runs: [run("a")], indexing: true })).toBe("indexing… (1 run so far)");
    expect(runsStatus({ runs: [run("a"), run("b")], indexing: true, corrupt_records: 3 }))
      .toBe("indexing… (2 runs so far); 3 corrupt records skipped");
  });

  it("says there is no data only once indexing is done", () => {
    expect(runsStatus({ runs: [], indexing: false })).toBe(NO_DATA);
    expect(runsStatus({ runs: [] })).toBe(NO_DATA);
    expect(runsStatus({ runs: [run("a")], corrupt_records: 2 })).toBe("2 corrupt records skipped");
    expect(runsStatus({ runs: [run("a")], indexing: false })).toBe("");
  });

  it("keeps statuses about the data when charts are drawn", () => {
    expect(statusOfData("indexing… (2 runs so far)")).toBe(true);
    expect(statusOfData("2 corrupt records skipped")).toBe(true);
    expect(statusOfData("No charts: select a run")).toBe(false);
  });
});
