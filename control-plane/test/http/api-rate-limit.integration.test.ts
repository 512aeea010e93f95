import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { randomUUID } from "node:crypto";
import { NkeyPair } from "@probepilot/shared/nkeys";
import { capturingLogger, startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollRequest, fakeHello } from "@probepilot/testkit/fake-hello";
import { metricValue } from "@probepilot/testkit/metrics-text";
import { trpcError } from "@probepilot/testkit/trpc-error";
import { sleep } from "@probepilot/testkit/poll";
import { DEFAULT_API_GUARD } from "../../src/http/api-guard-options.ts";

/**
 * Rate limits with the defaults a control plane starts with (50 requests/s and
 * bursts of 200 per token; 10/s and 100 per client address for requests without a
 * verified token), over real HTTP: token buckets, 429 with Retry-After, RateLimit-*
 * headers, a metric and a log line that never carries the token.
 */
let h: Harness;
const logs = capturingLogger();
let tokenA: { id: string; token: string };
let tokenB: { id: string; token: string };

beforeAll(async () => {
  h = await startHarness({}, { log: logs.log });
  tokenA = await h.client().tokens.create.mutate({ role: "viewer", name: "burst-a" });
  tokenB = await h.client().tokens.create.mutate({ role: "viewer", name: "burst-b" });
  // Each token's first request verifies it (from then on it has its own bucket).
  await h.client(tokenA.token).system.whoami.query();
  await h.client(tokenB.token).system.whoami.query();
});
afterAll(async () => {
  await h?.stop();
});

type Answer = { status: number; headers: Headers; body: any; at: number };

