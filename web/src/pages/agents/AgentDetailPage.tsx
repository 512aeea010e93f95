import { A, useParams } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createSignal, on } from "solid-js";
import { api, errorCode, type RouterOutputs } from "../../api/client.ts";
import { Page, Panel } from "../../components/Page.tsx";
import { StateBadge } from "../../components/Badges.tsx";
import { Empty, ErrorState, Loading } from "../../components/StateViews.tsx";
import { TimePicker } from "../../components/TimePicker.tsx";
import { ChartGroup } from "../../charts/ChartGroup.tsx";
import { TimeChart } from "../../charts/TimeChart.tsx";
import { useTimeRange } from "../../lib/use-time-range.ts";
import type { TimeRange } from "../../lib/time-range.ts";
import { formatAgo, formatBytes, formatTime, formatValue } from "../../lib/format.ts";
import { agentChartSelector, SIMULATED_LABEL } from "./agent-selector.ts";
import { capabilityRows } from "./capabilities.ts";
import { runsPerSecond, sortProbes, type RunSample } from "./probe-rows.ts";
import { AgentLabels } from "./AgentLabels.tsx";
import { createRevokeAgent } from "./RevokeAgent.tsx";
import { useNow, usePoll } from "../../lib/use-poll.ts";
import "./agents.css";

type Agent = RouterOutputs["agents"]["get"];

const REFRESH_MS = 5000;

/**
 * One agent: status, host facts, labels (central ones editable by operators),
 * what the host lets eBPF do, its probes with state and cost, and live host charts.
 */
export default function AgentDetailPage() {
  const params = useParams<{ id: string }>();
  const now = useNow(1000);
  const [range, setRange] = useTimeRange();
  const poll = usePoll(() => params.id, (id) => api.agents.get.query({ id }), { intervalMs: REFRESH_MS });
  const agent = poll.data;

  // Runs per second per probe, from the cumulative run counts of successive status reports.
  const [rates, setRates] = createSignal<Record<string, number | null>>({});
  let samples = new Map<string, RunSample>();
  createEffect(
    on(
      () => params.id,
      () => ((samples = new Map()), setRates({})),
    ),
  );
  createEffect(
    on(agent, (a) => {
      if (!a) return;
      const next: Record<string, number | null> = { ...rates() };
      for (const p of a.probes) {
        if (!p.cost) continue;
        const before = samples.get(p.kind);
        if (before && before.at === p.cost.at) continue; // no new report yet: keep the rate shown
        next[p.kind] = runsPerSecond(before, p.cost);
        samples.set(p.kind, { kernelRunCount: p.cost.kernelRunCount, at: p.cost.at });
      }
      setRates(next);
    }),
  );

  const chartSelector = createMemo(() => {
    const a = agent();
    return a ? agentChartSelector(a) : null;
  });
  // The charts select by host name (see agentChartSelector): say so if another agent shares it.
  const [sharing, setSharing] = createSignal(0);
  createEffect(
    on(chartSelector, (selector) => {
      setSharing(0);
      if (selector) void api.agents.list.query({ selector, limit: 1 }).then((r) => selector === chartSelector() && setSharing(r.total), () => {});
    }),
  );

  const notFound = () => errorCode(poll.error()) === "NOT_FOUND" || errorCode(poll.error()) === "BAD_REQUEST";
  const revoke = createRevokeAgent(() => agent()!, (revoked) => poll.mutate(revoked));
  const title = () => agent()?.hostname ?? (poll.error() && notFound() ? "Agent not found" : "Agent");

  return (
    <Page
      title={title()}
      subtitle={
        <Show when={agent()}>
          {(a) => (
            <span class="agent-subtitle">
              <StateBadge state={a().status} />
              <span title={formatTime(Date.parse(a().lastSeenAt))}>last seen {formatAgo(Date.parse(a().lastSeenAt), now())}</span>
              <span class="mono">{a().id}</span>
              <button type="button" class="btn btn-small btn-ghost copy-id" title="Copy the agent id" onClick={() => void navigator.clipboard?.writeText(a().id)}>
                copy
              </button>
              <span class="muted">agent {a().agentVersion}</span>
            </span>
          )}
        </Show>
      }
      actions={
        <Show when={agent()}>
          <TimePicker range={range()} onChange={setRange} />
          <revoke.Button />
        </Show>
      }
    >
      <Show
        when={agent()}
        fallback={
          <Show when={poll.error()} fallback={<Loading what="the agent" />}>
            <Panel>
              <ErrorState error={poll.error()} retry={notFound() ? undefined : poll.refresh} what={`agent ${params.id}`} />
              <p class="back-link">
                <A href="/agents">← All agents</A>
              </p>
            </Panel>
          </Show>
        }
      >
        {(a) => (
          <>
            <revoke.Feedback />
            <Show when={a().revokedAt}>
              {(at) => (
                <p class="notice" role="status">
                  This agent was revoked {formatTime(Date.parse(at()))}: NATS refuses its credentials, it gets no new ones, and rollouts count it as gone.
                </p>
              )}
            </Show>
            <Show when={a().status === "offline"}>
              <p class="notice" role="status">
                This agent has not reported since {formatTime(Date.parse(a().lastSeenAt))} ({formatAgo(Date.parse(a().lastSeenAt), now())}): what follows is its last report, and its charts stop there.
              </p>
            </Show>
            <Show when={poll.error()}>
              <p class="notice" role="status">
                Refresh failed; showing the agent as of {formatTime(poll.updatedAt() ?? 0)}. Retrying every {REFRESH_MS / 1000} s.
              </p>
            </Show>
            <PolicyProblems agent={a()} />

            <div class="grid agent-panels">
              <Panel title="Host">
                <HostFacts agent={a()} now={now()} />
              </Panel>
              <Panel title="Labels">
                <AgentLabels agent={a()} onChange={poll.mutate} />
              </Panel>
              <Panel title="eBPF capabilities">
                <Capabilities agent={a()} />
              </Panel>
            </div>

            <Panel title="Probes">
              <ProbeTable agent={a()} rates={rates()} now={now()} />
            </Panel>

            <section class="agent-charts" aria-label="Host charts">
              <Show
                when={chartSelector()}
                fallback={
                  <Panel>
                    <Empty title="No charts for this agent">It reports no probepilot.io/hostname label, which its telemetry is selected by; restart it with a current agent version.</Empty>
                  </Panel>
                }
              >
                {(selector) => (
                  <>
                    <Show when={a().labels[SIMULATED_LABEL] === "true"}>
                      <p class="notice" role="status">
                        A simulated agent (<code>{SIMULATED_LABEL}</code>): it reports probe states and takes part in rollouts, but sends no host telemetry, so its charts stay empty.
                      </p>
                    </Show>
                    <Show when={sharing() > 1}>
                      <p class="notice" role="status">
                        {sharing()} agents carry <code>{selector()}</code> (this host enrolled more than once): the charts show all of them.
                      </p>
                    </Show>
                    <HostCharts selector={selector()} range={range()} />
                  </>
                )}
              </Show>
            </section>
          </>
        )}
      </Show>
    </Page>
  );
}

