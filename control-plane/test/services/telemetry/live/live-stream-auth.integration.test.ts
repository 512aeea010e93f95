import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { TRPCClientError, createTRPCUntypedClient, httpSubscriptionLink } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../../../../src/trpc/app-router.ts";
import { runCli } from "../../../../src/cli/main.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { metricValue, scrape } from "@probepilot/testkit/metrics-text";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { captureCli } from "@probepilot/testkit/run-cli";

/**
 * A live stream (SSE subscription) is authorized when it opens and re-checked
 * while it runs: revoking or expiring its token ends it within 5 s with an
 * UNAUTHORIZED error, which clients do not retry. API tokens may expire.
 */
let h: Harness;
let rolloutId: string;
let configHome: string;

beforeAll(async () => {
  h = await startHarness();
  rolloutId = (await h.client().rollouts.create.mutate({ probe: "host", selector: "nobody=here" })).id;
  configHome = await mkdtemp(path.join(tmpdir(), "pp-live-auth-"));
});
afterAll(async () => {
  await h?.stop();
  if (configHome) await rm(configHome, { recursive: true, force: true });
});

const LIVE_INPUT = { metric: "host_load1", stepMs: 1000, agg: "avg", windowMs: 10_000 };
const STREAMS: [string, unknown][] = [
  ["telemetry.live", LIVE_INPUT],
  ["telemetry.liveMany", { charts: [{ key: "load", ...LIVE_INPUT }] }],
  ["rollouts.watch", { id: "" }],
];

type Watched = { path: string; data: number; starts: number; states: string[]; error: TRPCClientError<any> | null; endedAt: number | null; first: Promise<void>; stop: () => void };

/** Open a subscription as the CLI does (token in the Authorization header) or as the web app does (token in the URL). */
function open(streamPath: string, input: unknown, token: string, via: "header" | "url"): Watched {
  const link =
    via === "header"
      ? httpSubscriptionLink({
          url: `${h.cp.url}/trpc`,
          EventSource,
          eventSourceOptions: () => ({ fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, authorization: `Bearer ${token}` } }) }),
        })
      : httpSubscriptionLink({ url: `${h.cp.url}/trpc`, EventSource, connectionParams: () => ({ token }) });
  const client = createTRPCUntypedClient<AppRouter>({ links: [link] });
  let gotFirst: () => void = () => {};
  const w: Watched = { path: streamPath, data: 0, starts: 0, states: [], error: null, endedAt: null, first: new Promise((r) => (gotFirst = r)), stop: () => {} };
  const sub = client.subscription(streamPath, streamPath === "rollouts.watch" ? { id: rolloutId } : input, {
    onStarted: () => void w.starts++,
    onData: () => {
      w.data++;
      gotFirst();
    },
    onConnectionStateChange: (s) => void w.states.push(s.state),
    onError: (err) => {
      w.error = err as TRPCClientError<any>;
      w.endedAt = Date.now();
    },
  });
  w.stop = () => sub.unsubscribe();
  return w;
}

/** The control plane's core-NATS subscriptions to live telemetry (the tap; one per tenant while anyone watches). */
function tapSubscriptions(): string[] {
  // nats.js keeps its subscriptions on the protocol handler; there is no public listing.
  const subs = (h.cp.nc as any).protocol.subscriptions.all() as { subject: string }[];
  return subs.map((s) => s.subject).filter((s) => s.startsWith("pp.tm."));
}

const trpcRequests = async (status: string) => metricValue(await scrape(h.cp.url), "probepilot_http_requests_total", { route: "trpc", status });

