import { A } from "@solidjs/router";
import { For, Show } from "solid-js";
import type { RolloutView } from "@probepilot/shared";

/**
 * The canary's strata: every (kernel, arch, OS) among the matching agents, and
 * the agent that represents it in the first wave, either because its hash is
 * under the first cut ("by hash") or because it was added so that every
 * stratum is tried first. Shared by the wizard's preview and the rollout page.
 */
export function CanaryTable(props: { canary: RolloutView["canary"] }) {
  const added = () => props.canary.filter((c) => !c.byHash).length;
  return (
    <div class="canary">
      <p class="muted canary-summary">
        {props.canary.length} {props.canary.length === 1 ? "stratum" : "strata"} (kernel, arch, OS) among the matching agents
        <Show when={added() > 0} fallback=", all in wave 1 by hash.">
          ; wave 1 also takes {added()} agent{added() === 1 ? "" : "s"} so that every stratum is tried first.
        </Show>
      </p>
      <div class="scroll canary-scroll">
        <table aria-label="Canary strata" class="canary-table">
          <thead>
            <tr>
              <th>Kernel</th>
              <th>Arch</th>
              <th>OS</th>
              <th>How</th>
              <th>Represented by</th>
            </tr>
          </thead>
          <tbody>
            <For each={props.canary}>
              {(c) => (
                <tr>
                  <td class="mono">{c.stratum.kernel}</td>
                  <td class="mono">{c.stratum.arch}</td>
                  <td class="mono">{c.stratum.os}</td>
                  <td class="muted" title={c.byHash ? "Its wave hash is under the first wave's cut" : "Added to the first wave so that this stratum is tried before the rest"}>
                    {c.byHash ? "by hash" : "added"}
                  </td>
                  <td>
                    <A href={`/agents/${c.agentId}`} class="mono">
                      {c.agentId}
                    </A>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
    </div>
  );
}
