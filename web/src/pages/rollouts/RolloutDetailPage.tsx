import { A, useParams, useSearchParams } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createResource, createSignal, on, onCleanup, type JSX } from "solid-js";
import { ROLLOUT_AGENT_STATES, countsTotal, formatHealthyPercent, formatPercent, healthyCount, type RolloutAction, type RolloutAgentState, type RolloutView } from "@probepilot/shared";
import { api, errorMessage } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { ProgressBar, StateBadge } from "../../components/Badges.tsx";
import { AgentLink } from "../../components/AgentLink.tsx";
import { FilterSelect } from "../../components/FilterSelect.tsx";
import { ActionError, ConfirmStep } from "../../components/ConfirmStep.tsx";
import { Page, Panel } from "../../components/Page.tsx";
import { Empty, LoadingOrError, ResourceLoaded } from "../../components/StateViews.tsx";
import { formatAgo, formatTime, shortActor } from "../../lib/format.ts";
import { useNow } from "../../lib/use-poll.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { shortHash } from "../probes/probe-text.ts";
import { CanaryTable } from "./CanaryTable.tsx";
import { ROLLOUT_ACTIONS_UI, actionBlockedReason, describeHistory, describePhase, describeStrategy, formatCounts, waveParts, waveStatus } from "./rollout-model.ts";
import "../probes/probes.css";
import "./rollouts.css";

/** The agents table and the audit trail follow the live view, at most this often. */
const REFRESH_THROTTLE_MS = 2000;
const AGENTS_PAGE = 50;

type Connection = "connecting" | "live" | "reconnecting" | "stopped";

/**
 * One rollout, live: the `rollouts.watch` subscription (SSE; tRPC reconnects it)
 * drives the header, the per-wave progress and the actions; the agents table
 * (filtered by `?agentState=` and `?wave=`, paginated) and the audit trail
 * refresh as the view changes, throttled.
 */
export default function RolloutDetailPage() {
  const params = useParams<{ id: string }>();
  const [view, setView] = createSignal<RolloutView | null>(null);
  const [streamError, setStreamError] = createSignal<unknown>(null);
  const [connection, setConnection] = createSignal<Connection>("connecting");
  const [connectionError, setConnectionError] = createSignal<string | null>(null);
  const now = useNow();

  // One subscription per rollout id; a new id (navigating between rollouts) closes the old one.
  createEffect(
    on(
      () => params.id,
      (id) => {
        setView(null);
        setStreamError(null);
        setConnection("connecting");
        const sub = api.rollouts.watch.subscribe(
          { id },
          {
            onData: (v) => {
              setView(v as RolloutView);
              setConnection("live");
              setConnectionError(null);
            },
            onError: (err) => {
              setStreamError(err);
              setConnection("stopped");
            },
            onConnectionStateChange: (s) => {
              if (s.state === "pending") setConnection("live");
              else if (s.state === "connecting") {
                setConnection(view() ? "reconnecting" : "connecting");
                setConnectionError(s.error ? errorMessage(s.error) : null);
              } else setConnection("stopped");
            },
          },
        );
        onCleanup(() => sub.unsubscribe());
      },
    ),
  );

  // The agents table and the history refresh when the view changes, at most every REFRESH_THROTTLE_MS.
  const [tick, setTick] = createSignal(0);
  let lastTick = 0;
  let pending: ReturnType<typeof setTimeout> | undefined;
  createEffect(
    on(
      () => view()?.updatedAt + JSON.stringify(view()?.totals),
      () => {
        if (!view() || pending) return;
        const wait = Math.max(0, lastTick + REFRESH_THROTTLE_MS - Date.now());
        pending = setTimeout(() => {
          pending = undefined;
          lastTick = Date.now();
          setTick((n) => n + 1);
        }, wait);
      },
      { defer: true },
    ),
  );
  onCleanup(() => clearTimeout(pending));

  return (
    <Show
      when={view()}
      fallback={
        <Page title={`Rollout ${params.id}`}>
          <LoadingOrError error={streamError()} retry={() => location.reload()} what={`rollout ${params.id}`} />
        </Page>
      }
    >
      {(v) => {
        const actions = createRolloutActions(v, setView);
        return (
          <Page
            title={`${v().probe.name}@v${v().probe.version}`}
            subtitle={
              <>
                <span class="mono">{v().id}</span> · on <span class="mono">{v().selector || "(all agents)"}</span> · created {formatAgo(Date.parse(v().createdAt), now())} by <span title={v().createdBy}>{shortActor(v().createdBy)}</span>
              </>
            }
            actions={
              <>
                <LiveIndicator connection={connection()} error={connectionError()} />
                <actions.Buttons />
              </>
            }
          >
            <actions.Feedback />
            <Show when={streamError()}>
              <p class="notice" role="alert">
                The live stream stopped: {errorMessage(streamError())}. What is shown may be out of date; reload the page to follow it again.
              </p>
            </Show>
            <Summary view={v()} now={now()} />
            <Panel title="Waves">
              <WavesTable view={v()} now={now()} />
            </Panel>
            <div class="grid grid-2">
              <Show when={v().recentFailures.length > 0}>
                <Panel title="Recent failures">
                  <RecentFailures view={v()} now={now()} />
                </Panel>
              </Show>
              <Show when={v().canary.length > 0}>
                <Panel title="Canary strata">
                  <CanaryTable canary={v().canary} />
                </Panel>
              </Show>
            </div>
            <AgentsPanel id={v().id} waves={v().waves.length} tick={tick()} />
            <HistoryPanel id={v().id} tick={tick()} />
          </Page>
        );
      }}
    </Show>
  );
}

