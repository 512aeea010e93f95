/**
 * Property test (issue 11, "bounded inputs"): random and oversized inputs sent to every
 * tRPC procedure over HTTP never get a 500, an error answer never grows with the input,
 * the control plane's log lines stay bounded, and the server is healthy afterwards.
 *
 * The procedures are read from the router itself, so one added later is fuzzed too (with
 * random inputs; give it a valid sample in `SAMPLES` so that mutations of a valid input
 * reach its service). Runs are deterministic per seed: a failure prints the seed to
 * reproduce it with `PP_FUZZ_SEED=<seed>`; `PP_FUZZ_RUNS` sets the runs per procedure.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { Writable } from "node:stream";
import { newId, SELECTOR_MAX_LENGTH, SELECTOR_MAX_REQUIREMENTS, SELECTOR_MAX_VALUES } from "@probepilot/shared";
import { appRouter } from "../../src/trpc/app-router.ts";
import { createHttpApp } from "../../src/http/app.ts";
import { createControlPlaneMetrics } from "../../src/metrics.ts";
import { createLogger } from "../../src/logger.ts";
import { TelemetryTap } from "../../src/services/telemetry/live/telemetry-tap.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { insertAgents } from "@probepilot/testkit/agent-rows";

const BASE_SEED = process.env.PP_FUZZ_SEED ? Number(process.env.PP_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.PP_FUZZ_RUNS ?? 24);
/** GET URLs longer than this go to the app in-process (`app.request`): Node's HTTP parser refuses headers over 16 KiB with a 431 first. */
const MAX_URL = 12_000;
/** An error answer is a message and at most 20 issues: never this big, whatever was sent. */
const MAX_ERROR_BODY = 32 * 1024;
/** A log line of the control plane, whatever was sent. */
const MAX_LOG_LINE = 32 * 1024;
/** How long a subscription is read for its first event. */
const SUBSCRIPTION_READ_MS = 1500;

// Real targets, created before the run, so that mutations of valid inputs reach the services.
const SAMPLE_ROLLOUT = newId("rollout");
let sampleAgent = "";
let revocableAgent = "";