describe("live streams end when their token does", () => {
  it("revoking a token ends every live stream it opened (telemetry.live, liveMany, rollouts.watch; header or URL) within 5 s, and the clients stop", async () => {
    const { id, token } = await h.client().tokens.create.mutate({ role: "viewer", name: "to-revoke" });
    const streams = [...STREAMS.map(([p, input]) => open(p, input, token, "header")), ...STREAMS.map(([p, input]) => open(p, input, token, "url"))];
    // Another token's stream goes on.
    const bystander = open("telemetry.live", LIVE_INPUT, h.adminToken, "header");
    try {
      await Promise.all([...streams, bystander].map((s) => s.first));
      expect(tapSubscriptions()).toHaveLength(1); // the tenant's tap, shared by its viewers
      const endedBefore = metricValue(await scrape(h.cp.url), "probepilot_live_streams_ended_total", { reason: "revoked" });

      const revokedAt = Date.now();
      await h.client().tokens.revoke.mutate({ id });
      await eventually(() => expect(streams.filter((s) => !s.error).map((s) => s.path)).toEqual([]), { timeoutMs: 8000 });
      for (const s of streams) {
        expect(s.endedAt! - revokedAt, s.path).toBeLessThanOrEqual(5000);
        expect(s.error!.data?.code, s.path).toBe("UNAUTHORIZED");
        expect(s.error!.message, s.path).toMatch(/^API token "to-revoke" \(tok_\w+\) was revoked at \d{4}-\d\d-\d\dT[\d:.]+Z: this live stream has ended; sign in with a valid token$/);
      }
      expect(metricValue(await scrape(h.cp.url), "probepilot_live_streams_ended_total", { reason: "revoked" })).toBe(endedBefore + streams.length);

      // The clients do not reconnect: no new stream, no new request refused for the revoked token.
      const refused = await trpcRequests("401");
      const starts = streams.map((s) => s.starts);
      await sleep(3000);
      expect(await trpcRequests("401")).toBe(refused);
      expect(streams.map((s) => s.starts)).toEqual(starts);
      expect(streams.every((s) => !s.states.slice(-1).includes("connecting"))).toBe(true);

      expect(bystander.error).toBeNull();
    } finally {
      for (const s of streams) s.stop();
      bystander.stop();
    }
    // Ended streams let go of what they held: with the bystander closed too, the live tap is gone.
    await eventually(() => expect(tapSubscriptions()).toEqual([]), { timeoutMs: 5000 });
  });

  it("a token that expires ends its live streams within 5 s of its expiry", async () => {
    const created = await h.client().tokens.create.mutate({ role: "viewer", name: "short-lived", expiresInSec: 3 });
    const expiresAt = new Date(created.expiresAt!).getTime();
    const streams = STREAMS.map(([p, input]) => open(p, input, created.token, "header"));
    try {
      await Promise.all(streams.map((s) => s.first));
      expect(Date.now()).toBeLessThan(expiresAt);
      await eventually(() => expect(streams.filter((s) => !s.error).map((s) => s.path)).toEqual([]), { timeoutMs: 10_000 });
      for (const s of streams) {
        expect(s.endedAt!, s.path).toBeGreaterThanOrEqual(expiresAt);
        expect(s.endedAt! - expiresAt, s.path).toBeLessThanOrEqual(5000);
        expect(s.error!.data?.code, s.path).toBe("UNAUTHORIZED");
        expect(s.error!.message, s.path).toBe(
          `API token "short-lived" (${created.id}) expired at ${new Date(expiresAt).toISOString()}: this live stream has ended; create a new token (probepilot tokens create --expires-in …)`,
        );
      }
    } finally {
      for (const s of streams) s.stop();
    }
  });
});

