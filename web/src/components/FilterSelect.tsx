import { For } from "solid-js";

/**
 * A filter in a panel's header: "any" (the empty value) or one of `options`,
 * shown through `optionLabel`. Each option marks itself selected when it is the
 * value, so a value read from the URL shows even though it is set before the
 * options exist.
 */
export function FilterSelect(props: { id: string; label: string; value: string; onChange: (value: string) => void; options: readonly string[]; optionLabel?: (value: string) => string }) {
  return (
    <div class="field field-inline">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">any</option>
        <For each={props.options}>
          {(o) => (
            <option value={o} selected={o === props.value}>
              {props.optionLabel ? props.optionLabel(o) : o}
            </option>
          )}
        </For>
      </select>
    </div>
  );
}
