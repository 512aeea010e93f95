import { A } from "@solidjs/router";
import { For, Show, type JSX } from "solid-js";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { AgentLink } from "../../components/AgentLink.tsx";
import { Page, Panel } from "../../components/Page.tsx";
import { Empty, isNetworkError, Loaded, Loading, LoadingOrError } from "../../components/StateViews.tsx";
import { TimePicker } from "../../components/TimePicker.tsx";
import { ChartGroup } from "../../charts/ChartGroup.tsx";
import { TimeChart } from "../../charts/TimeChart.tsx";
import { useTimeRange } from "../../lib/use-time-range.ts";
import { formatAgo, formatTime } from "../../lib/format.ts";
import { NoAgentsHint } from "../agents/NoAgentsHint.tsx";
import { useNow, usePoll, type Poll } from "../../lib/use-poll.ts";
import { ActiveRollouts, fetchActiveRollouts } from "./ActiveRollouts.tsx";
import "./mission-control.css";

type Summary = RouterOutputs["agents"]["summary"];

const REFRESH_MS = 5000;

/**
 * Mission Control: the fleet at a glance (agents by status, probes running and
 * failing, kernels), the active rollouts with live per-wave progress, the newest
 * failures, and live fleet-wide charts. Counts refresh every 5 s.
 */
export default function MissionControlPage() {
  const now = useNow(1000);
  const [range, setRange] = useTimeRange();
  const summary = usePoll(() => true, () => api.agents.summary.query({}), { intervalMs: REFRESH_MS });
  const rollouts = usePoll(() => true, fetchActiveRollouts, { intervalMs: REFRESH_MS });

  return (
    <Page
      title="Mission Control"
      subtitle={
        <Show when={summary.updatedAt()} fallback="Fleet health, rollouts and failures">
          {(at) => <span title={`Refreshed every ${REFRESH_MS / 1000} s`}>Fleet health, rollouts and failures · updated {formatAgo(at(), now())}</span>}
        </Show>
      }
      actions={
        <>
          <TimePicker range={range()} onChange={setRange} />
          <Show
            when={session.canOperate()}
            fallback={
              <button type="button" class="btn btn-primary" disabled title="Viewers cannot start rollouts: sign in with an operator or admin token">
                New rollout
              </button>
            }
          >
            <A href="/rollouts/new" class="btn btn-primary">
              New rollout
            </A>
          </Show>
        </>
      }
    >
      <Stale poll={summary} what="fleet summary" />
      <Show
        when={summary.data()}
        fallback={
          <Panel>
            <LoadingOrError error={summary.error()} retry={summary.refresh} what="the fleet summary" loading="the fleet" />
          </Panel>
        }
      >
        {(s) => (
          <>
            <FleetTiles summary={s()} activeRollouts={rollouts.data()?.length} />
            <Show when={s().total === 0}>
              <Panel title="Get started">
                <NoAgentsHint />
              </Panel>
            </Show>
          </>
        )}
      </Show>

      <div class="grid mc-row">
        <Panel title="Active rollouts" class="mc-rollouts-panel" actions={<A href="/rollouts">All rollouts</A>}>
          <Stale poll={rollouts} what="rollouts" />
          <Loaded data={rollouts.data()} error={rollouts.error()} retry={rollouts.refresh} what="the active rollouts" loading="rollouts">
            {(list) => (
              <Show
                when={list().length > 0}
                fallback={
                  <Empty title="No rollout is running">
                    Stage a probe version across the fleet by label, wave by wave: <A href="/rollouts/new">start a rollout</A>. Finished ones are under <A href="/rollouts">Rollouts</A>.
                  </Empty>
                }
              >
                <ActiveRollouts rollouts={list()} now={now()} />
              </Show>
            )}
          </Loaded>
        </Panel>

        <Panel title="Recent failures" class="mc-failures-panel">
          <Show when={summary.data()} fallback={<Show when={!summary.error()}><Loading what="failures" /></Show>}>
            {(s) => <RecentFailures failures={s().recentFailures} now={now()} />}
          </Show>
        </Panel>
      </div>

      <section class="mc-charts" aria-labelledby="mc-charts-title">
        <header class="mc-charts-header">
          <h2 id="mc-charts-title">Fleet, live</h2>
          <span class="muted">every agent · loopback traffic left out</span>
        </header>
        <ChartGroup range={range()}>
          <TimeChart title="Fleet CPU busy (mean)" metric="host_cpu_utilization_total" agg="avg" unit="ratio" />
          <TimeChart title="Busiest host CPU" metric="host_cpu_utilization_total" agg="max" unit="ratio" />
          <TimeChart title="Fleet CPU by mode" metric="host_cpu_utilization" by={["mode"]} agg="avg" unit="ratio" stacked />
          <TimeChart title="Fleet memory used" metric="host_memory_bytes" seriesSelector="state=used" agg="sum" unit="bytes" />
          <TimeChart title="Fleet network received" metric="host_network_receive_bytes_total" seriesSelector="interface!=lo" agg="rate" unit="bytes/s" />
          <TimeChart title="Fleet network sent" metric="host_network_transmit_bytes_total" seriesSelector="interface!=lo" agg="rate" unit="bytes/s" />
          <TimeChart title="TCP retransmits" metric="tcp_retransmits_total" agg="rate" unit="segments/s" />
          <TimeChart title="Fleet load (1 min, mean)" metric="host_load1" agg="avg" unit="tasks" />
          <TimeChart title="Probe CPU in the kernel (mean per host)" metric="probepilot_probe_kernel_cpu_percent" by={["probe"]} agg="avg" unit="percent" />
        </ChartGroup>
      </section>
    </Page>
  );
}

