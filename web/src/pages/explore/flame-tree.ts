/**
 * The flamegraph's model: folded stacks (`comm;outer;…;inner` → samples) merged
 * into one tree, built once per profile load into flat typed arrays, then walked
 * per frame for drawing, hit testing and search. Walks prune at frames narrower
 * than a pixel (their children are narrower still), so a draw costs what is
 * visible, not the size of the profile. No DOM: unit-tested in web/test/explore/.
 */
import type { RouterOutputs } from "../../api/client.ts";

/** Folded stacks as `telemetry.profile` returns them. */
export type FoldedStack = RouterOutputs["telemetry"]["profile"]["stacks"][number];

/**
 * Node `0` is the root ("all samples"); every other node is one frame in one
 * calling context. Children are ordered by samples, most first (ties by name),
 * so that the busiest paths sit on the left and a walk can stop at the first
 * child narrower than a pixel.
 */
export type FlameTree = {
  size: number;
  names: string[];
  parent: Int32Array;
  depth: Int32Array;
  /** Samples in the frame and everything it called. */
  total: Float64Array;
  /** Samples in the frame itself (the leaf of a stack). */
  self: Float64Array;
  /** Offset of the frame's left edge from the root's, in samples. */
  start: Float64Array;
  children: number[][];
  /** Deepest depth (root = 0). */
  maxDepth: number;
};

/** The name of the root frame. */
export const ROOT_NAME = "all";
/** Distinct frame names a tree may hold (2^21); with up to 2^32 nodes the child key stays an exact integer. */
const NAME_SPACE = 2 ** 21;

/** Merge folded stacks into a tree. Empty frames (`a;;b`) are kept as "(empty)"; counts ≤ 0 are skipped. */
export function buildFlameTree(stacks: readonly FoldedStack[]): FlameTree {
  const names: string[] = [ROOT_NAME];
  const parent: number[] = [-1];
  const depth: number[] = [0];
  const total: number[] = [0];
  const self: number[] = [0];
  const children: number[][] = [[]];
  // Children are found through one map keyed by a number (parent id × 2^21 + name id): no
  // string is built per frame, and names are interned once (a profile repeats them a lot).
  const nameIds = new Map<string, number>();
  const index = new Map<number, number>();
  let maxDepth = 0;

  for (const { stack, count } of stacks) {
    if (!(count > 0)) continue;
    let node = 0;
    total[0]! += count;
    const frames = stack.split(";");
    for (let i = 0; i < frames.length; i++) {
      const name = frames[i] || "(empty)";
      let nameId = nameIds.get(name);
      if (nameId === undefined) nameIds.set(name, (nameId = nameIds.size));
      const key = node * NAME_SPACE + nameId;
      let child = index.get(key);
      if (child === undefined) {
        child = names.length;
        index.set(key, child);
        names.push(name);
        parent.push(node);
        depth.push(i + 1);
        total.push(0);
        self.push(0);
        children.push([]);
        children[node]!.push(child);
        if (i + 1 > maxDepth) maxDepth = i + 1;
      }
      total[child]! += count;
      node = child;
    }
    self[node]! += count;
  }

  const size = names.length;
  for (const list of children) list.sort((a, b) => total[b]! - total[a]! || (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));

  // Left edges, parents before children (iterative: stacks can be hundreds of frames deep).
  const start = new Float64Array(size);
  const todo = [0];
  while (todo.length > 0) {
    const node = todo.pop()!;
    let x = start[node]!;
    for (const child of children[node]!) {
      start[child] = x;
      x += total[child]!;
      todo.push(child);
    }
  }

  return {
    size,
    names,
    parent: Int32Array.from(parent),
    depth: Int32Array.from(depth),
    total: Float64Array.from(total),
    self: Float64Array.from(self),
    start,
    children,
    maxDepth,
  };
}

/**
 * Call `visit` for every frame visible when zoomed into `focus` on a canvas
 * `width` pixels wide: the focus's ancestors across the full width, the focus
 * and its descendants scaled so the focus fills the width. Frames narrower than
 * `minPx` are skipped with their subtrees. `x` and `w` are in pixels.
 */
export function forEachVisible(tree: FlameTree, focus: number, width: number, minPx: number, visit: (node: number, x: number, w: number, depth: number) => void): void {
  if (tree.total[0]! <= 0 || width <= 0) return;
  const f = focus >= 0 && focus < tree.size ? focus : 0;
  for (let a = tree.parent[f]!; a >= 0; a = tree.parent[a]!) visit(a, 0, width, tree.depth[a]!);
  const scale = width / tree.total[f]!;
  const origin = tree.start[f]!;
  const todo = [f];
  while (todo.length > 0) {
    const node = todo.pop()!;
    visit(node, (tree.start[node]! - origin) * scale, tree.total[node]! * scale, tree.depth[node]!);
    for (const child of tree.children[node]!) {
      // Sorted by samples: once one child is too narrow, so are the rest.
      if (tree.total[child]! * scale < minPx) break;
      todo.push(child);
    }
  }
}

