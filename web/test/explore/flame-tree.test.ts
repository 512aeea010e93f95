import { describe, expect, it } from "vitest";
import { buildFlameTree, fitLabel, forEachVisible, frameAt, frameColor, nodeByPath, pathOf, searchFrames, visibleFrames } from "../../src/pages/explore/flame-tree.ts";

const STACKS = [
  { stack: "app;main;work;hash", count: 6 },
  { stack: "app;main;work", count: 2 },
  { stack: "app;main;idle", count: 1 },
  { stack: "db;main;query", count: 3 },
];

const byName = (tree: ReturnType<typeof buildFlameTree>, path: string) => nodeByPath(tree, path);

describe("buildFlameTree", () => {
  it("merges stacks into totals and self counts per calling context", () => {
    const tree = buildFlameTree(STACKS);
    expect(tree.total[0]).toBe(12);
    expect(tree.maxDepth).toBe(4);
    const work = byName(tree, "app;main;work");
    expect(tree.total[work]).toBe(8);
    expect(tree.self[work]).toBe(2);
    expect(tree.self[byName(tree, "app;main;work;hash")]).toBe(6);
    // "main" under app and under db are different frames (different callers).
    expect(byName(tree, "app;main")).not.toBe(byName(tree, "db;main"));
    expect(tree.total[byName(tree, "db;main")]).toBe(3);
  });

  it("orders children by samples, busiest first, and lays them out left to right", () => {
    const tree = buildFlameTree(STACKS);
    const app = byName(tree, "app");
    const db = byName(tree, "db");
    expect(tree.children[0]).toEqual([app, db]);
    expect(tree.start[app]).toBe(0);
    expect(tree.start[db]).toBe(9);
    const idle = byName(tree, "app;main;idle");
    expect(tree.start[idle]).toBe(8); // after work's 8 samples
  });

  it("skips empty counts, names empty frames and survives deep stacks", () => {
    const deep = Array.from({ length: 5000 }, (_, i) => `f${i}`).join(";");
    const tree = buildFlameTree([
      { stack: "a;;b", count: 1 },
      { stack: "zero", count: 0 },
      { stack: deep, count: 2 },
    ]);
    expect(tree.total[0]).toBe(3);
    expect(pathOf(tree, byName(tree, "a;(empty);b"))).toBe("a;(empty);b");
    expect(nodeByPath(tree, "zero")).toBe(0);
    expect(tree.maxDepth).toBe(5000);
  });
});