/** A refresh that failed while older data is on screen: say so, keep the data. */
function Stale<T>(props: { poll: Poll<T>; what: string }) {
  return (
    <Show when={props.poll.error() && props.poll.data()}>
      <p class="notice" role="status">
        Could not refresh the {props.what} ({errorMessage(props.poll.error())}); showing them as of {formatTime(props.poll.updatedAt() ?? 0)}.
        <Show when={isNetworkError(props.poll.error())}> The control plane is not reachable: is `npm start` still running? This page retries by itself.</Show>
      </p>
    </Show>
  );
}

function FleetTiles(props: { summary: Summary; activeRollouts: number | undefined }) {
  const s = () => props.summary;
  const online = () => s().byStatus.online ?? 0;
  const offline = () => s().byStatus.offline ?? 0;
  return (
    <div class="mc-tiles">
      <Tile label="Agents" value={s().total} href="/agents" sub={<KernelList kernels={s().byKernel} total={s().total} />} />
      <Tile label="Online" value={online()} href="/agents?status=online" tone={online() > 0 ? "ok" : undefined} sub={s().total ? `${Math.round((100 * online()) / s().total)}% of the fleet` : undefined} />
      <Tile label="Offline" value={offline()} href="/agents?status=offline" tone={offline() > 0 ? "bad" : undefined} sub={offline() > 0 ? "not reporting: their charts stop" : "every agent is reporting"} />
      <Tile label="Probes running" value={s().probes.running} sub={`of ${s().probes.total} on online agents`} tone={s().probes.running > 0 ? "ok" : undefined} />
      <Tile label="Probes failed" value={s().probes.failed} tone={s().probes.failed > 0 ? "bad" : undefined} sub={s().probes.failed > 0 ? "see Recent failures" : "none failing"} />
      <Tile label="Active rollouts" value={props.activeRollouts ?? "…"} href="/rollouts" tone={props.activeRollouts ? "info" : undefined} sub="running, paused or rolling back" />
    </div>
  );
}

/** One big number. The whole tile is the link when there is one. */
function Tile(props: { label: string; value: number | string; sub?: JSX.Element; href?: string; tone?: "ok" | "bad" | "info" }) {
  const body = (
    <>
      <span class="stat-value" data-tone={props.tone}>
        {props.value}
      </span>
      <span class="stat-label">{props.label}</span>
      <Show when={props.sub}>
        <span class="mc-tile-sub">{props.sub}</span>
      </Show>
    </>
  );
  return (
    <Show when={props.href} fallback={<div class="panel stat mc-tile">{body}</div>}>
      {(href) => (
        <A href={href()} class="panel stat mc-tile mc-tile-link">
          {body}
        </A>
      )}
    </Show>
  );
}

/** The most common kernels as thin bars (canary strata are per kernel: this is what a rollout must cover). */
function KernelList(props: { kernels: Summary["byKernel"]; total: number }) {
  return (
    <Show when={props.kernels.length > 0}>
      <span class="mc-kernels" title="Agents per kernel (the 10 most common)">
        <For each={props.kernels.slice(0, 3)}>
          {(k) => (
            <span class="mc-kernel">
              <span class="mc-kernel-bar" style={{ width: `${props.total ? (100 * k.count) / props.total : 0}%` }} />
              <span class="mc-kernel-text mono">
                {k.kernel} <b>{k.count}</b>
              </span>
            </span>
          )}
        </For>
        <Show when={props.kernels.length > 3}>
          <span class="muted">+{props.kernels.length - 3} more kernels</span>
        </Show>
      </span>
    </Show>
  );
}

function RecentFailures(props: { failures: Summary["recentFailures"]; now: number }) {
  return (
    <Show
      when={props.failures.length > 0}
      fallback={<Empty title="No failures">No probe is failing on any agent, and no agent has failed a rollout.</Empty>}
    >
      <div class="scroll mc-failures-wrap">
        <table aria-label="Recent failures" class="mc-failures">
          <thead>
            <tr>
              <th>When</th>
              <th>Host</th>
              <th>Probe</th>
              <th>Error</th>
              <th>Rollout</th>
            </tr>
          </thead>
          <tbody>
            <For each={props.failures}>
              {(f) => (
                <tr>
                  <td class="nowrap" title={formatTime(f.at)}>
                    {formatAgo(f.at, props.now)}
                  </td>
                  <td class="nowrap">
                    <AgentLink id={f.agentId} hostname={f.hostname} />
                  </td>
                  <td class="mono">{f.probe}</td>
                  <td class="mc-failure-message" title={f.message}>
                    <span>{f.message}</span>
                  </td>
                  <td class="nowrap">
                    <Show when={f.rolloutId} fallback={<span class="muted" title="The agent reports this probe failed now">on the agent</span>}>
                      {(id) => (
                        <A href={`/rollouts/${id()}`} class="mono" title={id()}>
                          {id().slice(0, 12)}…
                        </A>
                      )}
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