function LiveIndicator(props: { connection: Connection; error: string | null }) {
  const text = () => ({ connecting: "connecting…", live: "live", reconnecting: "reconnecting…", stopped: "not live" })[props.connection];
  return (
    <span
      class="live-indicator"
      data-connection={props.connection}
      role="status"
      title={props.connection === "live" ? "Following the rollout as it changes" : (props.error ?? "The stream to the control plane is not connected; it retries by itself")}
    >
      <span class="live-dot" aria-hidden="true" /> {text()}
    </span>
  );
}

/**
 * Pause, Resume, Promote, Abort, Roll back: each enabled only in the states the
 * server accepts it from (its title says why not otherwise), Abort and Roll back
 * behind a confirm step with an optional reason; the server's refusal is shown.
 * The buttons sit in the page header; the confirm step and errors under it.
 */
function createRolloutActions(view: () => RolloutView, onView: (view: RolloutView) => void) {
  const [confirming, setConfirming] = createSignal<RolloutAction | null>(null);
  const [reason, setReason] = createSignal("");
  const [busy, setBusy] = createSignal<RolloutAction | null>(null);
  const [error, setError] = createSignal<string | null>(null);
  const canOperate = () => session.canOperate();

  const run = async (action: RolloutAction) => {
    setBusy(action);
    setError(null);
    try {
      const input = { id: view().id, ...(reason().trim() ? { reason: reason().trim() } : {}) };
      // The answer is the rollout after the action: show it now rather than when the stream catches up.
      onView((await api.rollouts[action].mutate(input)) as RolloutView);
      setConfirming(null);
      setReason("");
    } catch (err) {
      setError(`${ROLLOUT_ACTIONS_UI.find((a) => a.action === action)!.label} failed: ${errorMessage(err)}`);
    } finally {
      setBusy(null);
    }
  };
  const confirmText = () => ROLLOUT_ACTIONS_UI.find((a) => a.action === confirming())?.confirm;

  const Buttons = () => (
    <div class="action-buttons" role="group" aria-label="Rollout actions">
      <For each={ROLLOUT_ACTIONS_UI}>
        {(a) => {
          const blocked = () => actionBlockedReason(a.action, view().state);
          const title = () => (!canOperate() ? `${a.label} needs an operator token; yours is a viewer token` : (blocked() ?? a.does));
          return (
            <button
              type="button"
              class="btn"
              classList={{ "btn-danger": !!a.danger }}
              disabled={!!blocked() || !canOperate() || busy() !== null}
              title={title()}
              aria-pressed={confirming() === a.action ? true : undefined}
              onClick={() => {
                setError(null);
                if (a.confirm) setConfirming(confirming() === a.action ? null : a.action);
                else void run(a.action);
              }}
            >
              {busy() === a.action ? `${a.label}…` : a.label}
            </button>
          );
        }}
      </For>
    </div>
  );

  const Feedback = () => (
    <>
      <Show when={confirming()}>
        {(action) => (
          <ConfirmStep
            label={`Confirm ${action()}`}
            text={confirmText()}
            confirmLabel="Confirm"
            busy={busy() !== null}
            disabled={!!actionBlockedReason(action(), view().state)}
            onConfirm={() => void run(action())}
            onCancel={() => setConfirming(null)}
          >
            <input
              type="text"
              aria-label="Reason (optional)"
              placeholder="Reason (optional, kept in the audit trail)"
              value={reason()}
              ref={(el) => queueMicrotask(() => el.focus())}
              onInput={(e) => setReason(e.currentTarget.value)}
              onKeyDown={(e) => {
                // Enter confirms (Esc cancels, in ConfirmStep; the app's Esc handler only blurs the field).
                if (e.key === "Enter" && busy() === null && !actionBlockedReason(action(), view().state)) {
                  e.preventDefault();
                  void run(action());
                }
              }}
            />
          </ConfirmStep>
        )}
      </Show>
      <ActionError error={error()} />
    </>
  );
  return { Buttons, Feedback };
}

