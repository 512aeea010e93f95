import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { enrollAgents, type EnrolledAgent } from "@probepilot/testkit/fake-hello";
import { eventually, sleep } from "@probepilot/testkit/poll";
import { publishGauge, sseClient } from "@probepilot/testkit/live-telemetry";

let h: Harness;
let tenantId: string;
let agents: EnrolledAgent[];

beforeAll(async () => {
  h = await startHarness();
  const { token } = await h.client().enrollTokens.create.mutate({});
  ({ tenantId, agents } = await enrollAgents(h.cp.url, token, 2, { prefix: "live", hello: (i) => ({ userLabels: { team: i === 0 ? "a" : "b" } }) }));
});
afterAll(async () => {
  await h?.stop();
});

const publish = (agent: EnrolledAgent, points: [number, number][], metric = "live_metric") => publishGauge(h, tenantId, agent.agentId, metric, points);

type Event = { id: string; data: any; at: number };

function subscribe(input: Record<string, unknown>, client = sseClient(h)) {
  const events: Event[] = [];
  const errors: unknown[] = [];
  const sub = client.telemetry.live.subscribe(input as never, {
    onData: (e: any) => events.push({ id: e.id, data: e.data, at: Date.now() }),
    onError: (err) => errors.push(err),
  });
  return { events, errors, stop: () => sub.unsubscribe() };
}

describe("telemetry.live", () => {
  it("starts with a backfill from Postgres, then streams live points from NATS", async () => {
    const stored = Date.now() - 20_000;
    await publish(agents[0]!, [[stored, 5]]);
    await eventually(async () => expect((await h.cp.db.sql`select count(*)::int as n from samples`)[0]!.n).toBeGreaterThanOrEqual(1));

    const s = subscribe({ metric: "live_metric", stepMs: 1000, agg: "avg", windowMs: 60_000, by: ["team"] });
    try {
      const backfill = await eventually(() => {
        expect(s.events.length).toBeGreaterThanOrEqual(1);
        return s.events[0]!;
      });
      expect(backfill.data.kind).toBe("backfill");
      const bucket = stored - (stored % 1000);
      expect(backfill.data.series).toEqual([{ labels: { team: "a" }, points: expect.arrayContaining([[bucket, 5]]) }]);

      // Live: points published now arrive as updates, grouped like the range query.
      const now = Date.now();
      await publish(agents[0]!, [[now, 10]]);
      await publish(agents[1]!, [[now, 30]]);
      const update = await eventually(() => {
        const u = s.events.filter((e) => e.data.kind === "update");
        const groups = new Map<string, number | null>();
        for (const e of u) for (const g of e.data.series) for (const [ts, v] of g.points) if (ts === now - (now % 1000)) groups.set(g.labels.team, v);
        expect(Object.fromEntries(groups)).toEqual({ a: 10, b: 30 });
        return u[u.length - 1]!;
      });
      expect(Number(update.id)).toBe(now - (now % 1000));
      expect(s.errors).toEqual([]);
    } finally {
      s.stop();
    }
  });

  it("coalesces a flood into at most 10 updates a second", async () => {
    const s = subscribe({ metric: "flood_metric", stepMs: 1000, agg: "count", windowMs: 10_000 });
    try {
      await eventually(() => expect(s.events.length).toBeGreaterThanOrEqual(1)); // the backfill
      const started = Date.now();
      // Distinct timestamps: a series has one sample per millisecond (the live view folds repeats of one).
      let last = 0;
      for (let i = 0; i < 200; i++) {
        last = Math.max(Date.now(), last + 1);
        await publish(agents[0]!, [[last, i]], "flood_metric");
      }
      await sleep(1200);
      const updates = s.events.filter((e) => e.data.kind === "update" && e.at >= started);
      const seconds = Math.max(1, (Date.now() - started) / 1000);
      expect(updates.length).toBeGreaterThan(0);
      expect(updates.length / seconds).toBeLessThanOrEqual(11); // 10/s, plus one timer tick of slack
      // Nothing is lost by coalescing: the counts add up to what was published.
      const perBucket = new Map<number, number>();
      for (const u of updates) for (const g of u.data.series) for (const [ts, v] of g.points) perBucket.set(ts, v);
      expect([...perBucket.values()].reduce((a, b) => a + b, 0)).toBe(200);
    } finally {
      s.stop();
    }
  });

  it("a client that reconnects with its last event id gets everything since, without a gap", async () => {
    const first = subscribe({ metric: "resume_metric", stepMs: 1000, agg: "max", windowMs: 60_000 });
    await eventually(() => expect(first.events.length).toBeGreaterThanOrEqual(1));
    const t0 = Date.now();
    await publish(agents[0]!, [[t0, 1]], "resume_metric");
    const seen = await eventually(() => {
      const u = first.events.find((e) => e.data.kind === "update");
      expect(u).toBeDefined();
      return u!;
    });
    first.stop();
    // While disconnected, more data arrives (and is stored by the ingester).
    await sleep(1100);
    const t1 = Date.now();
    await publish(agents[0]!, [[t1, 2]], "resume_metric");
    await sleep(1100);
    await eventually(async () => expect((await h.cp.db.sql`select count(*)::int as n from samples x join series s on s.id = x.series_id where s.metric = 'resume_metric'`)[0]!.n).toBe(2));

    const again = subscribe({ metric: "resume_metric", stepMs: 1000, agg: "max", windowMs: 60_000, lastEventId: seen.id });
    try {
      const backfill = await eventually(() => {
        expect(again.events.length).toBeGreaterThanOrEqual(1);
        return again.events[0]!;
      });
      expect(backfill.data.kind).toBe("backfill");
      const points = new Map<number, number | null>(backfill.data.series.flatMap((g: any) => g.points));
      expect(Number(backfill.data.series[0].points[0][0])).toBe(Number(seen.id)); // resumes at the last bucket it had
      expect(points.get(t0 - (t0 % 1000))).toBe(1);
      expect(points.get(t1 - (t1 % 1000))).toBe(2);
    } finally {
      again.stop();
    }
  });

  it("needs a token, and checks the input", async () => {
    const anon = subscribe({ metric: "live_metric", stepMs: 1000, agg: "avg" }, sseClient(h, "ppt_wrong"));
    await eventually(() => expect(anon.errors.length).toBeGreaterThanOrEqual(1));
    anon.stop();
    expect(String((anon.errors[0] as Error).message)).toMatch(/unknown or revoked/);
  });
});
