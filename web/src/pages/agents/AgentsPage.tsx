import { A, useNavigate } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createSignal, on, onCleanup, onMount } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import { AGENT_STATUSES, tryParseSelector } from "@probepilot/shared";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { Page, Panel } from "../../components/Page.tsx";
import { SelectorInput } from "../../components/SelectorInput.tsx";
import { Empty, LoadingOrError } from "../../components/StateViews.tsx";
import { StateBadge } from "../../components/Badges.tsx";
import { useUrlParam } from "../../lib/url-state.ts";
import { formatAgo, formatTime } from "../../lib/format.ts";
import { isTyping } from "../../lib/shortcuts.ts";
import { HOST_FACT_KEYS, withRequirement } from "./agent-labels.ts";
import { probeStateCounts } from "./probe-rows.ts";
import { rowKeyAction } from "./row-navigation.ts";
import { LabelChips } from "./LabelChips.tsx";
import { NoAgentsHint } from "./NoAgentsHint.tsx";
import { useNow, usePoll } from "../../lib/use-poll.ts";
import "./agents.css";

type Agent = RouterOutputs["agents"]["list"]["items"][number];
type AgentPage = { items: Agent[]; total: number; more: boolean };

/** Rows per "Load more". */
const PAGE = 100;
/** The API's largest page (`agents.list` limit). */
const MAX_LIMIT = 1000;
const REFRESH_MS = 5000;
/** Selector keystrokes are sent once typing pauses this long. */
const TYPING_PAUSE_MS = 200;

/**
 * The first `want` agents matching the filters, in pages of at most 1,000 following
 * the cursor. A refresh reloads everything shown (not only the first page), so rows
 * loaded with "Load more" stay current too.
 */
async function fetchAgents(q: { selector: string; status: string; want: number }): Promise<AgentPage> {
  const items: Agent[] = [];
  let cursor: string | undefined;
  let total = 0;
  let more = false;
  do {
    const page = await api.agents.list.query({
      selector: q.selector || undefined,
      status: (AGENT_STATUSES as readonly string[]).includes(q.status) ? (q.status as Agent["status"]) : undefined,
      limit: Math.min(MAX_LIMIT, q.want - items.length),
      cursor,
    });
    items.push(...page.items);
    total = page.total;
    cursor = page.nextCursor ?? undefined;
    more = page.nextCursor !== null;
  } while (cursor && items.length < q.want);
  return { items, total, more };
}

/**
 * Agents: the fleet filtered by a label selector (checked as it is typed; the list
 * follows only text that parses) and a status, both kept in the URL. Refreshed every
 * 5 s in place; j/k or arrows move the selected row, Enter opens it.
 */