function Summary(props: { view: RolloutView; now: number }) {
  const v = () => props.view;
  const inRollout = () => countsTotal(v().totals);
  const membership = () => {
    const m = v().membership;
    return [m.joined ? `${m.joined} joined` : "", m.relabeled_in ? `${m.relabeled_in} relabeled in` : "", m.relabeled_out ? `${m.relabeled_out} relabeled out (dropped the probe)` : "", m.revoked ? `${m.revoked} revoked (gone)` : ""].filter(Boolean).join(" · ");
  };
  return (
    <Panel class="rollout-summary">
      <div class="summary-head">
        <span data-testid="rollout-state">
          <StateBadge state={v().state} />
        </span>
        <span class="phase">{describePhase(v(), props.now)}</span>
      </div>
      <Show when={v().stateReason}>
        <p class="state-reason" data-state={v().state}>
          {v().stateReason}
        </p>
      </Show>
      <dl class="kv summary-kv">
        <dt>Probe</dt>
        <dd>
          <A href={`/probes/${encodeURIComponent(v().probe.name)}?version=${v().probe.version}`} class="mono">
            {v().probe.name}@v{v().probe.version}
          </A>{" "}
          <span class="muted mono" title={v().probe.specHash}>
            spec {shortHash(v().probe.specHash)}
          </span>
          {v().probe.kind !== v().probe.name ? <span class="muted"> ({v().probe.kind})</span> : ""}
        </dd>
        <dt>Strategy</dt>
        <dd>{describeStrategy(v().strategy)}</dd>
        <dt>Agents</dt>
        <dd>
          {v().matching} match now · {inRollout()} in the rollout
          <Show when={v().offline > 0}>
            {" "}
            · <span class="warn">{v().offline} offline</span> (not counted by the gate)
          </Show>
          <Show when={membership()}> · {membership()}</Show>
        </dd>
        <Show when={v().health.members > 0}>
          <dt>Health</dt>
          <dd>
            {formatHealthyPercent(v().health.healthyPercent)} healthy (need {formatPercent(v().strategy.gate.minHealthyPercent)}) ·{" "}
            <span classList={{ bad: v().health.failedPercent > v().strategy.gate.maxFailedPercent }}>{formatPercent(v().health.failedPercent)} failed</span> (max {formatPercent(v().strategy.gate.maxFailedPercent)})
            <Show when={v().health.meanProbeCpuPercent !== null}> · probe CPU {formatPercent(v().health.meanProbeCpuPercent!)} of a core (mean)</Show> · of {v().health.members} member{v().health.members === 1 ? "" : "s"}
          </dd>
        </Show>
        <dt>Updated</dt>
        <dd title={formatTime(Date.parse(v().updatedAt))}>
          {formatAgo(Date.parse(v().updatedAt), props.now)}
          <Show when={v().completedAt}>{(at) => <> · ended {formatTime(Date.parse(at()))}</>}</Show>
        </dd>
      </dl>
    </Panel>
  );
}