describe("visible frames and hit testing", () => {
  it("scales the whole profile to the width", () => {
    const tree = buildFlameTree(STACKS);
    const frames = visibleFrames(tree, 0, 1200);
    const app = frames.find((f) => f.node === byName(tree, "app"))!;
    const db = frames.find((f) => f.node === byName(tree, "db"))!;
    expect(app).toMatchObject({ x: 0, w: 900, depth: 1 });
    expect(db).toMatchObject({ x: 900, w: 300, depth: 1 });
    expect(frames).toHaveLength(tree.size);
  });

  it("zooms into a frame: ancestors full width, the frame and its subtree fill the width", () => {
    const tree = buildFlameTree(STACKS);
    const work = byName(tree, "app;main;work");
    const frames = visibleFrames(tree, work, 800);
    const nodes = new Set(frames.map((f) => f.node));
    expect(nodes.has(byName(tree, "db"))).toBe(false);
    expect(nodes.has(byName(tree, "app;main;idle"))).toBe(false);
    expect(frames.find((f) => f.node === 0)).toMatchObject({ x: 0, w: 800 });
    expect(frames.find((f) => f.node === work)).toMatchObject({ x: 0, w: 800, depth: 3 });
    expect(frames.find((f) => f.node === byName(tree, "app;main;work;hash"))).toMatchObject({ x: 0, w: 600 });
  });

  it("prunes frames narrower than the minimum width, with their subtrees", () => {
    // One busy stack and 10,000 one-sample stacks: at 1000 px each of those is 0.05 px wide.
    const stacks = [{ stack: "busy;loop", count: 100_000 }, ...Array.from({ length: 10_000 }, (_, i) => ({ stack: `rare${i};x;y`, count: 1 }))];
    const tree = buildFlameTree(stacks);
    let visited = 0;
    forEachVisible(tree, 0, 1000, 1, () => visited++);
    expect(visited).toBe(3); // root, busy, loop
    expect(tree.size).toBe(3 + 30_000);
  });

  it("finds the frame under the pointer, ancestors included when zoomed", () => {
    const tree = buildFlameTree(STACKS);
    expect(frameAt(tree, 0, 1200, 100, 0)).toBe(0);
    expect(frameAt(tree, 0, 1200, 100, 1)).toBe(byName(tree, "app"));
    expect(frameAt(tree, 0, 1200, 1000, 3)).toBe(byName(tree, "db;main;query"));
    expect(frameAt(tree, 0, 1200, 850, 3)).toBe(byName(tree, "app;main;idle"));
    expect(frameAt(tree, 0, 1200, 850, 4)).toBe(-1); // idle has no children
    expect(frameAt(tree, 0, 1200, 1300, 1)).toBe(-1);
    const work = byName(tree, "app;main;work");
    expect(frameAt(tree, work, 800, 700, 1)).toBe(byName(tree, "app")); // an ancestor, full width
    expect(frameAt(tree, work, 800, 700, 4)).toBe(-1); // past hash (600 px): work's self time
    expect(frameAt(tree, work, 800, 100, 4)).toBe(byName(tree, "app;main;work;hash"));
  });

  it("round-trips a frame's path (the zoom in the URL) and falls back to the root", () => {
    const tree = buildFlameTree(STACKS);
    const hash = byName(tree, "app;main;work;hash");
    expect(pathOf(tree, hash)).toBe("app;main;work;hash");
    expect(nodeByPath(tree, pathOf(tree, hash))).toBe(hash);
    expect(nodeByPath(tree, "app;nothing")).toBe(0);
    expect(pathOf(tree, 0)).toBe("");
  });
});

describe("searchFrames", () => {
  it("flags matching frames and counts nested matches once", () => {
    const tree = buildFlameTree([
      { stack: "a;recurse;recurse;leaf", count: 4 },
      { stack: "a;other", count: 6 },
    ]);
    const found = searchFrames(tree, "RECURSE")!;
    expect(found.samples).toBe(4);
    expect(found.ratio).toBeCloseTo(0.4);
    expect(found.matches[byName(tree, "a;recurse")]).toBe(1);
    expect(found.matches[byName(tree, "a;recurse;recurse")]).toBe(1);
    expect(found.matches[byName(tree, "a;other")]).toBe(0);
  });

  it("counts separate matching subtrees and returns null for a blank query", () => {
    const tree = buildFlameTree(STACKS);
    expect(searchFrames(tree, "main")!.samples).toBe(12);
    expect(searchFrames(tree, "nothing-like-it")!.ratio).toBe(0);
    expect(searchFrames(tree, "  ")).toBeNull();
  });
});

describe("labels and colours", () => {
  it("fits a label to the frame width with an ellipsis", () => {
    expect(fitLabel("do_syscall_64", 200, 7)).toBe("do_syscall_64");
    expect(fitLabel("do_syscall_64", 6 + 7 * 6, 7)).toBe("do_sy…");
    expect(fitLabel("do_syscall_64", 20, 7)).toBe("");
  });

  it("colours a name the same every time, warm, and unknown frames grey", () => {
    expect(frameColor("memcpy")).toBe(frameColor("memcpy"));
    const hue = Number(/^hsl\((\d+)/.exec(frameColor("memcpy"))![1]);
    expect(hue).toBeGreaterThanOrEqual(0);
    expect(hue).toBeLessThanOrEqual(60);
    expect(frameColor("[unknown: process exited]")).toBe(frameColor("(other)"));
  });
});