async function whoami(token: string | undefined, path = "system.whoami"): Promise<Answer> {
  const res = await fetch(`${h.cp.url}/trpc/${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, headers: res.headers, body: await res.json(), at: Date.now() };
}

/** `n` requests made by `concurrency` workers as fast as the server answers. */
async function flood(n: number, concurrency: number, request: (i: number) => Promise<Answer>): Promise<{ answers: Answer[]; seconds: number }> {
  const answers: Answer[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) answers.push(await request(next++));
    }),
  );
  return { answers, seconds: (performance.now() - started) / 1000 };
}

const metricsText = async () => (await fetch(`${h.cp.url}/metrics`)).text();

describe("per-token rate limits", () => {
  it("a burst of 2,000 requests in a few seconds from one token sees 429s with Retry-After, and another token is unaffected", async () => {
    const { perSecond, burst } = DEFAULT_API_GUARD.tokenRate;
    const before = metricValue(await metricsText(), "probepilot_http_rate_limited_total", { scope: "token" }) ?? 0;
    const { answers, seconds } = await flood(2000, 50, () => whoami(tokenA.token));
    // No bound on `seconds`: the machine is shared. The bound below is what matters; a few seconds give well over 1,000 429s.
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(ok.length + limited.length).toBe(2000);
    // What got through is the bucket plus its refill over the burst, not 2,000.
    expect(ok.length).toBeGreaterThanOrEqual(burst - 1);
    expect(ok.length).toBeLessThanOrEqual(burst + Math.ceil(perSecond * (seconds + 1)));
    expect(limited.length).toBeGreaterThan(0);

    for (const a of limited) {
      expect(Number(a.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(Number(a.headers.get("retry-after")))).toBe(true);
      expect(a.headers.get("ratelimit-limit")).toBe(String(burst));
      expect(a.headers.get("ratelimit-remaining")).toBe("0");
      expect(a.body.error.data).toMatchObject({ code: "TOO_MANY_REQUESTS", httpStatus: 429 });
      expect(a.body.error.message).toMatch(/^rate limited: too many requests for this API token \(50\/s, bursts of 200\); retry in \d+ s$/);
    }
    // Allowed answers say how much is left.
    expect(ok.every((a) => a.headers.get("ratelimit-limit") === String(burst) && a.headers.get("ratelimit-remaining") !== null)).toBe(true);

    // Every refusal is counted.
    expect(metricValue(await metricsText(), "probepilot_http_rate_limited_total", { scope: "token" })).toBe(before + limited.length);

    // Token B has its own bucket: a burst of its own goes through right after A's.
    const b = await flood(100, 20, () => whoami(tokenB.token));
    expect(b.answers.map((a) => a.status)).toEqual(Array(100).fill(200));
  });

  it("the bucket refills: after Retry-After the token is served again, and a pause gives back a second's worth of requests", async () => {
    // Empty A's bucket again (the previous test gave it time to refill a little).
    const { answers } = await flood(300, 30, () => whoami(tokenA.token));
    const limited = answers.filter((a) => a.status === 429).at(-1)!;
    expect(limited).toBeDefined();
    await sleep(Number(limited.headers.get("retry-after")) * 1000);
    const again = await whoami(tokenA.token);
    expect(again.status).toBe(200);
    await sleep(1500);
    const later = await whoami(tokenA.token);
    expect(later.status).toBe(200);
    // ~1.5 s × 50/s came back (minus this request), give or take timer slack.
    expect(Number(later.headers.get("ratelimit-remaining"))).toBeGreaterThanOrEqual(60);
    expect(Number(later.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
  });

  it("a batch counts each of its calls", async () => {
    const first = await whoami(tokenB.token);
    const remaining = Number(first.headers.get("ratelimit-remaining"));
    const paths = Array(10).fill("system.whoami").join(",");
    const res = await fetch(`${h.cp.url}/trpc/${paths}?batch=1&input=${encodeURIComponent("{}")}`, { headers: { authorization: `Bearer ${tokenB.token}` } });
    expect(res.status).toBe(200);
    const after = Number(res.headers.get("ratelimit-remaining"));
    // 10 taken; at most a request's worth refilled in between.
    expect(after).toBeLessThanOrEqual(remaining - 9);
    expect(after).toBeGreaterThanOrEqual(remaining - 10);
  });

  it("a tRPC client gets the 429 as an error saying what happened", async () => {
    // Calls from the typed client until one is refused (they drain the bucket faster than it refills).
    const client = h.client(tokenB.token);
    const refused = async () => {
      for (let i = 0; i < 2000; i++) await client.system.whoami.query();
    };
    const err = await trpcError(refused());
    expect(err.data).toMatchObject({ code: "TOO_MANY_REQUESTS", httpStatus: 429 });
    expect(err.message).toMatch(/rate limited: too many requests for this API token/);
  });

  it("refusals are logged as structured lines naming the token's id, never the token", () => {
    const lines = logs.lines.filter((l) => l.msg === "rate limited");
    expect(lines.length).toBeGreaterThan(0);
    // At most one line a second per bucket, with the refusals in between counted on the next one.
    expect(lines.length).toBeLessThan(50);
    expect(lines[0]).toMatchObject({ level: 40, component: "api-guard", scope: "token", tokenId: tokenA.id, path: "/trpc/system.whoami", calls: 1 });
    expect(lines.some((l) => typeof l.alsoRefusedSinceLastLine === "number" && l.alsoRefusedSinceLastLine > 0)).toBe(true);
    expect(logs.text()).not.toContain(tokenA.token);
    expect(logs.text()).not.toContain(tokenB.token);
  });
});

describe("requests without a verified token", () => {
  it("a flood of made-up tokens is bounded by client address, so few of them reach Postgres, while verified tokens go on", async () => {
    const { perSecond, burst } = DEFAULT_API_GUARD.anonRate;
    const before = metricValue(await metricsText(), "probepilot_http_rate_limited_total", { scope: "address" }) ?? 0;
    const fake = () => `ppt_${randomBytes(32).toString("base64url")}`;
    const { answers, seconds } = await flood(1000, 50, () => whoami(fake()));
    // A 401 is a token looked up in Postgres; a 429 never got that far.
    const lookedUp = answers.filter((a) => a.status === 401);
    const limited = answers.filter((a) => a.status === 429);
    expect(lookedUp.length + limited.length).toBe(1000);
    expect(lookedUp.length).toBeLessThanOrEqual(burst + Math.ceil(perSecond * (seconds + 1)));
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body.error.message).toMatch(/^rate limited: too many requests for this client address without a verified API token \(10\/s, bursts of 100\); retry in \d+ s$/);
    expect(Number(limited[0]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(metricValue(await metricsText(), "probepilot_http_rate_limited_total", { scope: "address" })).toBe(before + limited.length);

    // No token at all counts the same way.
    const anonymous = await flood(50, 10, () => whoami(undefined));
    expect(anonymous.answers.filter((a) => a.status === 429).length).toBeGreaterThan(30);
    // A token verified earlier is not held back by its address's flood.
    await sleep(1000); // out of the previous test's burst
    expect((await whoami(tokenB.token)).status).toBe(200);

    const line = logs.lines.find((l) => l.msg === "rate limited" && l.scope === "address");
    expect(line).toMatchObject({ client: expect.stringMatching(/127\.0\.0\.1/), token: "unverified" });
  });
});

describe("configuration", () => {
  let small: Harness;
  beforeAll(async () => {
    small = await startHarness({ PROBEPILOT_RATE_LIMIT_RPS: "2", PROBEPILOT_RATE_LIMIT_BURST: "10", PROBEPILOT_RATE_LIMIT_ANON_RPS: "0" });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it("PROBEPILOT_RATE_LIMIT_* set the bucket, and 0/s turns a limit off", async () => {
    const get = async (token?: string) => {
      const res = await fetch(`${small.cp.url}/trpc/system.whoami`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, limit: res.headers.get("ratelimit-limit"), body: (await res.json()) as any };
    };
    await get(small.adminToken); // verifies the token
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 30 }, () => get(small.adminToken)));
    const seconds = (performance.now() - started) / 1000;
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(9);
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(10 + Math.ceil(2 * (seconds + 1)));
    expect(answers.find((a) => a.status === 429)!.body.error.message).toMatch(/\(2\/s, bursts of 10\)/);
    expect(answers[0]!.limit).toBe("10");
    // The per-address limit is off: 300 anonymous requests are all answered 401, none 429, with no RateLimit headers.
    const anonymous = await Promise.all(Array.from({ length: 300 }, () => get()));
    expect(new Set(anonymous.map((a) => a.status))).toEqual(new Set([401]));
    expect(anonymous[0]!.limit).toBeNull();
  });
});

describe("the agent routes (enroll, renew)", () => {
  let small: Harness;
  beforeAll(async () => {
    small = await startHarness({ PROBEPILOT_RATE_LIMIT_AGENT_RPS: "1", PROBEPILOT_RATE_LIMIT_AGENT_BURST: "5" });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it("are limited per client address: 429 with Retry-After in the agents' refusal shape, which agents retry, and nothing is enrolled past the limit", async () => {
    const token = (await small.client().enrollTokens.create.mutate({})).token;
    const answers = await Promise.all(Array.from({ length: 15 }, (_, i) => enrollRequest(small.cp.url, { enrollmentToken: token, requestId: randomUUID(), publicKey: NkeyPair.create("user").getPublicKey(), hello: fakeHello({ hostname: `limited-${i}` }) })));
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(7);
    expect(limited.length).toBe(15 - ok);
    // UNAVAILABLE: the agent's own retry loop waits and tries again (agent/src/identity/enroll.ts).
    expect(limited[0]!.body).toMatchObject({ ok: false, code: "UNAVAILABLE", message: expect.stringMatching(/rate limited: too many agent requests from this address \(1\/s, bursts of 5\)/) });
    expect(((await small.client().agents.list.query({})).total)).toBe(ok);
  });
});
