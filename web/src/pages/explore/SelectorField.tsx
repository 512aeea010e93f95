import { createEffect, createSignal, on } from "solid-js";
import { SelectorInput } from "../../components/SelectorInput.tsx";

/**
 * A SelectorInput whose text may be invalid while typed (the error shows under
 * it) but which hands only valid selectors on, so the URL and the queries never
 * see a half-typed one. Follows `value` when it changes from outside (back/forward).
 */
export function SelectorField(props: { label: string; value: string; onChange: (selector: string) => void; placeholder?: string; search?: boolean }) {
  const [draft, setDraft] = createSignal(props.value);
  createEffect(on(() => props.value, (v) => setDraft(v), { defer: true }));
  return <SelectorInput label={props.label} value={draft()} onInput={setDraft} onValid={props.onChange} placeholder={props.placeholder} search={props.search} />;
}

/** The agent selector every Explore tab shares (the page keeps it in the URL); `/` focuses it. */
export function AgentSelectorField(props: { value: string; onChange: (selector: string) => void }) {
  return <SelectorField label="Selector" value={props.value} onChange={props.onChange} search placeholder="all agents · env=prod, region in (eu, us)" />;
}

/** A selector as the API takes it: blank means "no filter", sent as undefined. */
export function selectorOrUndefined(text: string): string | undefined {
  return text.trim() === "" ? undefined : text.trim();
}
