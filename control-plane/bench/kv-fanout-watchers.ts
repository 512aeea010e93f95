/**
 * The raw baseline of `pnpm bench:rollout`, run as its own process (as the
 * simulated fleet is): N watchers of one KV bucket over C shared connections,
 * nothing else. Prints `ready` once every watcher has replayed the bucket, then
 * one JSON line with how long after the put (`putAt` in the value, same host
 * clock) each watcher saw the key, and exits. The watchers connect the way the
 * simulated agents do: TLS (`caFile`, or "-" for none) and a NATS user
 * (`credsFile`) allowed to watch this bucket, in the tenant's account.
 *
 *   tsx kv-fanout-watchers.ts <natsUrl> <caFile|-> <credsFile> <bucket> <key> <watchers> <connections>
 */
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "nats";
import { NkeyPair, nkeyAuthenticator, parseCreds } from "@probepilot/shared/nkeys";

const [natsUrl, caFile, credsFile, bucket, key, watchersArg, connectionsArg] = process.argv.slice(2);
const watchers = Number(watchersArg);
const connections = Number(connectionsArg);
if (!natsUrl || !caFile || !credsFile || !bucket || !key || !(watchers > 0) || !(connections > 0)) {
  process.stderr.write("usage: kv-fanout-watchers.ts <natsUrl> <caFile|-> <credsFile> <bucket> <key> <watchers> <connections>\n");
  process.exit(2);
}
const creds = parseCreds(readFileSync(credsFile, "utf8"));
const userKey = NkeyPair.fromSeed(creds.seed);

const ncs: NatsConnection[] = [];
for (let i = 0; i < connections; i++) {
  ncs.push(
    await connect({
      servers: natsUrl,
      name: `bench-fanout-${i}`,
      authenticator: nkeyAuthenticator(() => ({ jwt: creds.jwt, key: userKey })),
      ...(caFile !== "-" ? { tls: { caFile } } : {}),
    }),
  );
}
const latencies: number[] = [];
let ready = 0;
let done!: () => void;
const all = new Promise<void>((r) => (done = r));

// Watchers start in bounded batches, like the fleet's agents: 10,000 consumer creations at once time out.
const BATCH = 200;
for (let start = 0; start < watchers; start += BATCH) {
  await Promise.all(
    Array.from({ length: Math.min(BATCH, watchers - start) }, async (_, j) => {
      const kv = await ncs[(start + j) % connections]!.jetstream({ checkAPI: false }).views.kv(bucket, { bindOnly: true });
      let initialized!: () => void;
      const replayed = new Promise<void>((r) => (initialized = r));
      const iter = await kv.watch({ key, initializedFn: () => initialized() });
      void (async () => {
        for await (const e of iter) {
          if (e.operation !== "PUT") continue;
          const { putAt } = e.json<{ putAt: number }>();
          latencies.push(Date.now() - putAt);
          iter.stop();
          if (latencies.length === watchers) done();
          break;
        }
      })();
      await replayed;
      ready++;
    }),
  );
  process.stderr.write(`fan-out watchers: ${ready}/${watchers} ready\n`);
}
process.stdout.write("ready\n");
await all;
latencies.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ count: latencies.length, p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.ceil(latencies.length * 0.99) - 1], max: latencies.at(-1) })}\n`);
await Promise.all(ncs.map((nc) => nc.drain().catch(() => {})));
process.exit(0);