function WavesTable(props: { view: RolloutView; now: number }) {
  const [, setParams] = useSearchParams();
  return (
    <div class="scroll">
      <table aria-label="Waves" class="waves-table">
        <thead>
          <tr>
            <th class="marker-col" />
            <th>Wave</th>
            <th>Target</th>
            <th class="progress-col">Progress</th>
            <th class="num">Healthy</th>
            <th>Agents by state</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          <For each={props.view.waves}>
            {(w) => {
              const bar = () => waveParts(w.counts, w.planned);
              const status = () => waveStatus(props.view, w, props.now);
              const healthy = () => healthyCount(w.counts);
              return (
                <tr data-testid={`wave-${w.index + 1}`} data-current={w.index === props.view.currentWave} data-marker={status().marker}>
                  <td class="marker-col" aria-hidden="true">
                    {{ done: "✓", current: "▸", failed: "✗", waiting: "" }[status().marker]}
                  </td>
                  <td>
                    Wave {w.index + 1}
                    {w.index === 0 ? <span class="muted"> (canary)</span> : ""}
                  </td>
                  <td class="mono">{w.target}</td>
                  <td class="progress-col">
                    <ProgressBar parts={bar().parts} total={bar().total} label={`Wave ${w.index + 1}`} />
                  </td>
                  <td class="num">
                    {healthy()}/{bar().total}
                    <span class="muted"> {bar().total ? `${Math.floor((healthy() / bar().total) * 100)}%` : ""}</span>
                  </td>
                  <td class="counts">
                    <Show when={countsTotal(w.counts) > 0 || w.startedAt} fallback={<span class="muted">{w.planned} planned</span>}>
                      {formatCounts(w.counts)}{" "}
                      <button type="button" class="btn btn-small btn-ghost" onClick={() => (setParams({ wave: String(w.index + 1) }, { replace: true }), document.getElementById("rollout-agents")?.scrollIntoView({ behavior: "smooth" }))}>
                        agents
                      </button>
                    </Show>
                  </td>
                  <td class="wave-status">{status().text}</td>
                </tr>
              );
            }}
          </For>
        </tbody>
      </table>
      <Legend />
    </div>
  );
}

function Legend() {
  const states: { state: string; label: string }[] = [
    { state: "verified", label: "verified (healthy through its bake)" },
    { state: "applied", label: "applied (running)" },
    { state: "applying", label: "applying" },
    { state: "failed", label: "failed" },
    { state: "rolled_back", label: "rolled back" },
    { state: "skipped", label: "skipped (unsupported)" },
    { state: "pending", label: "pending" },
  ];
  return (
    <div class="legend muted">
      <For each={states}>
        {(s) => (
          <span>
            <span class="legend-swatch progress-part" data-state={s.state} /> {s.label}
          </span>
        )}
      </For>
    </div>
  );
}

function RecentFailures(props: { view: RolloutView; now: number }) {
  return (
    <>
      <p class="muted">
        {props.view.totals.failed > 0 ? `${props.view.totals.failed} agent${props.view.totals.failed === 1 ? "" : "s"} failed now.` : "The agents that failed have rolled back since."}
      </p>
      <ul class="failures">
        <For each={props.view.recentFailures}>
          {(f) => (
            <li>
              <div>
                <A href={`/agents/${f.agentId}`}>{f.hostname || f.agentId}</A> <span class="muted" title={formatTime(Date.parse(f.at))}>{formatAgo(Date.parse(f.at), props.now)}</span>
              </div>
              <ErrorText text={f.error} />
            </li>
          )}
        </For>
      </ul>
    </>
  );
}

/** An agent's error: the first line, with the rest (a verifier log excerpt) behind a disclosure. */
function ErrorText(props: { text: string }): JSX.Element {
  const lines = () => props.text.split("\n").filter((l) => l.trim() !== "");
  return (
    <Show when={lines().length > 1} fallback={<div class="error-text mono">{props.text}</div>}>
      <details class="error-text">
        <summary class="mono">{lines()[0]}</summary>
        <pre class="mono">{props.text}</pre>
      </details>
    </Show>
  );
}