/** The visible frames as a list (tests and small profiles; drawing uses {@link forEachVisible}). */
export function visibleFrames(tree: FlameTree, focus: number, width: number, minPx = 1): { node: number; x: number; w: number; depth: number }[] {
  const out: { node: number; x: number; w: number; depth: number }[] = [];
  forEachVisible(tree, focus, width, minPx, (node, x, w, depth) => out.push({ node, x, w, depth }));
  return out;
}

/** The frame at pixel `x` on row `row` (0 = root) when zoomed into `focus`, or -1. */
export function frameAt(tree: FlameTree, focus: number, width: number, x: number, row: number): number {
  if (tree.total[0]! <= 0 || x < 0 || x >= width || row < 0) return -1;
  const f = focus >= 0 && focus < tree.size ? focus : 0;
  const focusDepth = tree.depth[f]!;
  if (row <= focusDepth) {
    let a = f;
    while (tree.depth[a]! > row) a = tree.parent[a]!;
    return a;
  }
  const scale = width / tree.total[f]!;
  const origin = tree.start[f]!;
  let node = f;
  for (let d = focusDepth; d < row; d++) {
    let next = -1;
    for (const child of tree.children[node]!) {
      const left = (tree.start[child]! - origin) * scale;
      if (x >= left && x < left + tree.total[child]! * scale) {
        next = child;
        break;
      }
    }
    if (next < 0) return -1;
    node = next;
  }
  return node;
}

/** The frames from the root's child down to `node`, joined with `;` (a folded-stack prefix; "" for the root). */
export function pathOf(tree: FlameTree, node: number): string {
  const names: string[] = [];
  for (let n = node; n > 0; n = tree.parent[n]!) names.push(tree.names[n]!);
  return names.reverse().join(";");
}

/** The node a {@link pathOf} path names, or 0 (the root) when the profile has no such path any more. */
export function nodeByPath(tree: FlameTree, path: string): number {
  if (!path) return 0;
  let node = 0;
  for (const name of path.split(";")) {
    const next = tree.children[node]!.find((c) => tree.names[c] === name);
    if (next === undefined) return 0;
    node = next;
  }
  return node;
}

/** Frames whose name contains the query, and the share of samples under them. */
export type FlameSearch = {
  /** 1 for each node whose name matches. */
  matches: Uint8Array;
  /** Samples under matching frames, each counted once even when matches nest (a recursive function). */
  samples: number;
  /** `samples` over all samples, 0 to 1. */
  ratio: number;
};

/** Case-insensitive substring search over frame names; null for a blank query. */
export function searchFrames(tree: FlameTree, query: string): FlameSearch | null {
  const q = query.trim().toLowerCase();
  if (!q) return null;
  const matches = new Uint8Array(tree.size);
  for (let n = 1; n < tree.size; n++) if (tree.names[n]!.toLowerCase().includes(q)) matches[n] = 1;
  let samples = 0;
  // Count only outermost matches: a match's subtree is already in its total.
  const todo = [0];
  while (todo.length > 0) {
    const node = todo.pop()!;
    if (matches[node]) {
      samples += tree.total[node]!;
      continue;
    }
    for (const child of tree.children[node]!) todo.push(child);
  }
  const all = tree.total[0]!;
  return { matches, samples, ratio: all > 0 ? samples / all : 0 };
}

/** FNV-1a, 32 bits: a stable hash of a frame name, so a function keeps its colour across loads. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A warm colour per frame name (red → orange → yellow, light enough for dark
 * text, bright against the dark page); frames the symbolizer could not name
 * (`[unknown: …]`, `[lost stack…]`) and the "(other)" bucket are grey.
 */
export function frameColor(name: string): string {
  if (name.startsWith("[") || name === "(other)" || name === "(empty)") return "hsl(215, 10%, 52%)";
  const h = hashName(name);
  const hue = 4 + (h % 48);
  const light = 52 + ((h >>> 8) % 12);
  const sat = 70 + ((h >>> 16) % 20);
  return `hsl(${hue}, ${sat}%, ${light}%)`;
}

/**
 * A frame's label cut to fit `widthPx` at `charPx` per character (monospace),
 * with an ellipsis; "" when fewer than three characters would fit.
 */
export function fitLabel(name: string, widthPx: number, charPx: number, paddingPx = 6): string {
  const room = Math.floor((widthPx - paddingPx) / charPx);
  if (room >= name.length) return name;
  if (room < 3) return "";
  return `${name.slice(0, room - 1)}…`;
}
