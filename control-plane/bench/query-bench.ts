/**
 * `pnpm bench:query` — dashboard-panel latency of `telemetry.range` through the
 * tRPC API (HTTP, the typed client), on a fleet-sized data set synthesized
 * straight into the tables (see control-plane/bench/README.md).
 *
 * Setup (not timed): `startHarness()` — a real control plane on a fresh database
 * with its own nats-server — then, with `insert … select generate_series` (all on
 * the server, no rows through Node):
 *   - BENCH_AGENTS (10,000) rows in `agents` for the harness tenant, labelled
 *     `region` (5 values), `env` (3), `rack` (100) and `probepilot.io/hostname`;
 *   - 3 series per agent (probe `host`): host_cpu_utilization_total (gauge),
 *     host_memory_used_bytes (gauge), host_network_receive_bytes_total (counter);
 *   - 1 h of raw 1 s samples for ONE agent (bench-host-0), its 3 series;
 *   - BENCH_HOURS (24) whole hours of 1-minute rollups, plus the current hour so
 *     far, for host_cpu_utilization_total of every agent (10,000 × ~1,440 ≈ 14.4 M
 *     rows), written minute by minute as the rollup worker writes them (so the
 *     heap is in bucket order, as in production), and the matching 1-hour rollups
 *     computed from them the way the worker does;
 *   - `rollup_state` watermarks at "now" (1m: the current minute, 1h: the current
 *     hour), so both tiers count as complete for the synthesized range;
 *   - `vacuum analyze` of the tables (sets the visibility map, as autovacuum does
 *     for these insert-only tables).
 * The rollup worker would otherwise roll the newest raw minutes of bench-host-0
 * into `samples_1m` while panels run: the bench holds the worker's advisory lock
 * (`probepilot:rollup`, as the telemetry-query test does), so every pass skips.
 *
 * Timed: every panel is called BENCH_WARMUP times, then the panels are called
 * round-robin BENCH_RUNS times each; one figure is the wall time of one
 * `client.telemetry.range.query(…)` (HTTP round trip, auth, zod, SQL, JSON). All
 * panels use the same fixed "now" (the end of the synthesized data), so every call
 * does the same work.
 *
 * Panels (BENCH_PANELS, comma-separated, default `agent-1h-1s,fleet-24h-1h,agent-24h-1m`):
 *   agent-1h-1s      1 h at 1 s step, avg, one agent (raw tier, 3,600 points)
 *   fleet-24h-1h     24 h fleet avg by region over all agents at 1 h step (1h tier: 24 points × 5 groups,
 *                    240,000 rollup rows read)
 *   agent-24h-1m     24 h at 1 m step, one agent (1m tier, 1,440 points)
 *   fleet-24h-5m     (not by default: seconds per call) 24 h fleet avg by region at 5 min step (1m tier:
 *                    288 points × 5 groups, 14.4 M rollup rows read)
 *   fleet-24h-1m     (not by default) the same at 1 min step (1,440 points × 5 groups)
 *
 * Last line: `query: p50 <a> ms, p99 <b> ms over <n> panels` (n = timed calls of all panels).
 * Target: p99 < 50 ms.
 *
 * Environment (all optional):
 *   BENCH_AGENTS        agents (default 10000)
 *   BENCH_HOURS         whole hours of rollups (default 24)
 *   BENCH_RUNS          timed calls per panel (default 50)
 *   BENCH_WARMUP        untimed calls per panel first (default 3)
 *   BENCH_PANELS        panels to time (see above)
 *   BENCH_EXPLAIN       "miss" (default): print EXPLAIN (ANALYZE, BUFFERS) of the SQL of every panel whose
 *                       p99 misses 50 ms; "all": of every panel; "off": none
 *   BENCH_KEEP_DB       "1": do not drop the database at the end (prints its URL)
 *   BENCH_REUSE_DB      URL of a database kept by an earlier run: skip the load, run the panels on it
 *   BENCH_REUSE_SECRET_KEY  with BENCH_REUSE_DB: the secret key that run printed (it seals the NATS keys in that database)
 *                       (a control plane and nats-server are started on it as the harness does)
 *   DATABASE_URL        server to create the throwaway database on (default postgres://postgres@127.0.0.1:5432/postgres)
 *   PP_TEST_LOG         control-plane log level (default silent)
 */
