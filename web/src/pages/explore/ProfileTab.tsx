import { A } from "@solidjs/router";
import { createMemo, createSignal, For, Show } from "solid-js";
import { api } from "../../api/client.ts";
import { Panel } from "../../components/Page.tsx";
import { Empty, Loaded } from "../../components/StateViews.tsx";
import { useUrlParam } from "../../lib/url-state.ts";
import { formatSi, formatTime } from "../../lib/format.ts";
import { resolveRange, type TimeRange } from "../../lib/time-range.ts";
import { usePoll } from "../../lib/use-poll.ts";
import { AgentSelectorField, selectorOrUndefined } from "./SelectorField.tsx";
import { Flamegraph } from "./Flamegraph.tsx";
import { useMatchingAgents } from "./use-matching-agents.ts";
import { buildFlameTree, nodeByPath, pathOf, searchFrames } from "./flame-tree.ts";

/** The probe whose output this tab shows (shared/src/probe-spec.ts). */
const PROFILE_PROBE = "cpu_profile";

/**
 * The Profile tab: CPU samples (`cpu_profile`) merged over the range, for one
 * agent or the agents a selector matches, optionally one pid or command, as a
 * flamegraph. A profile is loaded once per change of its inputs (a live range
 * means "the window up to when it was loaded"; Refresh loads it again): a
 * flamegraph that reshuffled itself every few seconds could not be read.
 * URL: `agent`, `pid`, `comm`, `find` (search), `focus` (the zoomed frame's path).
 */
