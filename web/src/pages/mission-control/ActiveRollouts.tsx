import { A } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createSignal, on, onCleanup, untrack } from "solid-js";
import { ACTIVE_ROLLOUT_STATES, healthyCount } from "@probepilot/shared";
import { api, type RouterOutputs } from "../../api/client.ts";
import { ProgressBar, StateBadge } from "../../components/Badges.tsx";
import { describePhase, formatCounts, waveParts, waveStatus } from "../rollouts/rollout-model.ts";

type RolloutView = RouterOutputs["rollouts"]["get"];

/**
 * Rollouts followed live through `rollouts.watch`; the others refresh with the list.
 * Every SSE subscription holds one of the six HTTP/1.1 connections a browser
 * allows per origin, and the page's charts and polls need theirs.
 */
export const MAX_WATCHED_ROLLOUTS = 3;

/** The active rollouts (running, paused, rolling back), newest first: one batched request. */
export async function fetchActiveRollouts(): Promise<RolloutView[]> {
  const lists = await Promise.all(ACTIVE_ROLLOUT_STATES.map((state) => api.rollouts.list.query({ state, limit: 20 })));
  return lists.flat().sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/**
 * Each active rollout with its phase in words and a progress bar per wave; the
 * first {@link MAX_WATCHED_ROLLOUTS} follow `rollouts.watch` (changes within a
 * quarter second), the rest the 5 s list refresh. Rows are keyed by id, so a
 * refresh never restarts a subscription.
 */
export function ActiveRollouts(props: { rollouts: RolloutView[]; now: number }) {
  const byId = createMemo(() => new Map(props.rollouts.map((r) => [r.id, r])));
  const ids = createMemo(() => props.rollouts.map((r) => r.id), undefined, { equals: (a, b) => a.length === b.length && a.every((id, i) => id === b[i]) });
  return (
    <ul class="mc-rollouts">
      <For each={ids()}>{(id, index) => <Show when={byId().get(id)}>{(listed) => <ActiveRollout listed={listed()} watch={index() < MAX_WATCHED_ROLLOUTS} now={props.now} />}</Show>}</For>
    </ul>
  );
}

function ActiveRollout(props: { listed: RolloutView; watch: boolean; now: number }) {
  const id = untrack(() => props.listed.id);
  const [live, setLive] = createSignal<RolloutView | null>(null);
  createEffect(
    on(
      () => props.watch,
      (watch) => {
        if (!watch) return setLive(null);
        const sub = api.rollouts.watch.subscribe(
          { id },
          {
            onData: (view) => setLive(view),
            // The list refresh keeps the row current; a lost stream only makes it slower.
            onError: () => setLive(null),
          },
        );
        onCleanup(() => sub.unsubscribe());
      },
    ),
  );
  const view = () => live() ?? props.listed;
  const stage = () => view().waves.slice(0, view().currentWave + 1).reduce((sum, w) => sum + w.planned, 0);
  return (
    <li class="mc-rollout" data-rollout={id}>
      <div class="mc-rollout-head">
        <A href={`/rollouts/${id}`} class="mc-rollout-name">
          {view().probe.name} <span class="muted">v{view().probe.version}</span>
        </A>
        <StateBadge state={view().state} title={view().stateReason ?? undefined} />
        <code class="mc-selector" title="selector">
          {view().selector || "all agents"}
        </code>
        <span class="mc-live" data-live={!!live()} title={live() ? "Following changes live" : `Refreshed every 5 s (the first ${MAX_WATCHED_ROLLOUTS} follow changes live)`}>
          {live() ? "● live" : "○ 5 s"}
        </span>
      </div>
      <div class="mc-rollout-phase">
        <Show when={describePhase(view(), props.now)}>{(phase) => <span>{phase()} · </span>}</Show>
        <span class="muted">
          {healthyCount(view().totals)} of {stage()} in the stage running it · {formatCounts(view().totals)}
        </span>
      </div>
      <Show when={view().stateReason}>
        <div class="mc-rollout-reason">{view().stateReason}</div>
      </Show>
      <ol class="mc-waves">
        <For each={view().waves}>
          {(wave) => {
            const bar = () => waveParts(wave.counts, wave.planned);
            const status = () => waveStatus(view(), wave, props.now);
            return (
              <li class="mc-wave" data-marker={status().marker} title={`Wave ${wave.index + 1} (${wave.target}): ${status().text}`}>
                <span class="mc-wave-target">{wave.target}</span>
                <ProgressBar parts={bar().parts} total={bar().total} label={`Wave ${wave.index + 1}`} />
                <span class="mc-wave-count">
                  {healthyCount(wave.counts)}/{wave.planned}
                </span>
              </li>
            );
          }}
        </For>
      </ol>
    </li>
  );
}