/** A valid input per procedure (by path); procedures missing here are fuzzed with random input only. */
const SAMPLES: Record<string, () => unknown> = {
  "agents.list": () => ({ selector: "env=prod,region in (eu,us),!canary", status: "online", limit: 10 }),
  "agents.get": () => ({ id: sampleAgent }),
  "agents.summary": () => ({}),
  "agents.setLabels": () => ({ id: sampleAgent, labels: { env: "prod", team: null } }),
  // Its own agent: revoking it must not change what the other samples read.
  "agents.revoke": () => ({ id: revocableAgent }),
  "agents.simulatorCredentials": () => ({ publicKey: "UDXNPV7FCSSZZIE3JFJK6FHNB6NIRDAH5BXVF6FK5BJEELAQHLAT54K4", ttlSec: 3600 }),
  "tokens.create": () => ({ role: "viewer", name: "fuzz" }),
  "tokens.revoke": () => ({ id: newId("apiToken") }),
  "enrollTokens.create": () => ({ description: "fuzz", expiresInSec: 3600 }),
  "enrollTokens.revoke": () => ({ id: newId("enrollToken") }),
  "telemetry.range": () => ({ metric: "host_load1", agentSelector: "env=prod", seriesSelector: "cpu in (0,1)", from: 0, to: 60_000, stepMs: 10_000, agg: "avg", by: ["probepilot.io/hostname"], limitSeries: 10 }),
  "telemetry.metrics": () => ({ agentSelector: "env=prod", prefix: "host_" }),
  "telemetry.live": () => ({ metric: "host_load1", agentSelector: "env=prod", stepMs: 1000, agg: "avg", by: ["cpu"], windowMs: 60_000 }),
  "telemetry.liveMany": () => ({ charts: [{ key: "load", metric: "host_load1", agentSelector: "env=prod", stepMs: 1000, agg: "max", by: ["cpu"], windowMs: 60_000 }], lastEventId: null }),
  "telemetry.histogram": () => ({ metric: "runqueue_latency_us", agentSelector: "env=prod", from: 0, to: 60_000, stepMs: 10_000, percentiles: [50, 99] }),
  "telemetry.events": () => ({ from: 0, to: 60_000, name: "process_exec", probe: "process_exec", agentSelector: "env=prod", attrs: { comm: "bash", uid: 0 }, limit: 10 }),
  "telemetry.profile": () => ({ agentSelector: "env=prod", from: 0, to: 60_000, pid: 1, comm: "node", limit: 100 }),
  "probes.get": () => ({ probe: "tcp_flows" }),
  "probes.getVersion": () => ({ probe: "tcp_flows", version: 1 }),
  "probes.createVersion": () => ({ probe: "tcp_flows", params: { comm: "nginx", minDurationMs: 5, cgroup: "/system.slice/nginx.service" } }),
  "probes.paramsSchema": () => ({ kind: "file_open" }),
  "rollouts.preview": () => ({ probe: "host", version: 1, selector: "env=prod", waves: [{ percent: 10 }, { count: 50 }, { percent: 100 }] }),
  "rollouts.create": () => ({
    probe: "oom_kills",
    selector: "fuzz in (a,b)",
    strategy: { waves: [{ percent: 10 }, { percent: 100 }], bakeSeconds: 1, gate: { minHealthyPercent: 90, timeoutSeconds: 60, maxFailedPercent: 10 }, onFailure: "pause" },
  }),
  "rollouts.list": () => ({ state: "running", limit: 10 }),
  "rollouts.get": () => ({ id: SAMPLE_ROLLOUT }),
  "rollouts.agents": () => ({ id: SAMPLE_ROLLOUT, state: "pending", wave: 0, limit: 10 }),
  "rollouts.history": () => ({ id: SAMPLE_ROLLOUT, limit: 10 }),
  "rollouts.watch": () => ({ id: SAMPLE_ROLLOUT }),
  "rollouts.annotations": () => ({ agentSelector: "env=prod", from: 0, to: 60_000, limit: 10 }),
  "rollouts.pause": () => ({ id: SAMPLE_ROLLOUT, reason: "fuzz" }),
  "rollouts.resume": () => ({ id: SAMPLE_ROLLOUT, reason: "fuzz" }),
  "rollouts.promote": () => ({ id: SAMPLE_ROLLOUT }),
  "rollouts.abort": () => ({ id: newId("rollout"), reason: "fuzz" }),
  "rollouts.rollback": () => ({ id: newId("rollout"), reason: "fuzz" }),
};

// ---------------------------------------------------------------------------------------------
// Oversized values, built once (generating them per run would dominate the run time)

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const OVERSIZED = {
  /** The issue's three reproductions, and each selector limit plus one. */
  selectorIn70k: `k in (${range(70_000).map((i) => `v${i}`).join(",")})`,
  selector20kRequirements: range(20_000).map((i) => `k${i}=v`).join(","),
  selectorTooManyValues: `k in (${range(SELECTOR_MAX_VALUES + 1).map((i) => `v${i}`).join(",")})`,
  selectorTooManyRequirements: range(SELECTOR_MAX_REQUIREMENTS + 1).map((i) => `k${i}`).join(","),
  selectorTooLong: `k=${"v".repeat(40)},`.repeat(Math.ceil(SELECTOR_MAX_LENGTH / 43) + 1).slice(0, -1),
  labels70k: Object.fromEntries(range(70_000).map((i) => [`key${i}`, `value${i}`])),
  badKeys5k: Object.fromEntries(range(5_000).map((i) => [`Bad Key ${i} ${"x".repeat(50)}`, "v"])),
  string100k: "a".repeat(100_000),
  unicode20k: "é😀".repeat(20_000),
  array70k: range(70_000),
  objects5k: range(5_000).map((i) => ({ key: `c${i}`, metric: "m", stepMs: 1000 })),
  strings70k: range(70_000).map((i) => `v${i}`),
  deepArray: JSON.parse("[".repeat(2_000) + "]".repeat(2_000)),
  deepObject: JSON.parse('{"a":'.repeat(2_000) + "1" + "}".repeat(2_000)),
};

