import { A } from "@solidjs/router";
import { For, Show, createResource, onCleanup, onMount } from "solid-js";
import { ACTIVE_ROLLOUT_STATES, ROLLOUT_STATES, healthyCount, type RolloutState } from "@probepilot/shared";
import { api, type RouterOutputs } from "../../api/client.ts";
import { ProgressBar, StateBadge } from "../../components/Badges.tsx";
import { FilterSelect } from "../../components/FilterSelect.tsx";
import { Page, Panel } from "../../components/Page.tsx";
import { Empty, ResourceLoaded } from "../../components/StateViews.tsx";
import { formatAgo, formatTime, shortActor } from "../../lib/format.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { waveParts } from "./rollout-model.ts";
import "../probes/probes.css";
import "./rollouts.css";

type RolloutView = RouterOutputs["rollouts"]["list"][number];

/** While any rollout shown is active, the list refreshes this often (the detail page streams; a list need not). */
const REFRESH_MS = 5000;
/** …and this often when none is. */
const QUIET_REFRESH_MS = 30_000;

/** Rollouts, newest first, filtered by state (`?state=running`); each row opens the rollout. */
export default function RolloutsPage() {
  const [state, setState] = useUrlParam("state");
  const [rollouts, { refetch }] = createResource(
    () => ({ state: state() }),
    ({ state }) => api.rollouts.list.query({ limit: 200, ...(state ? { state: state as RolloutState } : {}) }),
  );
  onMount(() => {
    let lastRefresh = Date.now();
    const timer = setInterval(() => {
      if (document.visibilityState !== "visible" || rollouts.error) return;
      // Quiet lists refresh too, less often: a rollout started elsewhere, or a control plane gone away, shows.
      const active = (rollouts.latest ?? []).some((r) => ACTIVE_ROLLOUT_STATES.includes(r.state));
      if (!active && Date.now() - lastRefresh < QUIET_REFRESH_MS) return;
      lastRefresh = Date.now();
      void refetch();
    }, REFRESH_MS);
    onCleanup(() => clearInterval(timer));
  });

  return (
    <Page
      title="Rollouts"
      subtitle="Probe versions staged across the fleet by label, wave by wave, each wave gated on the health of its agents."
      actions={
        <A href="/rollouts/new" class="btn btn-primary">
          New rollout
        </A>
      }
    >
      <Panel
        title="All rollouts"
        actions={
          <FilterSelect id="rollout-state-filter" label="State" value={state()} onChange={setState} options={ROLLOUT_STATES} optionLabel={(s) => s.replace("_", " ")} />
        }
      >
        <ResourceLoaded resource={rollouts} retry={refetch} what="rollouts">
          {(list) => (
            <Show
              when={list().length > 0}
              fallback={
                <Empty title={state() ? `No ${state().replace("_", " ")} rollouts` : "No rollouts yet"}>
                  <Show when={state()} fallback={<>Start one with "New rollout": pick a probe version and a selector; the preview shows how many agents each wave takes.</>}>
                    <button type="button" class="btn btn-small" onClick={() => setState("")}>
                      Show all states
                    </button>
                  </Show>
                </Empty>
              }
            >
              <div class="scroll">
                <table aria-label="Rollouts" class="rollouts-table">
                  <thead>
                    <tr>
                      <th>Rollout</th>
                      <th>Probe</th>
                      <th>Selector</th>
                      <th>State</th>
                      <th>Wave</th>
                      <th class="progress-col">Progress</th>
                      <th class="num">Healthy</th>
                      <th class="num">Failed</th>
                      <th>Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={list()}>{(r) => <RolloutRow rollout={r} />}</For>
                  </tbody>
                </table>
              </div>
            </Show>
          )}
        </ResourceLoaded>
      </Panel>
    </Page>
  );
}

function RolloutRow(props: { rollout: RolloutView }) {
  const r = () => props.rollout;
  const planned = () => r().waves.reduce((sum, w) => sum + w.planned, 0);
  const bar = () => waveParts(r().totals, planned());
  const wave = () => (r().state === "completed" ? `${r().waves.length}/${r().waves.length}` : `${r().currentWave + 1}/${r().waves.length}`);
  return (
    <tr>
      <td>
        <A href={`/rollouts/${r().id}`} class="mono">
          {r().id}
        </A>
      </td>
      <td>
        <A href={`/probes/${encodeURIComponent(r().probe.name)}?version=${r().probe.version}`} class="mono">
          {r().probe.name}@v{r().probe.version}
        </A>
      </td>
      <td class="mono selector-cell">{r().selector || <span class="muted">(all agents)</span>}</td>
      <td>
        <StateBadge state={r().state} title={r().stateReason ?? undefined} />
      </td>
      <td class="mono">
        {wave()}
        <Show when={r().state === "running" && r().phase}>
          {(phase) => <span class="muted"> {phase()}</span>}
        </Show>
      </td>
      <td class="progress-col">
        <ProgressBar parts={bar().parts} total={bar().total} label={`Rollout ${r().id}`} />
      </td>
      <td class="num">
        {healthyCount(r().totals)}/{bar().total}
      </td>
      <td class="num" classList={{ bad: r().totals.failed > 0 }}>
        {r().totals.failed}
      </td>
      <td title={formatTime(Date.parse(r().createdAt))}>
        {formatAgo(Date.parse(r().createdAt))} <span class="muted" title={r().createdBy}>
          by {shortActor(r().createdBy)}
        </span>
      </td>
    </tr>
  );
}
