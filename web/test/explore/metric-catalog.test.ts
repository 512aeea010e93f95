import { describe, expect, it } from "vitest";
import { agentLabelKeys, aggregatedUnit, defaultAggregation, filterMetrics, groupByChoices, isAggregation, parseGroupBy, seriesTable, summarizeSeries } from "../../src/pages/explore/metric-catalog.ts";

const CATALOG = ["host_cpu_utilization", "host_cpu_seconds_total", "host_memory_bytes", "process_execs_total", "tcp_flow_bytes_sent_total", "cpu_profile_samples_total"].map((metric) => ({ metric }));

describe("filterMetrics", () => {
  it("keeps names containing every term, prefix and segment matches first", () => {
    expect(filterMetrics(CATALOG, "cpu").map((m) => m.metric)).toEqual(["cpu_profile_samples_total", "host_cpu_seconds_total", "host_cpu_utilization"]);
    expect(filterMetrics(CATALOG, "bytes total").map((m) => m.metric)).toEqual(["tcp_flow_bytes_sent_total"]);
    expect(filterMetrics(CATALOG, "CPU UTIL").map((m) => m.metric)).toEqual(["host_cpu_utilization"]);
    expect(filterMetrics(CATALOG, "nothing")).toEqual([]);
  });

  it("lists everything alphabetically for an empty query", () => {
    expect(filterMetrics(CATALOG, " ").map((m) => m.metric)[0]).toBe("cpu_profile_samples_total");
    expect(filterMetrics(CATALOG, "")).toHaveLength(CATALOG.length);
  });
});

describe("aggregation", () => {
  it("defaults to rate for counters and avg otherwise", () => {
    expect(defaultAggregation("counter")).toBe("rate");
    expect(defaultAggregation("gauge")).toBe("avg");
    expect(defaultAggregation(undefined)).toBe("avg");
    expect(isAggregation("rate")).toBe(true);
    expect(isAggregation("median")).toBe(false);
  });

  it("gives the unit of the aggregated values", () => {
    expect(aggregatedUnit("bytes", "rate")).toBe("bytes/s");
    expect(aggregatedUnit("seconds", "rate")).toBe("ratio");
    expect(aggregatedUnit("packets", "rate")).toBe("packets/s");
    expect(aggregatedUnit(null, "rate")).toBe("/s");
    expect(aggregatedUnit("bytes", "count")).toBeNull();
    expect(aggregatedUnit("ratio", "avg")).toBe("ratio");
  });
});

describe("group by", () => {
  it("lists the metric's keys first, then agent keys, each once", () => {
    expect(groupByChoices(["mode", "env"], ["region", "env", "az"])).toEqual([
      { key: "mode", source: "series" },
      { key: "env", source: "series" },
      { key: "az", source: "agent" },
      { key: "region", source: "agent" },
    ]);
  });

  it("collects agent label keys and parses the URL list", () => {
    expect(agentLabelKeys([{ labels: { env: "a", region: "b" } }, { labels: { env: "c", az: "1" } }])).toEqual(["az", "env", "region"]);
    expect(parseGroupBy(" mode, ,env,mode")).toEqual(["mode", "env"]);
    expect(parseGroupBy("")).toEqual([]);
  });
});

describe("series table", () => {
  it("summarizes points, ignoring empty buckets", () => {
    expect(summarizeSeries([[1, 2], [2, null], [3, 6], [4, 1]])).toEqual({ last: 1, min: 1, max: 6, avg: 3, points: 3 });
    expect(summarizeSeries([[1, null]])).toEqual({ last: null, min: null, max: null, avg: null, points: 0 });
  });

  it("sorts the busiest series first and empty ones last", () => {
    const rows = seriesTable([
      { labels: { mode: "idle" }, points: [[1, null]] },
      { labels: { mode: "user" }, points: [[1, 0.2]] },
      { labels: { mode: "system" }, points: [[1, 0.5]] },
    ]);
    expect(rows.map((r) => r.labels.mode)).toEqual(["system", "user", "idle"]);
  });
});
