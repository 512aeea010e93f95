import { createMemo, createUniqueId, Show } from "solid-js";
import { tryParseSelector, type SelectorSyntaxErrorInfo } from "@probepilot/shared";

/**
 * A label selector field that checks the text as it is typed, with the same
 * parser the control plane uses, and shows the error under the field with a
 * caret at the offending position. `onValid` only sees text that parses.
 */
export function SelectorInput(props: {
  label?: string;
  value: string;
  onInput: (text: string) => void;
  /** Called with the text whenever it parses (e.g. to refresh a match count). */
  onValid?: (text: string) => void;
  placeholder?: string;
  id?: string;
  autofocus?: boolean;
  /** The field `/` focuses on this page. */
  search?: boolean;
}) {
  const id = props.id ?? createUniqueId();
  const error = createMemo((): SelectorSyntaxErrorInfo | null => {
    const r = tryParseSelector(props.value);
    return r.ok ? null : r.error;
  });
  return (
    <div class="field selector-field" classList={{ invalid: !!error() }}>
      <label for={id}>{props.label ?? "Selector"}</label>
      <input
        id={id}
        class="mono"
        type="text"
        spellcheck={false}
        autocomplete="off"
        autofocus={props.autofocus}
        data-search={props.search ? "" : undefined}
        placeholder={props.placeholder ?? "env=prod, kernel.major>=6, region in (eu, us)"}
        value={props.value}
        aria-invalid={!!error()}
        aria-describedby={`${id}-error`}
        onInput={(e) => {
          const text = e.currentTarget.value;
          props.onInput(text);
          if (tryParseSelector(text).ok) props.onValid?.(text);
        }}
      />
      <Show when={error()}>
        {(err) => (
          <div id={`${id}-error`} class="field-error" role="alert">
            <pre class="mono caret" aria-hidden="true">{`${props.value}\n${" ".repeat(err().position)}^`}</pre>
            <span>
              expected {err().expected}, found {err().found}
            </span>
          </div>
        )}
      </Show>
    </div>
  );
}