/** The live host charts of one agent, all in one group: one stream, one cursor, rollout annotations. */
function HostCharts(props: { selector: string; range: TimeRange }) {
  return (
    <ChartGroup range={props.range}>
      <TimeChart title="CPU utilization" metric="host_cpu_utilization" agentSelector={props.selector} by={["mode"]} agg="avg" unit="ratio" stacked />
      <TimeChart title="Memory" metric="host_memory_bytes" agentSelector={props.selector} seriesSelector="state in (total,used,cached)" by={["state"]} agg="avg" unit="bytes" />
      <TimeChart title="Load average (1 min)" metric="host_load1" agentSelector={props.selector} agg="avg" unit="tasks" />
      <TimeChart title="Network received" metric="host_network_receive_bytes_total" agentSelector={props.selector} by={["interface"]} agg="rate" unit="bytes/s" />
      <TimeChart title="Network sent" metric="host_network_transmit_bytes_total" agentSelector={props.selector} by={["interface"]} agg="rate" unit="bytes/s" />
      <TimeChart title="Disk busy" metric="host_disk_io_time_seconds_total" agentSelector={props.selector} by={["device"]} agg="rate" unit="ratio" />
      <TimeChart title="Disk read" metric="host_disk_read_bytes_total" agentSelector={props.selector} by={["device"]} agg="rate" unit="bytes/s" />
      <TimeChart title="Disk written" metric="host_disk_written_bytes_total" agentSelector={props.selector} by={["device"]} agg="rate" unit="bytes/s" />
      <TimeChart title="Probe CPU in the kernel" metric="probepilot_probe_kernel_cpu_percent" agentSelector={props.selector} by={["probe"]} agg="avg" unit="percent" />
    </ChartGroup>
  );
}

function HostFacts(props: { agent: Agent; now: number }) {
  const spool = () => props.agent.telemetry;
  return (
    <dl class="kv">
      <dt>Hostname</dt>
      <dd>{props.agent.hostname}</dd>
      <dt>OS</dt>
      <dd>{props.agent.os}</dd>
      <dt>Kernel</dt>
      <dd class="mono">{props.agent.kernel}</dd>
      <dt>Architecture</dt>
      <dd>{props.agent.arch}</dd>
      <dt>Agent version</dt>
      <dd>{props.agent.agentVersion}</dd>
      <dt>Enrolled</dt>
      <dd title={props.agent.enrolledWith ? `with enrollment token ${props.agent.enrolledWith}` : undefined}>
        {formatTime(Date.parse(props.agent.firstSeenAt), props.now)} ({formatAgo(Date.parse(props.agent.firstSeenAt), props.now)})
      </dd>
      <dt>Last report</dt>
      <dd>
        <Show when={props.agent.lastStatusAt} fallback={<span class="muted">none yet</span>}>
          {(at) => (
            <>
              {formatAgo(Date.parse(at()), props.now)} <span class="muted">· heartbeat every {props.agent.heartbeatIntervalSec} s</span>
            </>
          )}
        </Show>
      </dd>
      <dt>Config revision</dt>
      <dd>{props.agent.configRevision}</dd>
      <dt>Telemetry spool</dt>
      <dd>
        <Show when={spool()} fallback={<span class="muted">not reported</span>}>
          {(s) => (
            <>
              <span classList={{ warn: s().spooledBatches > 0 }}>
                {s().spooledBatches} batches ({formatBytes(s().spooledBytes)}) waiting
              </span>
              {" · "}
              <span classList={{ bad: s().droppedBatches > 0 }} title="Dropped past the spool's bound since the agent started">
                {s().droppedBatches} dropped ({formatBytes(s().droppedBytes)})
              </span>
            </>
          )}
        </Show>
      </dd>
    </dl>
  );
}

