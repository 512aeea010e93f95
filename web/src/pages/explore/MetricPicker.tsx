import { createEffect, createMemo, createSignal, createUniqueId, For, Show } from "solid-js";
import { filterMetrics, type CatalogMetric } from "./metric-catalog.ts";

/** Most options rendered at once: the catalog can hold thousands of metrics; typing narrows it. */
const MAX_OPTIONS = 200;

/**
 * A metric picker over the catalog (a combobox): type to filter (every word must
 * occur in the name), arrows move, Enter picks, Esc closes and restores the
 * current metric. Each option shows the metric's kind, unit, series and agents.
 */
export function MetricPicker(props: {
  label: string;
  catalog: readonly CatalogMetric[];
  /** The picked metric's name ("" for none). */
  value: string;
  onPick: (metric: CatalogMetric) => void;
  placeholder?: string;
}) {
  const id = createUniqueId();
  const [text, setText] = createSignal(props.value);
  const [open, setOpen] = createSignal(false);
  const [active, setActive] = createSignal(0);
  let input!: HTMLInputElement;
  let list: HTMLUListElement | undefined;

  // Follow the picked metric (URL, back/forward) unless the user is typing.
  createEffect(() => {
    const v = props.value;
    if (document.activeElement !== input) setText(v);
  });

  // While the text is still the picked metric, show the whole catalog: the user opened the list to browse.
  const query = () => (text() === props.value ? "" : text());
  const matches = createMemo(() => filterMetrics(props.catalog, query()));
  const shown = createMemo(() => matches().slice(0, MAX_OPTIONS));

  createEffect(() => {
    // A new filter starts at the first match, or at the picked metric when browsing.
    const items = shown();
    const picked = query() === "" ? items.findIndex((m) => m.metric === props.value) : -1;
    setActive(Math.max(0, picked));
  });

  createEffect(() => {
    if (!open()) return;
    const el = list?.querySelector<HTMLElement>(`#${CSS.escape(`${id}-opt-${active()}`)}`);
    el?.scrollIntoView({ block: "nearest" });
  });

  const pick = (m: CatalogMetric | undefined) => {
    if (!m) return;
    props.onPick(m);
    setText(m.metric);
    setOpen(false);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const n = shown().length;
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        if (!open()) setOpen(true);
        else if (n) setActive((active() + 1) % n);
        break;
      case "ArrowUp":
        e.preventDefault();
        if (!open()) setOpen(true);
        else if (n) setActive((active() - 1 + n) % n);
        break;
      case "PageDown":
        if (open() && n) (e.preventDefault(), setActive(Math.min(n - 1, active() + 10)));
        break;
      case "PageUp":
        if (open() && n) (e.preventDefault(), setActive(Math.max(0, active() - 10)));
        break;
      case "Enter":
        if (open()) {
          e.preventDefault();
          pick(shown()[active()]);
        }
        break;
      case "Escape":
        if (open()) {
          // Close the list only; a second Esc leaves the field (the app's shortcut).
          e.stopPropagation();
          setOpen(false);
          setText(props.value);
        }
        break;
    }
  };

  return (
    <div class="field metric-picker">
      <label for={id}>{props.label}</label>
      <input
        ref={input}
        id={id}
        class="mono"
        type="text"
        role="combobox"
        spellcheck={false}
        autocomplete="off"
        aria-autocomplete="list"
        aria-expanded={open()}
        aria-controls={`${id}-list`}
        aria-activedescendant={open() && shown().length ? `${id}-opt-${active()}` : undefined}
        placeholder={props.placeholder ?? "type to filter metrics"}
        value={text()}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setOpen(true);
        }}
        onFocus={(e) => e.currentTarget.select()}
        onClick={() => setOpen(true)}
        onKeyDown={onKeyDown}
        onBlur={() => {
          setOpen(false);
          setText(props.value);
        }}
      />
      <Show when={open()}>
        <ul ref={list} id={`${id}-list`} class="metric-picker-list" role="listbox" aria-label={props.label}>
          <For each={shown()} fallback={<li class="metric-picker-none">No metric matches “{text()}”.</li>}>
            {(m, i) => (
              <li
                id={`${id}-opt-${i()}`}
                role="option"
                class="metric-option"
                aria-selected={i() === active()}
                data-picked={m.metric === props.value}
                // mousedown, not click: the input's blur (which closes the list) comes before click.
                onMouseDown={(e) => (e.preventDefault(), pick(m))}
                onMouseMove={() => setActive(i())}
              >
                <span class="mono metric-option-name">{m.metric}</span>
                <span class="metric-option-meta">
                  <span class="metric-kind" data-kind={m.kind}>
                    {m.kind}
                  </span>
                  <Show when={m.unit}>
                    <span>{m.unit}</span>
                  </Show>
                  <span>
                    {m.series} series · {m.agents} {m.agents === 1 ? "agent" : "agents"}
                  </span>
                </span>
              </li>
            )}
          </For>
          <Show when={matches().length > MAX_OPTIONS}>
            <li class="metric-picker-none">
              {matches().length - MAX_OPTIONS} more: type to narrow.
            </li>
          </Show>
        </ul>
      </Show>
    </div>
  );
}
