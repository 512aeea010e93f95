import { createEffect, createMemo, createSignal, onCleanup, onMount, Show } from "solid-js";
import { formatSi } from "../../lib/format.ts";
import { isTyping } from "../../lib/shortcuts.ts";
import { fitLabel, forEachVisible, frameAt, frameColor, type FlameSearch, type FlameTree } from "./flame-tree.ts";

const ROW = 18;
const FONT = '11px ui-monospace, "SFMono-Regular", "JetBrains Mono", Menlo, Consolas, monospace';
/** Frames narrower than this are not drawn (nor their callees, narrower still). */
const MIN_FRAME_PX = 1;
/** Browsers refuse canvases taller than ~32k pixels; deeper stacks than this many rows are cut. */
const MAX_ROWS = Math.floor(30_000 / ROW);
const MATCH_COLOR = "#d53f8c";

function percent(part: number, whole: number): string {
  if (whole <= 0) return "0%";
  const p = (100 * part) / whole;
  return `${p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}

/**
 * A CPU flamegraph on a canvas, as an icicle (callers on top, callees below,
 * widths by samples). Hover shows a frame's samples and share; click zooms into
 * a frame (its callers stay on top, full width, dimmed) and clicking a caller
 * zooms back out to it; Esc zooms out to everything. With a search, matching
 * frames turn magenta and the rest fade. Only frames at least a pixel wide are
 * drawn, so a profile of thousands of stacks draws as fast as a small one.
 */
export function Flamegraph(props: {
  tree: FlameTree;
  /** The zoomed-into node (0 = everything). */
  focus: number;
  onFocus: (node: number) => void;
  search: FlameSearch | null;
  label: string;
}) {
  let box!: HTMLDivElement;
  let canvas!: HTMLCanvasElement;
  const [width, setWidth] = createSignal(0);
  const [hover, setHover] = createSignal(-1);
  const [tip, setTip] = createSignal<{ x: number; y: number } | null>(null);
  /** One colour per node, computed once per tree (hashing names on every draw would add up). */
  const colors = createMemo(() => props.tree.names.map(frameColor));
  const rows = () => Math.min(props.tree.maxDepth + 1, MAX_ROWS);
  let frame = 0;
  let charPx = 6.6;

  const draw = () => {
    frame = 0;
    const w = width();
    const ctx = canvas.getContext("2d");
    if (!ctx || w <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    const h = rows() * ROW;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    charPx = ctx.measureText("M").width || charPx;
    const tree = props.tree;
    const focusDepth = tree.depth[props.focus] ?? 0;
    const matches = props.search?.matches;
    const fill = colors();
    const hovered = hover();
    forEachVisible(tree, props.focus, w, MIN_FRAME_PX, (node, x, fw, depth) => {
      if (depth >= MAX_ROWS) return;
      const y = depth * ROW;
      const faded = (matches && !matches[node]) || depth < focusDepth;
      ctx.globalAlpha = faded ? (matches ? 0.28 : 0.55) : 1;
      ctx.fillStyle = matches && matches[node] ? MATCH_COLOR : fill[node]!;
      // A 1 px gap between frames (when they are wide enough to spare it) keeps neighbours apart.
      ctx.fillRect(x, y, fw > 3 ? fw - 1 : fw, ROW - 1);
      const label = fitLabel(tree.names[node]!, fw, charPx);
      if (label) {
        ctx.fillStyle = matches && matches[node] ? "#fff" : "#1a1006";
        ctx.fillText(label, x + 3, y + ROW / 2);
      }
      if (node === hovered) {
        ctx.globalAlpha = 1;
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x + 0.75, y + 0.75, Math.max(1, fw - 2.5), ROW - 2.5);
      }
    });
    ctx.globalAlpha = 1;
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };

  onMount(() => {
    setWidth(box.clientWidth);
    const resize = new ResizeObserver(() => setWidth(box.clientWidth));
    resize.observe(box);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !isTyping(e.target) && props.focus !== 0) props.onFocus(0);
    };
    window.addEventListener("keydown", onKey);
    onCleanup(() => {
      resize.disconnect();
      window.removeEventListener("keydown", onKey);
      if (frame) cancelAnimationFrame(frame);
    });
  });

  // Redraw on anything the picture depends on, at most once per animation frame.
  createEffect(() => {
    void [props.tree, props.focus, props.search, width(), hover(), colors()];
    schedule();
  });

  const nodeAt = (e: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    return frameAt(props.tree, props.focus, width(), e.clientX - r.left, Math.floor((e.clientY - r.top) / ROW));
  };

  const info = createMemo(() => {
    const n = hover();
    const t = props.tree;
    if (n < 0 || n >= t.size) return null;
    const all = t.total[0]!;
    const inFocus = t.total[props.focus] ?? all;
    return {
      name: t.names[n]!,
      total: t.total[n]!,
      self: t.self[n]!,
      ofAll: percent(t.total[n]!, all),
      ofFocus: props.focus > 0 && n !== props.focus && t.depth[n]! > t.depth[props.focus]! ? percent(t.total[n]!, inFocus) : null,
    };
  });

  return (
    <div ref={box} class="flamegraph">
      <canvas
        ref={canvas}
        tabindex="0"
        role="img"
        aria-label={`${props.label}: ${formatSi(props.tree.total[0] ?? 0)} samples. Click a frame to zoom in, Escape to zoom out.`}
        onMouseMove={(e) => {
          const n = nodeAt(e);
          setHover(n);
          const r = box.getBoundingClientRect();
          // The tip is positioned in the box's scrolled content: add what is scrolled away.
          setTip(n >= 0 ? { x: e.clientX - r.left, y: e.clientY - r.top + box.scrollTop } : null);
        }}
        onMouseLeave={() => (setHover(-1), setTip(null))}
        onClick={(e) => {
          const n = nodeAt(e);
          if (n >= 0) props.onFocus(n);
        }}
        style={{ cursor: hover() >= 0 ? "pointer" : "default" }}
      />
      <Show when={tip() && info()}>
        <div class="flame-tip" role="tooltip" style={{ left: `${Math.max(0, Math.min(tip()!.x + 14, width() - 320))}px`, top: `${tip()!.y + 16}px` }}>
          <div class="mono flame-tip-name">{info()!.name}</div>
          <div>
            {info()!.total.toLocaleString()} samples · {info()!.ofAll} of all
            {info()!.ofFocus ? ` · ${info()!.ofFocus} of the zoomed frame` : ""}
          </div>
          <Show when={info()!.self > 0}>
            <div class="muted">self: {info()!.self.toLocaleString()} samples ({percent(info()!.self, props.tree.total[0]!)})</div>
          </Show>
        </div>
      </Show>
    </div>
  );
}