describe("API tokens may expire", () => {
  it("tokens.create takes an expiry and tokens.list shows it; a token without one never expires", async () => {
    const before = Date.now();
    const day = await h.client().tokens.create.mutate({ role: "viewer", name: "a-day", expiresInSec: 86_400 });
    const forever = await h.client().tokens.create.mutate({ role: "viewer", name: "forever" });
    expect(new Date(day.expiresAt!).getTime()).toBeGreaterThanOrEqual(before + 86_400_000);
    expect(new Date(day.expiresAt!).getTime()).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect(forever.expiresAt).toBeNull();
    const list = await h.client().tokens.list.query();
    expect(new Date(list.find((t) => t.id === day.id)!.expiresAt!).toISOString()).toBe(new Date(day.expiresAt!).toISOString());
    expect(list.find((t) => t.id === forever.id)!.expiresAt).toBeNull();
    // whoami says when the caller's token expires.
    expect(new Date((await h.client(day.token).system.whoami.query()).expiresAt!).toISOString()).toBe(new Date(day.expiresAt!).toISOString());
  });

  it("refuses expiries that are not a positive whole number of seconds up to 10 years", async () => {
    for (const [expiresInSec, message] of [
      [0, "must be a positive number of seconds"],
      [-5, "must be a positive number of seconds"],
      [1.5, "must be a whole number of seconds"],
      [1e12, "must be at most 315360000 seconds (10 years)"],
    ] as const) {
      const err = await trpcError(h.client().tokens.create.mutate({ role: "viewer", name: "bad-expiry", expiresInSec }));
      expect(err.data?.httpStatus, String(expiresInSec)).toBe(400);
      expect(err.message, String(expiresInSec)).toBe(`invalid input: expiresInSec: ${message}`);
    }
  });

  it("an expired token is refused with a message saying when it expired, for calls and for new streams", async () => {
    const created = await h.client().tokens.create.mutate({ role: "operator", name: "brief", expiresInSec: 1 });
    await h.client(created.token).system.whoami.query(); // good until then
    await sleep(new Date(created.expiresAt!).getTime() - Date.now() + 50);
    const expected = `API token "brief" (${created.id}) expired at ${new Date(created.expiresAt!).toISOString()}: ask an admin for a new one (probepilot tokens create --expires-in 30d)`;
    const err = await trpcError(h.client(created.token).system.whoami.query());
    expect(err.data).toMatchObject({ code: "UNAUTHORIZED", httpStatus: 401 });
    expect(err.message).toBe(expected);
    const mutation = await trpcError(h.client(created.token).agents.setLabels.mutate({ id: "agt_x", labels: {} }));
    expect(mutation.message).toBe(expected);

    const stream = open("telemetry.live", LIVE_INPUT, created.token, "header");
    await eventually(() => expect(stream.error).not.toBeNull());
    stream.stop();
    expect(stream.error!.data?.code).toBe("UNAUTHORIZED");
    expect(stream.error!.message).toBe(expected);
    expect(stream.data).toBe(0);
  });
});

describe("the CLI", () => {
  const env = () => ({ PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: h.adminToken, XDG_CONFIG_HOME: configHome });

  it("tokens create --expires-in 30d prints when the token expires, tokens list shows it, --expires is the same flag", async () => {
    const created = await captureCli(["tokens", "create", "--role", "viewer", "--name", "ci", "--expires-in", "30d"], env());
    expect(created.code).toBe(0);
    const m = created.stdout.match(/^created viewer token (tok_\w+) \(ci, expires (\S+)\)\. It is shown once; store it now:\nppt_\S+\n$/);
    expect(m, created.stdout).not.toBeNull();
    const expiresAt = new Date(m![2]!).getTime();
    expect(Math.abs(expiresAt - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);

    const alias = await captureCli(["tokens", "create", "--role", "viewer", "--name", "ci2", "--expires", "2w", "--json"], env());
    expect(alias.code).toBe(0);
    const json = JSON.parse(alias.stdout);
    expect(Math.abs(new Date(json.expiresAt).getTime() - (Date.now() + 14 * 86_400_000))).toBeLessThan(60_000);

    const forever = await captureCli(["tokens", "create", "--role", "viewer", "--name", "ci3"], env());
    expect(forever.stdout).toMatch(/^created viewer token tok_\w+ \(ci3\)\. /);

    const list = await captureCli(["tokens", "list"], env());
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+ROLE\s+CREATED\s+LAST USED\s+EXPIRES\s+REVOKED/);
    expect(list.stdout).toContain(new Date(expiresAt).toISOString());
    expect(list.stdout.split("\n").find((l) => l.includes(" ci3 "))).toMatch(/\snever\s/);

    const bad = await captureCli(["tokens", "create", "--role", "viewer", "--expires-in", "soon"], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('--expires-in "soon": expected a duration such as 90s, 15m, 24h or 7d\n');
  });

  it("query --watch stops with the reason, and does not retry, when its token is revoked", async () => {
    const { id, token } = await h.client().tokens.create.mutate({ role: "viewer", name: "cli-watch" });
    let stdout = "";
    let stderr = "";
    const done = runCli(["query", "host_load1", "--watch", "--since", "1m"], {
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
      env: { PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: token, XDG_CONFIG_HOME: configHome },
    });
    await eventually(() => expect(stdout).toContain("live"));
    const revokedAt = Date.now();
    await h.client().tokens.revoke.mutate({ id });
    const code = await done;
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(5000);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: API token "cli-watch" \(tok_\w+\) was revoked at \S+: this live stream has ended; sign in with a valid token/);
  });
});
