import { For, Show, createMemo } from "solid-js";
import { labelChips } from "./agent-labels.ts";

/**
 * Labels as compact `key=value` chips, at most `max` of them and a "+n" chip whose
 * tooltip lists the rest. With `onPick`, each chip is a button (e.g. "filter by this label").
 */
export function LabelChips(props: { labels: Record<string, string>; max?: number; hide?: readonly string[]; onPick?: (key: string, value: string) => void; pickTitle?: string }) {
  const chips = createMemo(() => labelChips(props.labels, props.max ?? 4, props.hide));
  return (
    <span class="labels">
      <For each={chips().shown}>
        {([key, value]) => (
          <Show
            when={props.onPick}
            fallback={
              <span class="label-chip" title={`${key}=${value}`}>
                {key}=<b>{value}</b>
              </span>
            }
          >
            {(pick) => (
              <button type="button" class="label-chip label-chip-button" title={props.pickTitle ?? `${key}=${value}`} onClick={(e) => (e.stopPropagation(), pick()(key, value))}>
                {key}=<b>{value}</b>
              </button>
            )}
          </Show>
        )}
      </For>
      <Show when={chips().hidden.length > 0}>
        <span class="label-chip label-more" title={chips().hidden.map(([k, v]) => `${k}=${v}`).join("\n")}>
          +{chips().hidden.length}
        </span>
      </Show>
    </span>
  );
}