const oversized = fc.constantFrom(...Object.values(OVERSIZED));
const edgeNumbers = fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, 8.64e15, 9e15, 1e308, -1e308, 1e-300, 253_402_300_800_000);
const edgeStrings = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfffy",
  "'; drop table agents; --",
  "%00",
  "__proto__",
  "constructor",
  "agt_01hx0000000000000000000000",
  "rol_01hx0000000000000000000000",
  "k in (",
  "k notin (,)",
  "!",
  "é😀",
  "\n\t\r",
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: edgeStrings },
  { weight: 2, arbitrary: edgeNumbers },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: oversized },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** The paths into a JSON value (the root included), to pick one to change; not into oversized or deep values. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (prefix.length >= 8 || value === null || typeof value !== "object") return out;
  const entries = Object.entries(value);
  if (entries.length > 50) return out;
  for (const [k, v] of entries) paths(v, [...prefix, Array.isArray(value) ? Number(k) : k], out);
  return out;
}

/** A deep copy of `root` with the value at `path` replaced (or deleted, for `undefined`); a new key when `extraKey` is set. */
function replaced(root: unknown, path: (string | number)[], value: unknown, extraKey?: string): unknown {
  if (path.length === 0) {
    if (extraKey !== undefined && root !== null && typeof root === "object" && !Array.isArray(root)) return { ...root, [extraKey]: value };
    return value;
  }
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy: any = Array.isArray(root) ? [...root] : { ...(root as object) };
  const next = replaced(copy[head], rest, value, extraKey);
  if (next === undefined && !Array.isArray(copy)) delete copy[head];
  else copy[head] = next;
  return copy;
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  return path.reduce<any>((v, k) => (v === null || v === undefined ? undefined : v[k]), root);
}

/** A value like `original` (same type, other content: what a careless client sends), or any value at all. */
function replacementFor(original: unknown): fc.Arbitrary<unknown> {
  let similar: fc.Arbitrary<unknown>;
  if (typeof original === "string") similar = fc.oneof(fc.string({ maxLength: 30 }), edgeStrings, fc.constant(original.repeat(3)), fc.constant(original.toUpperCase()), fc.constant(`${original},${original}`));
  else if (typeof original === "number") similar = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), edgeNumbers, fc.constant(original * 1000 + 1), fc.constant(-original - 1));
  else if (typeof original === "boolean") similar = fc.boolean();
  else if (Array.isArray(original)) similar = fc.constantFrom([], original.slice(1), [...original, ...original], original.slice().reverse());
  else if (original !== null && typeof original === "object") {
    const keys = Object.keys(original);
    similar = keys.length === 0 ? fc.constant({}) : fc.constantFrom(...keys).map((k) => replaced(original, [k], undefined));
  } else similar = fc.constant(null);
  return fc.oneof({ weight: 3, arbitrary: similar }, { weight: 2, arbitrary: anyValue });
}

/** A valid input with one or two of its values (or new keys) replaced by similar, random, edge or oversized ones. */
function mutationsOf(sample: unknown): fc.Arbitrary<unknown> {
  const one = (input: unknown) =>
    fc.constantFrom(...paths(input)).chain((path) =>
      fc
        .tuple(replacementFor(valueAt(input, path)), fc.option(fc.constantFrom("extra", "__proto__", "x".repeat(300), "constructor"), { freq: 5 }))
        .map(([value, extraKey]) => replaced(input, path, value, extraKey ?? undefined)),
    );
  return fc.oneof({ weight: 1, arbitrary: fc.constant(sample) }, { weight: 6, arbitrary: one(sample) }, { weight: 2, arbitrary: one(sample).chain(one) });
}

/** Random inputs for one procedure: mostly mutations of its valid sample, then random JSON, anything, oversized values. */
function inputsFor(path: string): fc.Arbitrary<unknown> {
  const sample = SAMPLES[path]?.();
  const random: fc.WeightedArbitrary<unknown>[] = [
    { weight: 2, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.anything().map((v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v) ?? "null"))) },
    { weight: 1, arbitrary: oversized },
  ];
  return sample === undefined ? fc.oneof(...random) : fc.oneof({ weight: 6, arbitrary: mutationsOf(sample) }, ...random);
}

