import { createMemo, For, Show } from "solid-js";
import { api } from "../../api/client.ts";
import { Panel } from "../../components/Page.tsx";
import { Empty, Loaded } from "../../components/StateViews.tsx";
import { ChartGroup } from "../../charts/ChartGroup.tsx";
import { TimeChart } from "../../charts/TimeChart.tsx";
import type { Aggregation } from "../../charts/chart-types.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { resolveRange, stepFor, type TimeRange } from "../../lib/time-range.ts";
import { formatTime, formatValue } from "../../lib/format.ts";
import { usePoll } from "../../lib/use-poll.ts";
import { AgentSelectorField, SelectorField, selectorOrUndefined } from "./SelectorField.tsx";
import { MetricPicker } from "./MetricPicker.tsx";
import { useMatchingAgents } from "./use-matching-agents.ts";
import { AGGREGATION_CHOICES, agentLabelKeys, aggregatedUnit, defaultAggregation, groupByChoices, isAggregation, parseGroupBy, seriesTable, type CatalogMetric } from "./metric-catalog.ts";

/** What the page charts when the URL names no metric: every agent's host probe reports it, one series per agent. */
const DEFAULT_METRIC = "host_cpu_utilization_total";
/** The series table has no live stream of its own: it reloads this often while live. */
const TABLE_REFRESH_MS = 10_000;

/**
 * The Metrics tab: a metric from the catalog over the agents a selector matches,
 * optionally narrowed by a series selector, aggregated and grouped by label keys,
 * as one big live chart and a table of its series (last, min, max, mean).
 * URL: `metric`, `series`, `by` (comma-separated), `agg` (when not the kind's default).
 */