/** The rollout's agents, filtered by state and wave (in the URL), keyset-paginated like the API. */
function AgentsPanel(props: { id: string; waves: number; tick: number }) {
  const [state, setState] = useUrlParam("agentState");
  const [wave, setWave] = useUrlParam("wave");
  const [cursors, setCursors] = createSignal<(string | undefined)[]>([undefined]);
  const page = () => cursors().length - 1;
  // Another filter: back to the first page.
  createEffect(on([state, wave], () => setCursors([undefined]), { defer: true }));

  const waveIndex = () => (wave() && Number(wave()) >= 1 ? Number(wave()) - 1 : undefined);
  const [agents, { refetch }] = createResource(
    () => ({ id: props.id, state: state(), wave: waveIndex(), cursor: cursors()[page()] }),
    (q) =>
      api.rollouts.agents.query({
        id: q.id,
        limit: AGENTS_PAGE,
        ...(q.state ? { state: q.state as RolloutAgentState } : {}),
        ...(q.wave !== undefined ? { wave: q.wave } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
  );
  createEffect(on(() => props.tick, () => void refetch(), { defer: true }));

  return (
    <Panel
      title="Agents"
      actions={
        <div class="toolbar">
          <FilterSelect id="agents-state" label="State" value={state()} onChange={setState} options={ROLLOUT_AGENT_STATES} optionLabel={(s) => s.replace("_", " ")} />
          <FilterSelect id="agents-wave" label="Wave" value={wave()} onChange={setWave} options={Array.from({ length: props.waves }, (_, i) => String(i + 1))} optionLabel={(n) => `wave ${n}`} />
        </div>
      }
    >
      <div id="rollout-agents" />
      <ResourceLoaded resource={agents} retry={refetch} what="the rollout's agents" loading="agents">
        {(result) => (
          <Show
            when={result().items.length > 0}
            fallback={
              <Empty title={state() || wave() ? "No agent in this rollout matches the filter" : "No agents in this rollout"}>
                {state() || wave() ? "Clear the state or wave filter to see the others." : "The selector matched no agent when it started; agents that join or are relabeled to match show up here."}
              </Empty>
            }
          >
            <div class="scroll agents-scroll">
              <table aria-label="Rollout agents" class="rollout-agents">
                <thead>
                  <tr>
                    <th>Agent</th>
                    <th class="num">Wave</th>
                    <th>State</th>
                    <th>Online</th>
                    <th>Membership</th>
                    <th>Updated</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={result().items}>
                    {(a) => (
                      <tr>
                        <td>
                          <AgentLink id={a.agentId} hostname={a.hostname} />
                        </td>
                        <td class="num">{a.wave < 0 ? "—" : a.wave + 1}</td>
                        <td>
                          <StateBadge state={a.state} />
                        </td>
                        <td>
                          <span class="online-dot" data-online={a.online} /> {a.online ? "online" : "offline"}
                        </td>
                        <td class="muted">{a.membership.replace("_", " ")}</td>
                        <td title={formatTime(Date.parse(a.updatedAt))}>{formatAgo(Date.parse(a.updatedAt))}</td>
                        <td class="error-cell">{a.error ? <ErrorText text={a.error} /> : <span class="muted">—</span>}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
            <div class="pager">
              <span class="muted">
                page {page() + 1} · {result().items.length} agent{result().items.length === 1 ? "" : "s"}
              </span>
              <button type="button" class="btn btn-small" disabled={page() === 0} onClick={() => setCursors(cursors().slice(0, -1))}>
                Previous
              </button>
              <button type="button" class="btn btn-small" disabled={!result().nextCursor} onClick={() => setCursors([...cursors(), result().nextCursor!])}>
                Next
              </button>
            </div>
          </Show>
        )}
      </ResourceLoaded>
    </Panel>
  );
}

/** The audit trail (`rollouts.history`): who did what and why, the engine's own steps included, oldest first. */
function HistoryPanel(props: { id: string; tick: number }) {
  const [history, { refetch }] = createResource(
    () => props.id,
    (id) => api.rollouts.history.query({ id, limit: 1000 }),
  );
  createEffect(on(() => props.tick, () => void refetch(), { defer: true }));
  const entries = createMemo(() => ((history.error ? undefined : history.latest) ?? []).map((e) => ({ ...e, text: describeHistory(e) })));
  return (
    <Panel title="Audit trail">
      <ResourceLoaded resource={history} retry={refetch} what="the audit trail">
        <Show when={entries().length > 0} fallback={<Empty title="No history recorded" />}>
          <div class="scroll history-scroll">
            <table aria-label="Audit trail" class="history">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Event</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                <For each={entries()}>
                  {(e) => (
                    <tr data-action={e.action}>
                      <td class="mono nowrap" title={e.at}>
                        {formatTime(Date.parse(e.at))}
                      </td>
                      <td class="mono" title={e.actor}>
                        {shortActor(e.actor)}
                      </td>
                      <td>{e.text.title}</td>
                      <td class="muted">{e.text.detail}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </ResourceLoaded>
    </Panel>
  );
}
