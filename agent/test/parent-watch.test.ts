import { describe, expect, it } from "vitest";
import { watchParent } from "../src/parent-watch.ts";

describe("watchParent", () => {
  it("reports at once when the given pid is not (or no longer) this process's parent", async () => {
    const gone = await new Promise<number>((resolve) => watchParent(process.ppid + 100_000, resolve, 60_000));
    expect(gone).toBe(process.ppid + 100_000);
  });

  it("stays quiet while the parent is there", async () => {
    let fired = false;
    const stop = watchParent(process.ppid, () => (fired = true), 10);
    await new Promise((r) => setTimeout(r, 60));
    stop();
    expect(fired).toBe(false);
  });
});