// ---------------------------------------------------------------------------------------------
// Calling a procedure over HTTP

type Outcome = { status: number; code: string | undefined; message: string; errorBytes: number; via: "http" | "in-process" };

let h: Harness;
let inProcess: ReturnType<typeof createHttpApp>;
const logLines: string[] = [];

function headers(extra: Record<string, string> = {}) {
  return { authorization: `Bearer ${h.adminToken}`, ...extra };
}

/** The tRPC error in a JSON answer (`{error: {message, data: {code, httpStatus}}}`), if any. */
function errorOf(text: string): { message: string; code?: string; httpStatus?: number } | undefined {
  try {
    const body = JSON.parse(text);
    const error = body?.error ?? (body?.data?.code ? body : undefined);
    return error ? { message: error.message, code: error.data?.code, httpStatus: error.data?.httpStatus } : undefined;
  } catch {
    return undefined;
  }
}

async function call(path: string, type: string, input: unknown): Promise<Outcome> {
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const url = `/trpc/${path}${query}`;
  const viaHttp = type === "mutation" || url.length <= MAX_URL;
  const fetchIt = (init: RequestInit) => (viaHttp ? fetch(`${h.cp.url}${type === "mutation" ? `/trpc/${path}` : url}`, init) : inProcess.request(url, init));
  const via = viaHttp ? "http" : "in-process";
  if (type === "mutation") {
    const res = await fetchIt({ method: "POST", headers: headers({ "content-type": "application/json" }), body: input === undefined ? undefined : JSON.stringify(input) });
    return outcome(res.status, await res.text(), via);
  }
  if (type === "query") {
    const res = await fetchIt({ headers: headers() });
    return outcome(res.status, await res.text(), via);
  }
  // A subscription: SSE. Its first event is data (fine) or `serialized-error` (its status is in the error).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), SUBSCRIPTION_READ_MS);
  try {
    const res = await fetchIt({ headers: headers({ accept: "text/event-stream" }), signal: abort.signal });
    if (!res.headers.get("content-type")?.includes("text/event-stream")) return outcome(res.status, await res.text(), via);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        const events = text.split("\n\n").slice(0, -1);
        const first = events.map(parseSse).find((e) => e.event !== "connected" && e.event !== "ping");
        if (first) return first.event === "serialized-error" ? outcome(errorOf(first.data)?.httpStatus ?? 500, first.data, via) : outcome(200, "", via);
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      abort.abort();
      await reader.cancel().catch(() => {});
    }
    return outcome(200, "", via); // no event within the read time: a stream waiting for data
  } catch (err) {
    if (abort.signal.aborted) return outcome(200, "", via);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function parseSse(block: string): { event: string; data: string } {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { event, data: data.join("\n") };
}

function outcome(status: number, text: string, via: Outcome["via"]): Outcome {
  const error = status >= 400 ? errorOf(text) : undefined;
  return { status, code: error?.code, message: error?.message ?? (status >= 400 ? text.slice(0, 200) : ""), errorBytes: status >= 400 ? text.length : 0, via };
}

/** An input, summarized for a failure message: never the whole of an oversized one. */
function summarize(input: unknown): string {
  const text = JSON.stringify(input) ?? "undefined";
  return text.length <= 400 ? text : `${text.slice(0, 400)}… (${text.length} characters)`;
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) logLines.push(line);
      done();
    },
  });
  // No rate limit: the fuzzer sends thousands of calls with one token (the limits have their own tests).
  h = await startHarness({ PROBEPILOT_RATE_LIMIT_RPS: "0", PROBEPILOT_RATE_LIMIT_ANON_RPS: "0" }, { log: createLogger("info", { service: "control-plane" }, sink) });
  const tenantId = (await h.client().system.whoami.query()).tenantId;
  [sampleAgent, revocableAgent] = (await insertAgents(h.cp.db.db, tenantId, [
    { hostname: "fuzz-host", hostLabels: { env: "prod", "probepilot.io/hostname": "fuzz-host" } },
    { hostname: "fuzz-revocable", hostLabels: { env: "fuzz", "probepilot.io/hostname": "fuzz-revocable" } },
  ])) as [string, string];
  await h.client().rollouts.create.mutate({ probe: "host", selector: "fuzz=none", rolloutId: SAMPLE_ROLLOUT, strategy: { onFailure: "pause" } });
  inProcess = createHttpApp({
    webDir: "/nonexistent",
    db: h.cp.db.db,
    log: h.cp.log,
    metrics: createControlPlaneMetrics(),
    agentConfig: { publishAgentConfig: async () => {} },
    credentials: h.cp.credentials,
    tap: new TelemetryTap(h.cp.nc),
    rolloutSignals: h.cp.rolloutSignals,
    health: async () => ({ ok: true, checks: {} }),
  });
});