export function ProfileTab(props: { range: TimeRange; selector: string; onSelector: (s: string) => void }) {
  const [agent, setAgent] = useUrlParam("agent", "");
  const [pid, setPid] = useUrlParam("pid", "");
  const [comm, setComm] = useUrlParam("comm", "");
  const [find, setFind] = useUrlParam("find", "");
  const [focusPath, setFocusPath] = useUrlParam("focus", "");
  const [pidError, setPidError] = createSignal<string | null>(null);

  const agents = useMatchingAgents(() => props.selector, 500);

  const profile = usePoll(
    () => ({ agent: agent(), selector: selectorOrUndefined(props.selector), pid: pid(), comm: comm(), range: props.range }),
    (k) => {
      const { from, to } = resolveRange(k.range);
      return api.telemetry.profile.query({
        ...(k.agent ? { agentId: k.agent } : { agentSelector: k.selector }),
        from,
        to,
        pid: k.pid ? Number(k.pid) : undefined,
        comm: k.comm || undefined,
      });
    },
    { poll: () => false, intervalMs: 60_000 },
  );

  /** Built once per load: hover, zoom and search only walk it. */
  const tree = createMemo(() => {
    const data = profile.data();
    return data ? buildFlameTree(data.stacks) : null;
  });
  const focus = createMemo(() => {
    const t = tree();
    return t ? nodeByPath(t, focusPath()) : 0;
  });
  const search = createMemo(() => {
    const t = tree();
    return t ? searchFrames(t, find()) : null;
  });
  const crumbs = createMemo(() => {
    const t = tree();
    const f = focus();
    if (!t || f === 0) return [];
    const out: { node: number; name: string }[] = [];
    for (let n = f; n > 0; n = t.parent[n]!) out.push({ node: n, name: t.names[n]! });
    return out.reverse();
  });
  const agentName = () => agents.data()?.items.find((a) => a.id === agent())?.hostname;

  return (
    <div class="explore-profile">
      <Panel>
        <div class="toolbar explore-toolbar">
          <div class="field">
            <label for="explore-profile-agent">Agent</label>
            <select id="explore-profile-agent" value={agent()} onChange={(e) => setAgent(e.currentTarget.value)}>
              <option value="">{props.selector ? "all agents matching the selector" : "all agents"}</option>
              {/* `selected` on the option: the list loads after the URL's value is set, and a select's value alone would not stick. */}
              <For each={agents.data()?.items ?? []}>{(a) => <option value={a.id} selected={a.id === agent()}>{a.hostname}</option>}</For>
              <Show when={agent() && agents.data() && !agentName()}>
                <option value={agent()}>{agent()}</option>
              </Show>
            </select>
          </div>
          <Show when={!agent()}>
            <AgentSelectorField value={props.selector} onChange={props.onSelector} />
          </Show>
          <div class="field pid-field" classList={{ invalid: !!pidError() }}>
            <label for="explore-profile-pid">PID</label>
            <input
              id="explore-profile-pid"
              class="mono"
              inputmode="numeric"
              value={pid()}
              placeholder="any"
              aria-invalid={!!pidError()}
              aria-describedby="explore-profile-pid-error"
              onChange={(e) => {
                const v = e.currentTarget.value.trim();
                if (v && !/^\d{1,10}$/.test(v)) return setPidError(`"${v}" is not a process id: a whole number such as 1234, or empty for any`);
                setPidError(null);
                setPid(v);
              }}
            />
            <Show when={pidError()}>
              <div id="explore-profile-pid-error" class="field-error" role="alert">
                {pidError()}
              </div>
            </Show>
          </div>
          <div class="field">
            <label for="explore-profile-comm">Command</label>
            <input id="explore-profile-comm" class="mono" value={comm()} placeholder="any · e.g. node" maxLength={64} spellcheck={false} onChange={(e) => setComm(e.currentTarget.value.trim())} />
          </div>
          <div class="field flame-search">
            <label for="explore-profile-find">Search frames</label>
            <input id="explore-profile-find" type="search" class="mono" value={find()} placeholder="function name" spellcheck={false} onInput={(e) => setFind(e.currentTarget.value)} />
          </div>
          <button type="button" class="btn" onClick={profile.refresh} disabled={profile.loading()}>
            {profile.loading() ? "Loading…" : "Refresh"}
          </button>
        </div>
      </Panel>

      <Panel
        title={agent() ? `CPU profile of ${agentName() ?? agent()}` : "CPU profile"}
        actions={
          <Show when={profile.data()}>
            {(d) => (
              <span class="muted">
                {formatSi(d().total)} samples · {d().distinct.toLocaleString()} distinct stacks
                {profile.updatedAt() ? ` · as of ${formatTime(profile.updatedAt()!)}` : ""}
              </span>
            )}
          </Show>
        }
      >
        <Loaded data={tree()} error={profile.error()} retry={profile.refresh} what="the profile">
          {(t) => (
            <Show when={t().total[0]! > 0} fallback={<NoProfile agent={agentName() ?? (agent() || null)} filtered={!!(pid() || comm())} />}>
              <div class="flame-bar">
                <nav class="flame-crumbs" aria-label="Zoom">
                  <button type="button" class="btn btn-small" disabled={focus() === 0} onClick={() => setFocusPath("")} title="Esc">
                    Reset zoom
                  </button>
                  <For each={crumbs()}>
                    {(c) => (
                      <>
                        <span class="muted">›</span>
                        <button type="button" class="btn btn-small btn-ghost mono crumb" title={c.name} onClick={() => setFocusPath(pathOf(t(), c.node))}>
                          {c.name}
                        </button>
                      </>
                    )}
                  </For>
                </nav>
                <Show when={search()}>
                  {(s) => (
                    <span class="flame-matched" role="status">
                      <span class="flame-swatch" aria-hidden="true" /> “{find().trim()}”: {s().samples > 0 ? `${((100 * s().ratio) >= 10 ? (100 * s().ratio).toFixed(1) : (100 * s().ratio).toFixed(2))}% of samples matched` : "no frame matches"}
                    </span>
                  )}
                </Show>
              </div>
              <Show when={profile.data()?.truncated}>
                <p class="muted explore-note">
                  The {profile.data()!.stacks.length - 1} most frequent stacks are drawn; the other {(profile.data()!.distinct - profile.data()!.stacks.length + 1).toLocaleString()} are summed into “(other)”. Narrow by agent, PID or command to see them.
                </p>
              </Show>
              <Flamegraph tree={t()} focus={focus()} onFocus={(n) => setFocusPath(pathOf(t(), n))} search={search()} label="CPU flamegraph" />
            </Show>
          )}
        </Loaded>
      </Panel>
    </div>
  );
}

function NoProfile(props: { agent: string | null; filtered: boolean }) {
  return (
    <Empty title={props.filtered ? "No CPU samples for this process in this range" : `No CPU profile ${props.agent ? `for ${props.agent} ` : ""}in this range`}>
      {props.filtered ? (
        "Check the PID or command name (exact, as the kernel shows it: at most 15 characters), or widen the time range."
      ) : (
        <>
          Roll out <code>{PROFILE_PROBE}</code> to {props.agent ? "this agent" : "these agents"} with a <A href="/rollouts/new">rollout</A>; it sends a profile every 10 s. Or widen the time range.
        </>
      )}
    </Empty>
  );
}