import { performance } from "node:perf_hooks";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { drizzle } from "drizzle-orm/postgres-js";
import { createTRPCClient, httpLink } from "@trpc/client";
import type { AppRouter } from "../src/trpc/app-router.ts";
import * as schema from "../src/db/schema.ts";
import { ensureSamplePartitions } from "../src/db/samples-partitions.ts";
import { queryRange, type QueryRangeInput } from "../src/services/telemetry/query-range.ts";
import { startHarness } from "@probepilot/testkit/control-plane-harness";
import { fakeCapabilities } from "@probepilot/testkit/fake-hello";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const TARGET_P99_MS = 50;

const envInt = (name: string, dflt: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${raw}: expected a whole number ≥ 0`);
  return n;
};
const AGENTS = envInt("BENCH_AGENTS", 10_000);
const HOURS = envInt("BENCH_HOURS", 24);
const RUNS = envInt("BENCH_RUNS", 50);
/** Back-to-back calls from one token go past the API's default rate limit (50/s): the bench measures queries, not the limiter. */
const NO_RATE_LIMIT = { PROBEPILOT_RATE_LIMIT_RPS: "0" };
const WARMUP = envInt("BENCH_WARMUP", 3);
const PANEL_NAMES = (process.env.BENCH_PANELS ?? "agent-1h-1s,fleet-24h-1h,agent-24h-1m").split(",").map((s) => s.trim()).filter(Boolean);
const EXPLAIN = (process.env.BENCH_EXPLAIN ?? "miss") as "miss" | "all" | "off";
const KEEP_DB = process.env.BENCH_KEEP_DB === "1";
const REUSE_DB = process.env.BENCH_REUSE_DB;

const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"];
const ENVS = ["prod", "staging", "dev"];
/** Metrics per agent; only the first is rolled up for the whole fleet (≈ 14.4 M rows for 24 h). */
const METRICS = [
  { metric: "host_cpu_utilization_total", kind: "gauge", unit: "ratio" },
  { metric: "host_memory_used_bytes", kind: "gauge", unit: "bytes" },
  { metric: "host_network_receive_bytes_total", kind: "counter", unit: "bytes" },
] as const;
const FLEET_METRIC = METRICS[0].metric;
const ONE_AGENT_HOST = "bench-host-0";

type Client = ReturnType<typeof createTRPCClient<AppRouter>>;
type Panel = { name: string; input: QueryRangeInput; check: (r: Awaited<ReturnType<Client["telemetry"]["range"]["query"]>>) => string };

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest-rank: the smallest value with at least q of the values at or below it.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/** Run `statements` (each returning its row count) on up to `parallel` connections, printing rows/s. */
async function loadChunks(what: string, total: number, chunks: (() => Promise<number>)[], parallel: number): Promise<void> {
  const t0 = performance.now();
  let done = 0;
  let next = 0;
  let lastPrint = 0;
  const lane = async () => {
    for (let i = next++; i < chunks.length; i = next++) {
      const n = await chunks[i]!();
      done += n;
      const now = performance.now();
      if (now - lastPrint > 2000 || done >= total) {
        lastPrint = now;
        const secs = (now - t0) / 1000;
        log(`  ${what}: ${fmt(done)} / ${fmt(total)} rows (${((100 * done) / total).toFixed(0)}%), ${fmt(done / secs)} rows/s, ${secs.toFixed(1)} s`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  const secs = (performance.now() - t0) / 1000;
  log(`  ${what}: ${fmt(done)} rows in ${secs.toFixed(1)} s (${fmt(done / secs)} rows/s)`);
}

async function synthesize(sql: postgres.Sql, tenantId: string, now: number): Promise<void> {
  const w1m = now - (now % MIN);
  const w1h = now - (now % HOUR);
  const rollFrom = w1h - HOURS * HOUR;
  const rawFrom = now - HOUR;
  log(`loading: ${fmt(AGENTS)} agents, ${METRICS.length} series each, 1 h raw for ${ONE_AGENT_HOST}, 1m rollups from ${new Date(rollFrom).toISOString()} to ${new Date(w1m).toISOString()}`);
  const tLoad = performance.now();

  // Agents: one statement. Labels as the registry stores them (effective = host ⊕ user).
  await loadChunks(
    "agents",
    AGENTS,
    [
      async () =>
        (
          await sql`
      insert into agents (id, tenant_id, hostname, host_labels, user_labels, labels, agent_version, kernel, arch, os, capabilities, agent_key_hash, status)
      select 'agt_bench' || lpad(i::text, 6, '0'), ${tenantId}, 'bench-host-' || i, h, u, h || u, '0.1.0-bench', '6.1.0-bench', 'x86_64', 'linux',
             ${sql.json(fakeCapabilities())}, md5(i::text), 'offline'
      from generate_series(0, ${AGENTS - 1}) i,
           lateral (select jsonb_build_object('probepilot.io/hostname', 'bench-host-' || i, 'probepilot.io/os', 'linux', 'probepilot.io/arch', 'x86_64') as h,
                           jsonb_build_object('region', (${REGIONS}::text[])[1 + i % ${REGIONS.length}],
                                              'env', (${ENVS}::text[])[1 + (i / ${REGIONS.length}) % ${ENVS.length}],
                                              'rack', 'r' || (i % 100)) as u) l`
        ).count,
    ],
    1,
  );

  // Series: agent-major, ids in agent order.
  await loadChunks(
    "series",
    AGENTS * METRICS.length,
    [
      async () =>
        (
          await sql`
      insert into series (tenant_id, agent_id, probe, metric, kind, unit, labels, labels_key)
      select ${tenantId}, 'agt_bench' || lpad(i::text, 6, '0'), 'host', m.metric, m.kind, m.unit, '{}'::jsonb, ''
      from generate_series(0, ${AGENTS - 1}) i
      cross join unnest(${METRICS.map((m) => m.metric)}::text[], ${METRICS.map((m) => m.kind)}::text[], ${METRICS.map((m) => m.unit)}::text[]) with ordinality as m(metric, kind, unit, o)
      order by i, m.o`
        ).count,
    ],
    1,
  );

  // Raw samples of one agent: 1 h at 1 s for each of its series.
  await ensureSamplePartitions(sql, rawFrom, now);
  await loadChunks(
    "samples (raw, 1 agent)",
    3600 * METRICS.length,
    [
      async () =>
        (
          await sql`
      insert into samples (series_id, ts, value)
      select s.id, t,
             case s.metric
               when 'host_cpu_utilization_total' then 0.35 + 0.2 * sin(t / 600000.0) + 0.05 * random()
               when 'host_memory_used_bytes' then 4e9 + 5e8 * sin(t / 1800000.0) + 1e7 * random()
               else ((t - ${rawFrom}::bigint) / 1000) * 125000.0 + floor(1000 * random())
             end
      from series s cross join generate_series(${rawFrom}::bigint, ${now - 1}::bigint, 1000::bigint) t
      where s.tenant_id = ${tenantId} and s.agent_id = 'agt_bench000000'
      order by t, s.id`
        ).count,
    ],
    1,
  );

  // 1-minute rollups of the fleet metric, one statement per hour, minute-major (as the worker writes them).
  const cpuIds = await sql<{ lo: string; hi: string }[]>`select min(id) as lo, max(id) as hi from series where tenant_id = ${tenantId} and metric = ${FLEET_METRIC}`;
  const minuteChunks: (() => Promise<number>)[] = [];
  for (let h = rollFrom; h < w1m; h += HOUR) {
    const to = Math.min(h + HOUR, w1m);
    minuteChunks.push(
      async () =>
        (
          await sql`
      insert into samples_1m (series_id, bucket, count, sum, min, max, last)
      select s.id, b, 60, 60 * v, v - 0.03 * r, v + 0.03 * r, v + 0.01 * r
      from generate_series(${h}::bigint, ${to - 1}::bigint, 60000::bigint) b
      cross join series s
      cross join lateral (select 0.3 + 0.15 * sin(b / 3600000.0 + s.id % 97) + 0.1 * random() as v, random() as r) x
      where s.tenant_id = ${tenantId} and s.metric = ${FLEET_METRIC} and s.id between ${cpuIds[0]!.lo} and ${cpuIds[0]!.hi}
      order by b, s.id`
        ).count,
    );
  }
  const minutes = (w1m - rollFrom) / MIN;
  await loadChunks("samples_1m", AGENTS * minutes, minuteChunks, 2);

  // 1-hour rollups from the 1-minute ones, exactly as the rollup worker computes them.
  const hourChunks: (() => Promise<number>)[] = [];
  for (let h = rollFrom; h < w1h; h += HOUR) {
    hourChunks.push(
      async () =>
        (
          await sql`
      insert into samples_1h (series_id, bucket, count, sum, min, max, last)
      select series_id, ${h}::bigint, sum(count)::int, sum(sum), min(min), max(max), (array_agg(last order by bucket desc))[1]
      from samples_1m where bucket >= ${h}::bigint and bucket < ${h + HOUR}::bigint
      group by series_id order by series_id`
        ).count,
    );
  }
  await loadChunks("samples_1h", AGENTS * HOURS, hourChunks, 2);

  await sql`insert into rollup_state (tier, watermark) values ('1m', ${w1m}), ('1h', ${w1h})
            on conflict (tier) do update set watermark = excluded.watermark`;
  await sql`delete from rollup_dirty`;

  const tVac = performance.now();
  for (const t of ["agents", "series", "samples", "samples_1m", "samples_1h"]) await sql.unsafe(`vacuum (analyze) ${t}`);
  log(`  vacuum analyze: ${((performance.now() - tVac) / 1000).toFixed(1)} s`);
  const sizes = await sql<{ rel: string; rows: string; size: string }[]>`
    select c.relname as rel, c.reltuples::bigint::text as rows, pg_size_pretty(pg_total_relation_size(c.oid)) as size
    from pg_class c where c.relname in ('samples_1m', 'samples_1h', 'series', 'agents') order by 1`;
  log(`  tables: ${sizes.map((r) => `${r.rel} ${fmt(Number(r.rows))} rows ${r.size}`).join(", ")}`);
  log(`loaded in ${((performance.now() - tLoad) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------
// Panels
// ---------------------------------------------------------------------------------------------

function panels(now: number): Panel[] {
  const oneAgent = `probepilot.io/hostname=${ONE_AGENT_HOST}`;
  const nonNull = (r: { series: { points: [number, number | null][] }[] }) => r.series.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
  const describe = (r: { series: { labels: Record<string, string>; points: [number, number | null][] }[]; tier: string }) =>
    `${r.series.length} series × ${r.series[0]?.points.length ?? 0} points (${nonNull(r)} non-null), tier ${r.tier}`;
  const all: Panel[] = [
    { name: "agent-1h-1s", input: { metric: FLEET_METRIC, agentSelector: oneAgent, from: now - HOUR, to: now, stepMs: S, agg: "avg" }, check: describe },
    { name: "fleet-24h-1h", input: { metric: FLEET_METRIC, from: now - 24 * HOUR, to: now, stepMs: HOUR, agg: "avg", by: ["region"] }, check: describe },
    { name: "agent-24h-1m", input: { metric: FLEET_METRIC, agentSelector: oneAgent, from: now - 24 * HOUR, to: now, stepMs: MIN, agg: "avg" }, check: describe },
    { name: "fleet-24h-5m", input: { metric: FLEET_METRIC, from: now - 24 * HOUR, to: now, stepMs: 5 * MIN, agg: "avg", by: ["region"] }, check: describe },
    { name: "fleet-24h-1m", input: { metric: FLEET_METRIC, from: now - 24 * HOUR, to: now, stepMs: MIN, agg: "avg", by: ["region"] }, check: describe },
  ];
  return PANEL_NAMES.map((n) => {
    const p = all.find((x) => x.name === n);
    if (!p) throw new Error(`BENCH_PANELS: unknown panel "${n}" (known: ${all.map((x) => x.name).join(", ")})`);
    return p;
  });
}

/** The SQL statements queryRange sends for `input`, captured with postgres.js' `debug` hook, then EXPLAIN (ANALYZE, BUFFERS) of the last (the range query). */
async function explain(url: string, tenantId: string, input: QueryRangeInput): Promise<string> {
  const captured: { query: string; params: unknown[] }[] = [];
  const sql = postgres(url, { max: 1, onnotice: () => {}, debug: (_conn, query, params) => captured.push({ query, params: params as unknown[] }) });
  try {
    await queryRange(drizzle(sql, { schema }), tenantId, input);
    const last = captured.at(-1);
    if (!last) return "(no statement captured)";
    const rows = await sql.unsafe(`explain (analyze, buffers) ${last.query}`, last.params as postgres.ParameterOrJSON<never>[]);
    return rows.map((r) => String((r as Record<string, unknown>)["QUERY PLAN"])).join("\n");
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

type Env = { url: string; client: Client; tenantId: string; stop: () => Promise<void> };

async function startFresh(): Promise<Env & { sql: postgres.Sql }> {
  const h = await startHarness({ PROBEPILOT_LOG_LEVEL: process.env.PP_TEST_LOG ?? "silent", ...NO_RATE_LIMIT });
  const [tenant] = await h.cp.db.sql<{ id: string }[]>`select id from tenants`;
  const sql = postgres(h.database.url, { max: 2, onnotice: () => {} });
  return {
    url: h.database.url,
    client: h.client(),
    tenantId: tenant!.id,
    sql,
    stop: async () => {
      await sql.end({ timeout: 5 });
      if (KEEP_DB) {
        await h.cp.stop();
        await h.nats.stop();
        await rm(h.dataDir, { recursive: true, force: true });
        log(`database kept: BENCH_REUSE_DB=${h.database.url} BENCH_REUSE_SECRET_KEY=${h.secretKey}`);
      } else await h.stop();
    },
  };
}

/** A control plane on a database loaded by an earlier run (BENCH_KEEP_DB=1), started as the harness starts one. */
async function startReused(url: string): Promise<Env & { sql: postgres.Sql }> {
  const { prepareTrust, startNatsServer } = await import("@probepilot/testkit/nats-server");
  const { testControlPlaneEnv } = await import("@probepilot/testkit/control-plane-harness");
  const { startControlPlane } = await import("../src/server.ts");
  const { createLogger } = await import("../src/logger.ts");
  const { createApiToken } = await import("../src/services/tokens/create-api-token.ts");
  const secretKey = process.env.BENCH_REUSE_SECRET_KEY;
  if (!secretKey) throw new Error("BENCH_REUSE_DB needs BENCH_REUSE_SECRET_KEY (printed with the database URL by the BENCH_KEEP_DB=1 run)");
  const prepared = await prepareTrust(url, secretKey);
  const [nats, dataDir] = await Promise.all([startNatsServer({ trust: prepared.trust }).finally(() => prepared.close()), mkdtemp(path.join(tmpdir(), "pp-cp-"))]);
  const env = testControlPlaneEnv({ databaseUrl: url, nats, secretKey, dataDir }, NO_RATE_LIMIT);
  const cp = await startControlPlane(env, { log: createLogger(process.env.PP_TEST_LOG ?? "silent") });
  const [tenant] = await cp.db.sql<{ id: string }[]>`select id from tenants order by created_at limit 1`;
  const { token } = await createApiToken(cp.db.db, { tenantId: tenant!.id, actor: "query-bench" }, { name: `query-bench-${Date.now()}`, role: "admin" });
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  return {
    url,
    tenantId: tenant!.id,
    sql,
    client: createTRPCClient<AppRouter>({ links: [httpLink({ url: `${cp.url}/trpc`, headers: () => ({ authorization: `Bearer ${token}` }) })] }),
    stop: async () => {
      await sql.end({ timeout: 5 });
      await cp.stop();
      await nats.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<string> {
  const env = REUSE_DB ? await startReused(REUSE_DB) : await startFresh();
  // Hold the rollup worker's lock: its passes skip, so the tiers stay exactly as loaded.
  const lock = await env.sql.reserve();
  try {
    await lock`select pg_advisory_lock(hashtext('probepilot:rollup'))`;
    let now: number;
    if (REUSE_DB) {
      const [row] = await env.sql<{ end: string | null }[]>`select max(ts) + 1000 as end from samples`;
      if (!row?.end) throw new Error(`BENCH_REUSE_DB: ${REUSE_DB} has no samples; run once with BENCH_KEEP_DB=1 to load one`);
      now = Number(row.end);
      log(`reusing ${REUSE_DB} (data ends ${new Date(now).toISOString()})`);
    } else {
      now = Date.now() - (Date.now() % S);
      await synthesize(env.sql, env.tenantId, now);
    }

    const ps = panels(now);
    log(`warm-up: ${WARMUP} call(s) per panel`);
    for (const p of ps) {
      let last;
      const t0 = performance.now();
      for (let i = 0; i < WARMUP; i++) last = await env.client.telemetry.range.query(p.input);
      if (!last) last = await env.client.telemetry.range.query(p.input);
      log(`  ${p.name}: ${p.check(last)}; ${ms((performance.now() - t0) / Math.max(1, WARMUP))} ms per call`);
    }

    log(`timing: ${RUNS} calls per panel, round-robin`);
    const times = new Map<string, number[]>(ps.map((p) => [p.name, []]));
    const tRun = performance.now();
    let lastPrint = tRun;
    for (let i = 0; i < RUNS; i++) {
      for (const p of ps) {
        const t0 = performance.now();
        await env.client.telemetry.range.query(p.input);
        times.get(p.name)!.push(performance.now() - t0);
      }
      if (performance.now() - lastPrint > 5000) {
        lastPrint = performance.now();
        log(`  ${i + 1} / ${RUNS} rounds, ${((lastPrint - tRun) / 1000).toFixed(0)} s`);
      }
    }

    const all: number[] = [];
    const missed: Panel[] = [];
    for (const p of ps) {
      const t = times.get(p.name)!.sort((a, b) => a - b);
      all.push(...t);
      const p99 = quantile(t, 0.99);
      if (p99 >= TARGET_P99_MS) missed.push(p);
      log(`panel ${p.name}: p50 ${ms(quantile(t, 0.5))} ms, p99 ${ms(p99)} ms, min ${ms(t[0]!)} ms, max ${ms(t.at(-1)!)} ms over ${t.length} calls`);
    }

    const toExplain = EXPLAIN === "all" ? ps : EXPLAIN === "miss" ? missed : [];
    for (const p of toExplain) {
      log(`\nEXPLAIN (ANALYZE, BUFFERS) of panel ${p.name} (${JSON.stringify(p.input)}):`);
      log(await explain(env.url, env.tenantId, p.input));
      log("");
    }

    all.sort((a, b) => a - b);
    return `query: p50 ${ms(quantile(all, 0.5))} ms, p99 ${ms(quantile(all, 0.99))} ms over ${all.length} panels`;
  } finally {
    await lock`select pg_advisory_unlock(hashtext('probepilot:rollup'))`.catch(() => {});
    lock.release();
    await env.stop();
  }
}

main().then(
  (lastLine) => {
    log(lastLine);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`query-bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