export function MetricsTab(props: { range: TimeRange; selector: string; onSelector: (s: string) => void; onOpenHistogram: (metric: string) => void }) {
  const [metricParam, setMetric] = useUrlParam("metric", "");
  const [seriesSel, setSeriesSel] = useUrlParam("series", "");
  const [byParam, setBy] = useUrlParam("by", "");
  const [aggParam, setAgg] = useUrlParam("agg", "");
  const live = () => props.range.kind === "live";

  const catalog = usePoll(
    () => ({ agentSelector: selectorOrUndefined(props.selector) }),
    (input) => api.telemetry.metrics.query(input),
    // New probes bring new metrics: look again now and then while live.
    { poll: live, intervalMs: 60_000 },
  );
  const agents = useMatchingAgents(() => props.selector, 200);

  const metricName = createMemo(() => {
    if (metricParam()) return metricParam();
    const items = catalog.data() ?? [];
    return (items.find((m) => m.metric === DEFAULT_METRIC) ?? items.find((m) => m.kind !== "histogram"))?.metric ?? "";
  });
  const info = createMemo((): CatalogMetric | undefined => catalog.data()?.find((m) => m.metric === metricName()));
  const agg = (): Aggregation => (isAggregation(aggParam()) ? (aggParam() as Aggregation) : defaultAggregation(info()?.kind));
  const by = createMemo(() => parseGroupBy(byParam()), undefined, { equals: (a, b) => a.join() === b.join() });
  const choices = createMemo(() => groupByChoices(info()?.labelKeys ?? [], agentLabelKeys(agents.data()?.items ?? [])));
  const unit = () => aggregatedUnit(info()?.unit, agg());

  const pickMetric = (m: CatalogMetric) => {
    if (m.kind === "histogram") return props.onOpenHistogram(m.metric);
    setMetric(m.metric);
    // The old metric's aggregation and label keys rarely fit the new one.
    setAgg("");
    setBy(by().filter((k) => m.labelKeys.includes(k) || !info()?.labelKeys.includes(k)).join(","));
  };
  const toggleBy = (key: string) => setBy((by().includes(key) ? by().filter((k) => k !== key) : [...by(), key]).join(","));

  /** The chart's query: a new object only when something in it changed (the chart is rebuilt then). */
  const spec = createMemo(
    () => {
      const m = info();
      if (!m || m.kind === "histogram") return null;
      return { metric: m.metric, agentSelector: selectorOrUndefined(props.selector), seriesSelector: selectorOrUndefined(seriesSel()), agg: agg(), by: by(), unit: unit() };
    },
    null,
    { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) },
  );

  const table = usePoll(
    () => {
      const s = spec();
      return s ? { ...s, range: props.range } : null;
    },
    ({ range, unit: _unit, ...q }) => {
      const { from, to } = resolveRange(range);
      return api.telemetry.range.query({ ...q, from, to, stepMs: stepFor(to - from) });
    },
    { poll: live, intervalMs: TABLE_REFRESH_MS },
  );
  const rows = createMemo(() => seriesTable(table.data()?.series ?? []));

  return (
    <div class="explore-metrics">
      <Panel>
        <div class="toolbar explore-toolbar">
          <Show when={catalog.data()} fallback={<div class="field metric-picker"><span class="field-label">Metric</span><input disabled placeholder="loading the catalog…" /></div>}>
            {(items) => <MetricPicker label="Metric" catalog={items()} value={metricName()} onPick={pickMetric} />}
          </Show>
          <AgentSelectorField value={props.selector} onChange={props.onSelector} />
          <SelectorField label="Series selector" value={seriesSel()} onChange={setSeriesSel} placeholder={info()?.labelKeys.length ? `over ${info()!.labelKeys.join(", ")} · e.g. ${info()!.labelKeys[0]}!=x` : "over the metric's own labels"} />
          <div class="field">
            <label for="explore-agg">Aggregation</label>
            <select id="explore-agg" value={agg()} onChange={(e) => setAgg(e.currentTarget.value === defaultAggregation(info()?.kind) ? "" : e.currentTarget.value)}>
              <For each={AGGREGATION_CHOICES}>{(a) => <option value={a}>{a === defaultAggregation(info()?.kind) ? `${a} (default for ${info()?.kind ?? "it"})` : a}</option>}</For>
            </select>
          </div>
        </div>
        <Show when={choices().length > 0}>
          <fieldset class="group-by">
            <legend>Group by</legend>
            <For each={choices()}>
              {(c) => (
                <button type="button" class="btn btn-small chip-toggle" aria-pressed={by().includes(c.key)} data-source={c.source} title={c.source === "series" ? `a label of ${metricName()}'s series` : "an agent label"} onClick={() => toggleBy(c.key)}>
                  {c.key}
                </button>
              )}
            </For>
            <span class="muted group-by-hint">series labels first, then agent labels</span>
          </fieldset>
        </Show>
      </Panel>

      <Loaded data={catalog.data()} error={catalog.error()} retry={catalog.refresh} what="the metric catalog">
        {(items) => (
          <Show
            when={items().length > 0}
            fallback={
              <Empty title={props.selector ? `No metrics from agents matching “${props.selector}”` : "No metrics yet"}>
                {props.selector ? "Loosen the selector, or check on the Agents page that the agents are online." : "Start an agent (npm start runs one) — its host probe reports within seconds."}
              </Empty>
            }
          >
            <Show
              when={spec()}
              fallback={
                <Show when={info()?.kind === "histogram"} fallback={<Empty title={`${metricName() || "This metric"} has no series here`}>Pick a metric from the catalog above.</Empty>}>
                  <Empty title={`${metricName()} is a histogram`}>
                    <button type="button" class="btn" onClick={() => props.onOpenHistogram(metricName())}>
                      Open it as a heatmap
                    </button>
                  </Empty>
                </Show>
              }
              keyed
            >
              {(s) => (
                <div class="explore-chart">
                  <ChartGroup range={props.range}>
                    <TimeChart title={chartTitle(s.metric, s.agg, s.by)} metric={s.metric} agentSelector={s.agentSelector} seriesSelector={s.seriesSelector} agg={s.agg} by={s.by} unit={s.unit} height={340} />
                  </ChartGroup>
                </div>
              )}
            </Show>
            <Show when={spec()}>
              <Panel
                title="Series"
                actions={
                  <span class="muted">
                    {table.updatedAt() ? `${rows().length} series · ${live() ? `refreshed every ${TABLE_REFRESH_MS / 1000} s · ` : ""}as of ${formatTime(table.updatedAt()!)}` : ""}
                  </span>
                }
              >
                {/* Unlike the catalog, a failed refresh shows its error in place of the older table. */}
                <Loaded data={table.error() ? undefined : table.data()} error={table.error()} retry={table.refresh} what="the series">
                  <Show when={rows().length > 0} fallback={<Empty title="No samples in this range">Widen the time range, or loosen the selectors.</Empty>}>
                    <div class="scroll series-table">
                      <table aria-label="Series">
                        <thead>
                          <tr>
                            <th>Series</th>
                            <th class="num">Last</th>
                            <th class="num">Min</th>
                            <th class="num">Max</th>
                            <th class="num">Mean</th>
                          </tr>
                        </thead>
                        <tbody>
                          <For each={rows()}>
                            {(r) => (
                              <tr>
                                <td>
                                  <Show when={Object.keys(r.labels).length > 0} fallback={<span class="muted">{metricName()} (all series)</span>}>
                                    <span class="labels">
                                      <For each={Object.entries(r.labels)}>
                                        {([k, v]) => (
                                          <span class="label-chip">
                                            {k}=<b>{v}</b>
                                          </span>
                                        )}
                                      </For>
                                    </span>
                                  </Show>
                                </td>
                                <td class="num">{formatValue(r.last, unit())}</td>
                                <td class="num">{formatValue(r.min, unit())}</td>
                                <td class="num">{formatValue(r.max, unit())}</td>
                                <td class="num">{formatValue(r.avg, unit())}</td>
                              </tr>
                            )}
                          </For>
                        </tbody>
                      </table>
                    </div>
                  </Show>
                </Loaded>
              </Panel>
            </Show>
          </Show>
        )}
      </Loaded>
    </div>
  );
}

/** "rate(tcp_flow_bytes_sent_total) by direction". */
function chartTitle(metric: string, agg: Aggregation, by: string[]): string {
  return `${agg}(${metric})${by.length ? ` by ${by.join(", ")}` : ""}`;
}
