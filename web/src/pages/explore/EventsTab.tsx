import { A } from "@solidjs/router";
import { createEffect, createMemo, createSignal, createUniqueId, For, on, onCleanup, Show } from "solid-js";
import { PROBE_KINDS } from "@probepilot/shared";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { Panel } from "../../components/Page.tsx";
import { Empty, ErrorState, Loading } from "../../components/StateViews.tsx";
import { useUrlParam } from "../../lib/url-state.ts";
import { formatTime } from "../../lib/format.ts";
import { resolveRange, type TimeRange } from "../../lib/time-range.ts";
import { AgentSelectorField, selectorOrUndefined } from "./SelectorField.tsx";
import { useMatchingAgents } from "./use-matching-agents.ts";
import { attrText, formatAttrFilters, mergeEvents, parseAttrFilters, refreshEvents, type AttrValue } from "./event-filters.ts";

type EventItem = RouterOutputs["telemetry"]["events"]["items"][number];

const PAGE_SIZE = 100;
/** Events have no live stream: while live, the newest page is fetched again this often. */
const REFRESH_MS = 5000;
/** Attribute chips shown in the collapsed row; the rest show when the row is expanded. */
const CHIPS = 6;

/** "14:03:07.123": events are often milliseconds apart. */
function eventTime(ts: number): string {
  return `${formatTime(ts)}.${String(ts % 1000).padStart(3, "0")}`;
}

/**
 * The Events tab: the event log (execs, exits, TCP flows, file opens, OOM kills…)
 * newest first, filtered by name, probe, agents and attribute values, paged with
 * "Older" (keyset cursor) and refreshed while live. A row opens to show every
 * attribute, each of which can become a filter. URL: `ename`, `eprobe`, `attrs`.
 */