function Capabilities(props: { agent: Agent }) {
  const rows = () => capabilityRows(props.agent.capabilities);
  return (
    <>
      <ul class="checks">
        <For each={rows()}>
          {(row) => (
            <li>
              <span class="mark" data-ok={String(row.ok)} aria-label={row.ok === null ? "" : row.ok ? "yes" : "no"}>
                {row.ok === null ? "·" : row.ok ? "✓" : "✗"}
              </span>
              <span class="check-name">{row.name}</span>
              <span class="check-detail">{row.detail}</span>
            </li>
          )}
        </For>
      </ul>
      <div class="cap-eff mono" title="Effective capability set, as /proc/self/status CapEff">
        CapEff {props.agent.capabilities.capEff || "unreadable"}
      </div>
    </>
  );
}

function ProbeTable(props: { agent: Agent; rates: Record<string, number | null>; now: number }) {
  const probes = () => sortProbes(props.agent.probes);
  return (
    <Show
      when={probes().length > 0}
      fallback={
        <Empty title="No probes on this agent">
          <Show
            when={props.agent.labels[SIMULATED_LABEL] === "true"}
            fallback={<>It has reported none yet: an agent starts its default probes within seconds of enrolling, and rollouts add more.</>}
          >
            Simulated agents run only what rollouts give them: start one from <A href="/rollouts/new">New rollout</A>.
          </Show>
        </Empty>
      }
    >
      <div class="scroll">
        <table aria-label="Probes" class="probe-table">
          <thead>
            <tr>
              <th>Probe</th>
              <th>State</th>
              <th>Version</th>
              <th>Since</th>
              <th class="num" title="Restarts after a failure">Restarts</th>
              <th class="num" title="CPU its BPF programs took in the kernel, % of one core">Kernel CPU</th>
              <th class="num" title="CPU of its loader process, % of one core">Loader CPU</th>
              <th class="num" title="Resident memory of its loader process">Loader RSS</th>
              <th class="num" title="Times its BPF programs ran per second (kernel events handled)">Runs/s</th>
              <th>Error or reason</th>
            </tr>
          </thead>
          <tbody>
            <For each={probes()}>
              {(p) => (
                <tr>
                  <td>
                    <A href={`/probes/${p.kind}`} title={p.policyId ? `policy ${p.policyId}` : "built in"}>
                      {p.kind}
                    </A>
                  </td>
                  <td>
                    <StateBadge state={p.state} title={p.reason ?? p.error} />
                  </td>
                  <td class="mono">{p.version}</td>
                  <td class="nowrap" title={formatTime(p.since)}>
                    {formatAgo(p.since, props.now)}
                  </td>
                  <td class="num">{p.restarts ?? 0}</td>
                  <td class="num">{p.cost ? formatValue(p.cost.kernelCpuPercent, "percent") : "—"}</td>
                  <td class="num">{p.cost ? formatValue(p.cost.loaderCpuPercent, "percent") : "—"}</td>
                  <td class="num">{p.cost ? formatBytes(p.cost.loaderRssBytes) : "—"}</td>
                  <td class="num">{formatValue(props.rates[p.kind] ?? null)}</td>
                  <td>
                    <Show when={p.error} fallback={<div class="probe-reason" title={p.reason}>{p.reason ?? ""}</div>}>
                      <div class="probe-error" title={p.error}>
                        {p.error}
                      </div>
                    </Show>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
    </Show>
  );
}

/** Policies the agent could not use and conflicts it resolved: rare, and worth a warning when they happen. */
function PolicyProblems(props: { agent: Agent }) {
  const invalid = () => Object.entries(props.agent.invalidPolicies);
  return (
    <Show when={invalid().length > 0 || props.agent.policyConflicts.length > 0}>
      <div class="notice" role="status">
        <For each={invalid()}>
          {([key, reason]) => (
            <div>
              Policy <code>{key}</code> was not applied: {reason}
            </div>
          )}
        </For>
        <For each={props.agent.policyConflicts}>
          {(c) => (
            <div>
              Two policies run <code>{c.kind}</code>: <code>{c.winner}</code> won over <code>{c.loser}</code>.
            </div>
          )}
        </For>
      </div>
    </Show>
  );
}
