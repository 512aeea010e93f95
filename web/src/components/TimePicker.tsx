import { For, Show, onCleanup, onMount } from "solid-js";
import { isTyping } from "../lib/shortcuts.ts";
import { LIVE_WINDOWS, formatDuration, resolveRange, type TimeRange } from "../lib/time-range.ts";
import { formatTime } from "../lib/format.ts";

/**
 * Live windows (5m … 24h) and a pause button: pausing freezes the current
 * window as a fixed range (charts stop moving, the URL holds from/to), "Live"
 * goes back to following now. Keyboard: `space` toggles live/paused on pages with charts.
 */
export function TimePicker(props: { range: TimeRange; onChange: (range: TimeRange) => void }) {
  const windowMs = () => (props.range.kind === "live" ? props.range.windowMs : props.range.to - props.range.from);
  const toggle = () => {
    if (props.range.kind === "live") props.onChange({ kind: "fixed", ...resolveRange(props.range) });
    else props.onChange({ kind: "live", windowMs: windowMs() });
  };
  onMount(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== " " || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
      // A focused control reacts to space itself (a button presses, a row opens): let it, rather than toggling as well.
      const el = e.target as HTMLElement | null;
      if (el && el !== document.body && el.closest("button, a, summary, [role=tab], [role=option], [tabindex]:not(main)")) return;
      e.preventDefault();
      toggle();
    };
    window.addEventListener("keydown", onKey);
    onCleanup(() => window.removeEventListener("keydown", onKey));
  });
  return (
    <div class="time-picker" role="group" aria-label="Time range">
      <For each={LIVE_WINDOWS}>
        {(w) => (
          <button
            type="button"
            class="btn btn-small"
            aria-pressed={props.range.kind === "live" && props.range.windowMs === w.ms}
            onClick={() => props.onChange({ kind: "live", windowMs: w.ms })}
          >
            {w.label}
          </button>
        )}
      </For>
      <button type="button" class="btn btn-small live-toggle" data-live={props.range.kind === "live"} aria-keyshortcuts="Space" onClick={toggle} title="Space: pause or go live">
        {props.range.kind === "live" ? "❚❚ Pause" : "● Live"}
      </button>
      <Show when={props.range.kind === "fixed" && props.range}>
        {(r) => (
          <span class="time-picker-range mono" title={`${formatDuration(r().to - r().from)} window`}>
            {formatTime(r().from)} → {formatTime(r().to)}
          </span>
        )}
      </Show>
    </div>
  );
}