afterAll(async () => {
  await h?.stop();
});

// Typed as the nested router record, but at run time a flat map of "a.b" paths to procedures.
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([path, p], index) => ({ path, type: p._def.type, index }));

describe("random and oversized inputs to every tRPC procedure", () => {
  it("covers every procedure of the router, and has a valid sample for each one that takes input", () => {
    expect(procedures.length).toBeGreaterThan(30);
    const noInput = ["system.whoami", "tokens.list", "enrollTokens.list", "probes.list"];
    expect(procedures.map((p) => p.path).filter((p) => !(p in SAMPLES) && !noInput.includes(p))).toEqual([]);
  });

  it("every sample is a valid input: its mutations start from something the service accepts", async () => {
    const refused: string[] = [];
    for (const { path, type } of procedures) {
      if (!(path in SAMPLES) || type === "mutation") continue; // mutations would act on the samples' targets
      const got = await call(path, type, SAMPLES[path]!());
      if (got.status === 400) refused.push(`${path}: ${got.message}`);
    }
    expect(refused).toEqual([]);
  });

  it.each(procedures)("$path ($type): never a 500, and an error answer stays small", async ({ path, type, index }) => {
    const seed = BASE_SEED + index;
    const seen = new Map<number, number>();
    const result = await fc.check(
      fc.asyncProperty(inputsFor(path), async (input) => {
        const got = await call(path, type, input);
        seen.set(got.status, (seen.get(got.status) ?? 0) + 1);
        const what = `${path} via ${got.via} answered ${got.status} ${got.code ?? ""} "${got.message.slice(0, 300)}" to ${summarize(input)}`;
        if (got.status >= 500 || got.code === "INTERNAL_SERVER_ERROR") throw new Error(what);
        if (got.errorBytes > MAX_ERROR_BODY) throw new Error(`an error answer of ${got.errorBytes} bytes: ${what}`);
      }),
      { seed, numRuns: RUNS, endOnFailure: true },
    );
    if (result.failed) {
      const cause = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
      throw new Error(`${cause}\n(reproduce: PP_FUZZ_SEED=${BASE_SEED} pnpm vitest run control-plane/test/trpc-fuzz.integration.test.ts -t '${path} '; seed ${result.seed}, path ${result.counterexamplePath})`);
    }
    if (process.env.PP_FUZZ_VERBOSE) console.log(`${path}: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it("the server is healthy afterwards, still answers, and logged no failed procedure and no oversized line", async () => {
    const health = await fetch(`${h.cp.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await h.client().system.whoami.query()).toMatchObject({ role: "admin" });
    await expect(h.client().agents.get.query({ id: sampleAgent })).resolves.toMatchObject({ id: sampleAgent });
    const failed = logLines.filter((l) => l.includes('"tRPC procedure failed"'));
    expect(failed.map((l) => l.slice(0, 500))).toEqual([]);
    const longest = Math.max(0, ...logLines.map((l) => l.length));
    expect(longest, "the longest control-plane log line").toBeLessThan(MAX_LOG_LINE);
  });
});