export function EventsTab(props: { range: TimeRange; selector: string; onSelector: (s: string) => void }) {
  const [name, setName] = useUrlParam("ename", "");
  const [probe, setProbe] = useUrlParam("eprobe", "");
  const [attrsParam, setAttrsParam] = useUrlParam("attrs", "");
  const [attrsDraft, setAttrsDraft] = createSignal(attrsParam());
  createEffect(on(attrsParam, (v) => setAttrsDraft(v), { defer: true }));
  const attrsParse = createMemo(() => parseAttrFilters(attrsDraft()));
  const attrsId = createUniqueId();
  const live = () => props.range.kind === "live";

  // Hostnames for the Host column: a nicety, rows fall back to the agent id.
  const agents = useMatchingAgents(() => props.selector, 500);
  const hostnames = createMemo(() => new Map((agents.data()?.items ?? []).map((a) => [a.id, a.hostname])));
  const hostname = (id: string) => hostnames().get(id);

  const [items, setItems] = createSignal<EventItem[]>([]);
  const [cursor, setCursor] = createSignal<string | null>(null);
  const [loaded, setLoaded] = createSignal(false);
  const [error, setError] = createSignal<unknown>(null);
  const [busy, setBusy] = createSignal<"first" | "older" | "refresh" | null>(null);
  const [updatedAt, setUpdatedAt] = createSignal<number | null>(null);
  const [expanded, setExpanded] = createSignal<ReadonlySet<number>>(new Set());
  const seenNames = createMemo(() => [...new Set(items().map((e) => e.name))].sort());

  /** The query without paging, or null while the attribute filter does not parse. */
  const query = createMemo(() => {
    const parsed = parseAttrFilters(attrsParam());
    if (!parsed.ok) return null;
    return {
      name: name() || undefined,
      probe: probe() || undefined,
      agentSelector: selectorOrUndefined(props.selector),
      attrs: Object.keys(parsed.attrs).length ? parsed.attrs : undefined,
      range: props.range,
    };
  });
  const queryKey = createMemo(() => JSON.stringify(query()));
  let generation = 0;

  const fetchPage = (after: string | null) => {
    const q = query();
    if (!q) return Promise.reject(new Error("fix the attribute filter first"));
    const { range, ...filters } = q;
    const { from, to } = resolveRange(range);
    return api.telemetry.events.query({ ...filters, from, to, limit: PAGE_SIZE, cursor: after ?? undefined });
  };

  const load = (mode: "first" | "older" | "refresh") => {
    if (mode === "first") {
      generation++;
      setItems([]);
      setCursor(null);
      setLoaded(false);
      setError(null);
      setExpanded(new Set<number>());
    }
    const gen = generation;
    setBusy(mode);
    fetchPage(mode === "older" ? cursor() : null)
      .then((page) => {
        if (gen !== generation) return;
        if (mode === "older") {
          setItems(mergeEvents(items(), page.items));
          setCursor(page.nextCursor);
        } else if (mode === "refresh") {
          const next = refreshEvents({ items: items(), cursor: cursor() }, page);
          setItems(next.items);
          setCursor(next.cursor);
        } else {
          setItems(page.items);
          setCursor(page.nextCursor);
        }
        setLoaded(true);
        setError(null);
        setUpdatedAt(Date.now());
      })
      .catch((err: unknown) => gen === generation && setError(err))
      .finally(() => gen === generation && setBusy(null));
  };

  createEffect(on(queryKey, () => load("first")));
  const timer = setInterval(() => {
    if (live() && loaded() && !busy() && !document.hidden && query()) load("refresh");
  }, REFRESH_MS);
  onCleanup(() => (clearInterval(timer), generation++));

  const toggle = (id: number) => {
    const next = new Set(expanded());
    if (!next.delete(id)) next.add(id);
    setExpanded(next);
  };
  const addFilter = (key: string, value: AttrValue) => {
    const parsed = parseAttrFilters(attrsParam());
    const attrs = parsed.ok ? { ...parsed.attrs } : {};
    attrs[key] = value;
    setAttrsParam(formatAttrFilters(attrs));
  };

  return (
    <div class="explore-events">
      <Panel>
        <div class="toolbar explore-toolbar">
          <div class="field events-name">
            <label for="explore-event-name">Event</label>
            <input
              id="explore-event-name"
              class="mono"
              list="explore-event-names"
              value={name()}
              placeholder="any · process_exec"
              spellcheck={false}
              autocomplete="off"
              // Committed on Enter or leaving the field: a half-typed name would match nothing.
              onChange={(e) => setName(e.currentTarget.value.trim())}
            />
            <datalist id="explore-event-names">
              <For each={seenNames()}>{(n) => <option value={n} />}</For>
            </datalist>
          </div>
          <div class="field">
            <label for="explore-event-probe">Probe</label>
            <select id="explore-event-probe" value={probe()} onChange={(e) => setProbe(e.currentTarget.value)}>
              <option value="">any</option>
              <For each={PROBE_KINDS}>{(k) => <option value={k}>{k}</option>}</For>
            </select>
          </div>
          <AgentSelectorField value={props.selector} onChange={props.onSelector} />
          <div class="field attrs-field" classList={{ invalid: !attrsParse().ok }}>
            <label for={attrsId}>Attributes</label>
            <input
              id={attrsId}
              class="mono"
              value={attrsDraft()}
              placeholder={'comm=bash, pid=1234, path="/etc/passwd"'}
              spellcheck={false}
              autocomplete="off"
              aria-invalid={!attrsParse().ok}
              aria-describedby={`${attrsId}-error`}
              onInput={(e) => setAttrsDraft(e.currentTarget.value)}
              onChange={(e) => parseAttrFilters(e.currentTarget.value).ok && setAttrsParam(e.currentTarget.value.trim())}
            />
            <Show when={!attrsParse().ok && attrsParse()}>
              {(err) => {
                const e = () => err() as { message: string; position: number };
                return (
                  <div id={`${attrsId}-error`} class="field-error" role="alert">
                    <pre class="mono caret" aria-hidden="true">{`${attrsDraft()}\n${" ".repeat(e().position)}^`}</pre>
                    <span>{e().message}</span>
                  </div>
                );
              }}
            </Show>
          </div>
        </div>
        <p class="muted explore-note">
          Attribute values are typed: <code>pid=42</code> matches the number, <code>port="80"</code> the text. Press Enter to apply.{" "}
          {live() ? `While live, new events are fetched every ${REFRESH_MS / 1000} s.` : ""}
        </p>
      </Panel>

      <Panel
        title="Events"
        actions={
          <span class="muted">
            {loaded() ? `${items().length}${cursor() ? "+" : ""} events${updatedAt() ? ` · as of ${formatTime(updatedAt()!)}` : ""}` : ""}
            <Show when={busy() === "refresh"}>
              {" "}
              <span class="spinner" aria-hidden="true" />
            </Show>
          </span>
        }
      >
        <Show when={!error() || loaded()} fallback={<ErrorState error={error()} retry={() => load("first")} what="events" />}>
          <Show when={loaded()} fallback={<Loading what="events" />}>
            <Show when={error()}>
              <div class="notice">Loading failed: {errorMessage(error())}. Showing what was loaded before.</div>
            </Show>
            <Show when={items().length > 0} fallback={<NoEvents filtered={!!(name() || probe() || attrsParam() || props.selector)} />}>
              <div class="scroll events-table">
                <table aria-label="Events">
                  <thead>
                    <tr>
                      <th>Time</th>
                      <th>Host</th>
                      <th>Probe</th>
                      <th>Event</th>
                      <th>Attributes</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={items()}>
                      {(e) => {
                        const open = () => expanded().has(e.id);
                        const entries = Object.entries(e.attrs);
                        return (
                          <>
                            <tr
                              class="event-row"
                              tabindex="0"
                              aria-expanded={open()}
                              onClick={() => toggle(e.id)}
                              onKeyDown={(k) => {
                                if (k.key === "Enter" || k.key === " ") (k.preventDefault(), toggle(e.id));
                              }}
                            >
                              <td class="mono nowrap" title={new Date(e.ts).toISOString()}>
                                {eventTime(e.ts)}
                              </td>
                              <td class="nowrap">
                                <A href={`/agents/${e.agentId}`} onClick={(ev) => ev.stopPropagation()}>
                                  {hostname(e.agentId) ?? e.agentId}
                                </A>
                              </td>
                              <td class="mono">{e.probe}</td>
                              <td class="mono">{e.name}</td>
                              <td class="attrs-cell">
                                <span class="labels event-chips">
                                  <For each={entries.slice(0, CHIPS)}>
                                    {([k, v]) => (
                                      <span class="label-chip" title={`${k}=${attrText(v)}`}>
                                        {k}=<b>{attrText(v)}</b>
                                      </span>
                                    )}
                                  </For>
                                  <Show when={entries.length > CHIPS}>
                                    <span class="muted">+{entries.length - CHIPS}</span>
                                  </Show>
                                </span>
                              </td>
                            </tr>
                            <Show when={open()}>
                              <tr class="event-detail">
                                <td colspan="5">
                                  <dl class="kv event-attrs">
                                    <For each={entries}>
                                      {([k, v]) => (
                                        <>
                                          <dt class="mono">{k}</dt>
                                          <dd>
                                            <span class="mono">{attrText(v)}</span>{" "}
                                            <button type="button" class="btn btn-small btn-ghost" title={`Show only events with ${k}=${attrText(v)}`} onClick={() => addFilter(k, v)}>
                                              filter
                                            </button>
                                          </dd>
                                        </>
                                      )}
                                    </For>
                                    <dt>agent</dt>
                                    <dd class="mono">{e.agentId}</dd>
                                  </dl>
                                </td>
                              </tr>
                            </Show>
                          </>
                        );
                      }}
                    </For>
                  </tbody>
                </table>
              </div>
              <div class="events-more">
                <Show when={cursor()} fallback={<span class="muted">No older events in this range.</span>}>
                  <button type="button" class="btn" disabled={busy() !== null} onClick={() => load("older")}>
                    {busy() === "older" ? "Loading…" : "Older"}
                  </button>
                </Show>
              </div>
            </Show>
          </Show>
        </Show>
      </Panel>
    </div>
  );
}

function NoEvents(props: { filtered: boolean }) {
  return (
    <Empty title={props.filtered ? "No events match these filters in this range" : "No events in this range"}>
      {props.filtered ? (
        "Clear or loosen a filter, or widen the time range."
      ) : (
        <>
          Events come from <code>process_exec</code>, <code>process_exit</code>, <code>tcp_flows</code>, <code>oom_kills</code> and <code>file_open</code>: enable one with a <A href="/rollouts/new">rollout</A>, or widen the time range.
        </>
      )}
    </Empty>
  );
}
