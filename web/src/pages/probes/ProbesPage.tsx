import { A } from "@solidjs/router";
import { For, Show, createMemo, createResource } from "solid-js";
import { PROBE_KIND_SUMMARIES, type ProbeKind } from "@probepilot/shared";
import { api } from "../../api/client.ts";
import { Page, Panel } from "../../components/Page.tsx";
import { Empty, ResourceLoaded } from "../../components/StateViews.tsx";
import { formatAgo, formatTime } from "../../lib/format.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { shortHash } from "./probe-text.ts";
import "./probes.css";

/** The probe catalog (`probes.list`): each probe's kind, what it does, its latest version; a row opens the probe. */
export default function ProbesPage() {
  const [probes, { refetch }] = createResource(() => api.probes.list.query());
  const [filter, setFilter] = useUrlParam("q");
  const shown = createMemo(() => {
    const q = filter().trim().toLowerCase();
    const all = (probes.error ? undefined : probes()) ?? [];
    if (!q) return all;
    return all.filter((p) => `${p.name} ${p.kind} ${p.description} ${summaryOf(p.kind)}`.toLowerCase().includes(q));
  });

  return (
    <Page title="Probes" subtitle="The catalog: what agents can observe. Each probe has immutable versions (its parameters, identified by their spec hash) that rollouts stage across the fleet.">
      <Panel
        title="Catalog"
        actions={
          <input type="search" aria-label="Filter probes" placeholder="Filter: name, kind, words…" data-search value={filter()} onInput={(e) => setFilter(e.currentTarget.value)} />
        }
      >
        <ResourceLoaded resource={probes} retry={refetch} what="the probe catalog" loading="probes">
          <Show when={shown().length > 0} fallback={<Empty title={`No probe matches "${filter()}"`}>Clear the filter to see the whole catalog.</Empty>}>
            <div class="scroll">
              <table aria-label="Probes" class="probes-table">
                <thead>
                  <tr>
                    <th>Probe</th>
                    <th>Kind</th>
                    <th>What it observes</th>
                    <th>Runs</th>
                    <th class="num">Latest</th>
                    <th class="num">Versions</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={shown()}>
                    {(p) => (
                      <tr>
                        <td>
                          <A href={`/probes/${encodeURIComponent(p.name)}`} class="mono strong">
                            {p.name}
                          </A>
                        </td>
                        <td class="mono muted">{p.kind}</td>
                        <td class="probe-summary">{p.description || summaryOf(p.kind)}</td>
                        <td>
                          <span class="badge" data-state={p.default ? "ok" : "pending"} title={p.default ? "Agents run it without any policy (the default set)" : "Opt-in: runs only where a rollout (policy) puts it"}>
                            {p.default ? "by default" : "opt-in"}
                          </span>
                        </td>
                        <td class="num mono">
                          <Show when={p.latest} fallback={<span class="muted">—</span>}>
                            {(l) => (
                              <A href={`/probes/${encodeURIComponent(p.name)}?version=${l().version}`} title={l().specHash}>
                                v{l().version} <span class="muted">{shortHash(l().specHash)}</span>
                              </A>
                            )}
                          </Show>
                        </td>
                        <td class="num">{p.versionCount}</td>
                        <td class="muted" title={p.latest ? formatTime(Date.parse(p.latest.createdAt)) : ""}>
                          {p.latest ? formatAgo(Date.parse(p.latest.createdAt)) : "—"}
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          </Show>
        </ResourceLoaded>
      </Panel>
    </Page>
  );
}

function summaryOf(kind: string): string {
  return PROBE_KIND_SUMMARIES[kind as ProbeKind] ?? "";
}