export default function AgentsPage() {
  const navigate = useNavigate();
  const now = useNow(1000);
  const [selectorParam, setSelectorParam] = useUrlParam("selector");
  const [statusParam, setStatusParam] = useUrlParam("status");
  const status = () => ((AGENT_STATUSES as readonly string[]).includes(statusParam()) ? statusParam() : "");

  // The field shows what is typed; the URL (and the query) only what parses.
  const [text, setText] = createSignal(selectorParam());
  let pushed = selectorParam();
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  const pushSelector = (value: string) => {
    clearTimeout(typingTimer);
    pushed = value.trim();
    setSelectorParam(pushed);
  };
  // Back/forward or a link changed the URL: show it in the field.
  createEffect(
    on(
      selectorParam,
      (s) => {
        if (s === pushed) return;
        pushed = s;
        setText(s);
      },
      { defer: true },
    ),
  );
  onCleanup(() => clearTimeout(typingTimer));

  const filterKey = () => JSON.stringify([selectorParam(), status()]);
  const [loaded, setLoaded] = createSignal({ filter: filterKey(), want: PAGE });
  const want = () => (loaded().filter === filterKey() ? loaded().want : PAGE);

  const poll = usePoll(
    () => tryParseSelector(selectorParam()).ok && { selector: selectorParam(), status: status(), want: want() },
    fetchAgents,
    { intervalMs: REFRESH_MS, keepOnKeyChange: true },
  );

  // Rows keep their identity across refreshes (keyed by id): only changed cells re-render.
  const [rows, setRows] = createStore<Agent[]>([]);
  createEffect(() => {
    const page = poll.data();
    if (page) setRows(reconcile(page.items, { key: "id" }));
  });

  const [selectedId, setSelectedId] = createSignal<string | null>(null);
  const selectedIndex = createMemo(() => rows.findIndex((a) => a.id === selectedId()));
  const rowElements = new Map<string, HTMLTableRowElement>();

  onMount(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
      // Enter on a focused link or button does what it says; only a bare Enter opens the selected row.
      if (e.key === "Enter" && e.target instanceof HTMLElement && e.target.closest("a, button")) return;
      const action = rowKeyAction(e.key, selectedIndex(), rows.length);
      if (action === null) return;
      e.preventDefault();
      if (action === "open") return navigate(`/agents/${rows[selectedIndex()]!.id}`);
      const id = rows[action]!.id;
      setSelectedId(id);
      rowElements.get(id)?.scrollIntoView({ block: "nearest" });
    };
    window.addEventListener("keydown", onKey);
    onCleanup(() => window.removeEventListener("keydown", onKey));
  });

  const filtered = () => selectorParam() !== "" || status() !== "";
  const pick = (key: string, value: string) => {
    const next = withRequirement(text(), key, value);
    setText(next);
    pushSelector(next);
  };
  const clearFilters = () => {
    setText("");
    pushSelector("");
    setStatusParam("");
  };

  return (
    <Page title="Agents" subtitle="Hosts running the ProbePilot agent, filtered by label selector and status.">
      <Panel>
        <div class="toolbar agents-toolbar">
          <SelectorInput
            label="Selector"
            search
            value={text()}
            onInput={setText}
            onValid={(t) => {
              clearTimeout(typingTimer);
              typingTimer = setTimeout(() => pushSelector(t), TYPING_PAUSE_MS);
            }}
          />
          <div class="field">
            <label for="agents-status">Status</label>
            <select id="agents-status" value={status()} onChange={(e) => setStatusParam(e.currentTarget.value)}>
              <option value="">Any status</option>
              <For each={AGENT_STATUSES}>{(s) => <option value={s}>{s}</option>}</For>
            </select>
          </div>
        </div>
      </Panel>

      <Panel
        title="Fleet"
        actions={
          <>
            <Show when={poll.data()}>
              {(page) => (
                <span class="agents-count" aria-live="polite">
                  <strong data-testid="agents-total">{page().total}</strong> {page().total === 1 ? "agent" : "agents"}
                  <Show when={filtered()}> match</Show>
                  <Show when={page().items.length < page().total}>
                    <span class="muted"> · showing {page().items.length}</span>
                  </Show>
                </span>
              )}
            </Show>
            <Show when={text().trim() !== selectorParam().trim()}>
              <span class="stale-note" title="The list follows the selector once it parses">
                {tryParseSelector(text()).ok ? "applying…" : "list is for the last valid selector"}
              </span>
            </Show>
            <Show when={poll.loading()}>
              <span class="spinner" aria-hidden="true" title="Refreshing" />
            </Show>
            <Show when={poll.updatedAt()}>{(at) => <span class="muted updated" title={`Refreshed every ${REFRESH_MS / 1000} s`}>updated {formatAgo(at(), now())}</span>}</Show>
          </>
        }
      >
        <Show when={poll.error() && poll.data()}>
          <p class="notice" role="status">
            Refresh failed ({errorMessage(poll.error())}); showing the list as of {formatTime(poll.updatedAt() ?? 0)}. Retrying every {REFRESH_MS / 1000} s.
          </p>
        </Show>
        <Show
          when={poll.data()}
          fallback={
            <Show
              when={tryParseSelector(selectorParam()).ok}
              fallback={<Empty title="The selector does not parse">Fix it where the error points (above), e.g. env in (prod, staging); the list follows as soon as it does.</Empty>}
            >
              <LoadingOrError error={poll.error()} retry={poll.refresh} what="the agents" loading="agents" />
            </Show>
          }
        >
          {(page) => (
            <Show
              when={page().total > 0}
              fallback={
                <Show when={filtered()} fallback={<NoAgentsHint />}>
                  <Empty title="No agent matches these filters">
                    Check the label keys and values on an agent's page, or{" "}
                    <button type="button" class="btn btn-small" onClick={clearFilters}>
                      clear the filters
                    </button>
                  </Empty>
                </Show>
              }
            >
              <div class="scroll agents-table-wrap">
                <table aria-label="Agents" class="agents-table">
                  <thead>
                    <tr>
                      <th>Hostname</th>
                      <th>Status</th>
                      <th>Labels</th>
                      <th>Kernel</th>
                      <th>OS · arch</th>
                      <th>Probes</th>
                      <th>Last seen</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={rows}>
                      {(agent) => (
                        <tr
                          ref={(el) => {
                            rowElements.set(agent.id, el);
                            onCleanup(() => rowElements.delete(agent.id));
                          }}
                          aria-selected={agent.id === selectedId()}
                          onClick={() => setSelectedId(agent.id)}
                          onDblClick={() => navigate(`/agents/${agent.id}`)}
                        >
                          <td class="agent-host">
                            <A href={`/agents/${agent.id}`} title={`${agent.id} · agent ${agent.agentVersion}`}>
                              {agent.hostname}
                            </A>
                          </td>
                          <td>
                            <StateBadge state={agent.status} />
                          </td>
                          <td>
                            <LabelChips labels={agent.labels} max={4} hide={HOST_FACT_KEYS} onPick={pick} pickTitle="Add to the selector" />
                          </td>
                          <td class="mono">{agent.kernel}</td>
                          <td class="nowrap">
                            {agent.os} · {agent.arch}
                          </td>
                          <td>
                            <ProbeCounts probes={agent.probes} />
                          </td>
                          <td class="nowrap" title={formatTime(Date.parse(agent.lastSeenAt))}>
                            {formatAgo(Date.parse(agent.lastSeenAt), now())}
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
              <div class="agents-footer">
                <Show when={page().more}>
                  <button
                    type="button"
                    class="btn"
                    disabled={poll.loading()}
                    onClick={() => setLoaded({ filter: filterKey(), want: want() + PAGE })}
                  >
                    Load more
                  </button>
                </Show>
                <span class="muted key-hints">
                  <kbd>j</kbd>/<kbd>k</kbd> or <kbd>↑</kbd>/<kbd>↓</kbd> select · <kbd>Enter</kbd> opens · <kbd>/</kbd> edits the selector · click a label to filter by it
                </span>
              </div>
            </Show>
          )}
        </Show>
      </Panel>
    </Page>
  );
}

/** An agent's probes as counts per state ("1 running · 2 failed"), broken ones first. */
function ProbeCounts(props: { probes: Agent["probes"] }) {
  return (
    <Show when={props.probes.length > 0} fallback={<span class="muted">none</span>}>
      <span class="probe-counts" title={props.probes.map((p) => `${p.kind} ${p.version}: ${p.state}`).join("\n")}>
        <For each={probeStateCounts(props.probes)}>
          {(c) => (
            <span class="badge" data-state={c.state}>
              {c.count} {c.state.replaceAll("_", " ")}
            </span>
          )}
        </For>
      </span>
    </Show>
  );
}
