import { A } from "@solidjs/router";
import { createMemo, For, Show } from "solid-js";
import { api, type RouterOutputs } from "../../api/client.ts";
import { Panel } from "../../components/Page.tsx";
import { Empty, Loaded } from "../../components/StateViews.tsx";
import { useUrlParam } from "../../lib/url-state.ts";
import { formatSi, formatTime, formatValue } from "../../lib/format.ts";
import { resolveRange, stepFor, type TimeRange } from "../../lib/time-range.ts";
import { usePoll } from "../../lib/use-poll.ts";
import { AgentSelectorField, SelectorField, selectorOrUndefined } from "./SelectorField.tsx";
import { MetricPicker } from "./MetricPicker.tsx";
import { Heatmap } from "./Heatmap.tsx";
import { isEmptyHistogram, percentileLabel, rangePercentiles } from "./heatmap-model.ts";

/** The percentiles drawn as lines and summed up above the heatmap. */
const PERCENTILES = [50, 90, 99];
/** There is no live histogram stream: while live, the heatmap is queried again this often. */
const REFRESH_MS = 5000;
/** About this many columns: cells a few pixels wide at least, and coarser than the probes' 1 s snapshots. */
const TARGET_COLUMNS = 240;
/** The built-in probes whose output is a histogram (shared/src/probe-spec.ts), suggested when there is none. */
const HISTOGRAM_PROBES = ["runqueue_latency", "tcp_connect_latency", "block_io_latency"] as const;

type HistogramResult = RouterOutputs["telemetry"]["histogram"];

/**
 * The Histograms tab: a log2 histogram metric (run-queue, TCP connect, block I/O
 * latency) merged over the matching agents, as a heatmap over time with p50/p90/p99
 * lines, plus the percentiles of the whole range. URL: `hist`, `hseries`.
 */
export function HistogramsTab(props: { range: TimeRange; selector: string; onSelector: (s: string) => void }) {
  const [histParam, setHist] = useUrlParam("hist", "");
  const [seriesSel, setSeriesSel] = useUrlParam("hseries", "");
  const live = () => props.range.kind === "live";

  const catalog = usePoll(
    () => ({ agentSelector: selectorOrUndefined(props.selector) }),
    async (input) => (await api.telemetry.metrics.query(input)).filter((m) => m.kind === "histogram"),
    { poll: live, intervalMs: 60_000 },
  );
  const metricName = createMemo(() => histParam() || (catalog.data()?.find((m) => m.metric === HISTOGRAM_PROBES[0]) ?? catalog.data()?.[0])?.metric || "");
  const info = createMemo(() => catalog.data()?.find((m) => m.metric === metricName()));

  const histogram = usePoll(
    () => (metricName() && catalog.data() ? { metric: metricName(), agentSelector: selectorOrUndefined(props.selector), seriesSelector: selectorOrUndefined(seriesSel()), range: props.range } : null),
    ({ range, ...q }) => {
      const { from, to } = resolveRange(range);
      return api.telemetry.histogram.query({ ...q, from, to, stepMs: stepFor(to - from, TARGET_COLUMNS), percentiles: PERCENTILES });
    },
    { poll: live, intervalMs: REFRESH_MS },
  );
  const summary = createMemo(() => {
    const h = histogram.data();
    if (!h) return null;
    const samples = h.heatmap.reduce((n, r) => n + r.counts.reduce((a, c) => a + c, 0), 0);
    return { samples, percentiles: rangePercentiles(h.heatmap, [...PERCENTILES, 100]) };
  });

  return (
    <div class="explore-histograms">
      <Panel>
        <div class="toolbar explore-toolbar">
          <Show when={catalog.data()} fallback={<div class="field metric-picker"><span class="field-label">Histogram</span><input disabled placeholder="loading the catalog…" /></div>}>
            {(items) => <MetricPicker label="Histogram" catalog={items()} value={metricName()} onPick={(m) => setHist(m.metric)} placeholder="type to filter histograms" />}
          </Show>
          <AgentSelectorField value={props.selector} onChange={props.onSelector} />
          <SelectorField label="Series selector" value={seriesSel()} onChange={setSeriesSel} placeholder={info()?.labelKeys.length ? `over ${info()!.labelKeys.join(", ")} · e.g. ${info()!.labelKeys[0]}=x` : "this histogram has no labels"} />
        </div>
        <p class="muted explore-note">
          Histograms are queried, not streamed: {live() ? `while live, the heatmap reloads every ${REFRESH_MS / 1000} s.` : "paused on a fixed range."} Each cell merges every matching series' snapshots in its time bucket.
        </p>
      </Panel>

      <Loaded data={catalog.data()} error={catalog.error()} retry={catalog.refresh} what="the histogram catalog">
        {(items) => (
          <Show when={items().length > 0} fallback={<NoHistograms selector={props.selector} />}>
            <Panel
              title={metricName()}
              actions={
                <span class="muted">
                  {histogram.data() ? `${histogram.data()!.seriesMatched} series · step ${histogram.data()!.stepMs / 1000} s · as of ${formatTime(histogram.updatedAt() ?? Date.now())}` : ""}
                </span>
              }
            >
              <Loaded data={histogram.data()} error={histogram.error()} retry={histogram.refresh} what={metricName()}>
                {(h) => (
                  <Show when={!isEmptyHistogram(h())} fallback={<EmptyRange metric={metricName()} result={h()} />}>
                    <Show when={summary()}>
                      {(s) => (
                        <div class="histogram-stats">
                          <div class="stat">
                            <span class="stat-value">{formatSi(s().samples)}</span>
                            <span class="stat-label">samples</span>
                          </div>
                          <For each={s().percentiles}>
                            {(p) => (
                              <div class="stat">
                                <span class="stat-value">{formatValue(p.value, info()?.unit)}</span>
                                <span class="stat-label">{p.p === 100 ? "max (bucket bound)" : percentileLabel(p.p)} over the range</span>
                              </div>
                            )}
                          </For>
                        </div>
                      )}
                    </Show>
                    <Heatmap data={h()} unit={info()?.unit ?? null} height={340} label={`${metricName()} heatmap`} />
                  </Show>
                )}
              </Loaded>
            </Panel>
          </Show>
        )}
      </Loaded>
    </div>
  );
}

function NoHistograms(props: { selector: string }) {
  return (
    <Empty title={props.selector ? `No histogram metrics from agents matching “${props.selector}”` : "No histogram data yet"}>
      Enable {HISTOGRAM_PROBES.map((p, i) => (
        <>
          {i > 0 ? (i === HISTOGRAM_PROBES.length - 1 ? " or " : ", ") : ""}
          <code>{p}</code>
        </>
      ))}{" "}
      with a <A href="/rollouts/new">rollout</A>; their latency histograms show here within seconds.
    </Empty>
  );
}

function EmptyRange(props: { metric: string; result: HistogramResult }) {
  return (
    <Empty title={props.result.seriesMatched === 0 ? `No ${props.metric} series match the selectors` : `No ${props.metric} samples in this range`}>
      {props.result.seriesMatched === 0
        ? "Loosen the agent or series selector."
        : `${props.result.seriesMatched} series matched but recorded nothing here: widen the time range, or check that the probe is running on the Agents page.`}
    </Empty>
  );
}
