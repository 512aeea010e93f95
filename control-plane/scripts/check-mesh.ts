/**
 * `pnpm check:mesh`: tries a running ProbePilot's NATS as an attacker and as the local
 * agent would, and prints what the NATS server allowed and refused:
 *
 *   - an anonymous connection (must be refused);
 *   - with the local agent's `nats.creds` and the local CA: its own telemetry publish
 *     (must be acked), another agent's and another tenant's subjects, a policy KV write,
 *     stream administration and a wildcard subscription (each must be refused by the server).
 *
 * Exits 1 when anything that must be refused got through (or the allowed publish failed).
 *
 *   pnpm check:mesh [--data-dir .probepilot] [--nats tls://127.0.0.1:7422]
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { connect, type NatsConnection } from "nats";
import { TELEMETRY_ENVELOPE_VERSION, agentInboxPrefix, newId, policyBucket, telemetrySubject, type TelemetryBatch } from "@probepilot/shared";
import { NkeyPair, nkeyAuthenticator, parseCreds } from "@probepilot/shared/nkeys";

const { values } = parseArgs({ options: { "data-dir": { type: "string" }, nats: { type: "string" } }, strict: true });
const dataDir = path.resolve(values["data-dir"] ?? process.env.PROBEPILOT_DATA_DIR ?? ".probepilot");
const natsUrl = values.nats ?? `tls://127.0.0.1:${process.env.PROBEPILOT_NATS_PORT ?? 7422}`;
const caFile = path.join(dataDir, "tls", "ca.pem");
const identity = JSON.parse(await readFile(path.join(dataDir, "agent", "identity.json"), "utf8")) as { agentId: string; tenantId: string };
const creds = parseCreds(await readFile(path.join(dataDir, "agent", "nats.creds"), "utf8"));
const key = NkeyPair.fromSeed(creds.seed);

let failures = 0;
const report = (ok: boolean, what: string, detail: string) => {
  if (!ok) failures++;
  process.stdout.write(`${ok ? "ok  " : "FAIL"}  ${what}: ${detail}\n`);
};

// 1. Anonymous.
await connect({ servers: natsUrl, tls: { caFile }, reconnect: false, timeout: 5000 }).then(
  async (nc) => (report(false, "anonymous connection", "accepted"), await nc.close()),
  (e: { code?: string; message: string }) => report(e.code === "AUTHORIZATION_VIOLATION", "anonymous connection", `refused by the server (${e.code ?? e.message})`),
);

// 2. As the local agent.
const nc: NatsConnection = await connect({ servers: natsUrl, tls: { caFile }, authenticator: nkeyAuthenticator(() => ({ jwt: creds.jwt, key })), inboxPrefix: agentInboxPrefix(identity.agentId), reconnect: false });
const js = nc.jetstream({ checkAPI: false });
// A valid, empty batch of a probe of its own ("mesh-check"): stored and ingested like any, changing no real series.
const now = Date.now();
const batch: TelemetryBatch = { v: TELEMETRY_ENVELOPE_VERSION, tenantId: identity.tenantId, agentId: identity.agentId, probe: "mesh-check", probeVersion: "check", seq: now, sentAt: now, series: [], histograms: [], events: [], profiles: [] };
const probe = new TextEncoder().encode(JSON.stringify(batch));
await js.publish(telemetrySubject(identity.tenantId, identity.agentId, "mesh-check"), probe).then(
  (ack) => report(true, "the agent's own telemetry publish", `acked by ${ack.stream} (seq ${ack.seq})`),
  (e: Error) => report(false, "the agent's own telemetry publish", e.message),
);

async function mustRefuse(what: string, subject: string): Promise<void> {
  await nc.request(subject, probe, { timeout: 3000 }).then(
    () => report(false, what, `${subject} got through`),
    (e: { code?: string; message: string }) => report(e.code === "PERMISSIONS_VIOLATION", what, e.code === "PERMISSIONS_VIOLATION" ? `refused by the server` : `${e.code}: ${e.message}`),
  );
}
await mustRefuse("publishing as another agent", telemetrySubject(identity.tenantId, newId("agent"), "host"));
await mustRefuse("publishing as another tenant's agent", telemetrySubject(newId("tenant"), newId("agent"), "host"));
await mustRefuse("writing a policy KV key", `$KV.${policyBucket(identity.tenantId)}.pol_mesh_check`);
await mustRefuse("deleting the policy stream", `$JS.API.STREAM.DELETE.KV_${policyBucket(identity.tenantId)}`);
await mustRefuse("creating a stream", "$JS.API.STREAM.CREATE.MESH_CHECK");
const sub = await new Promise<string>((resolve) => {
  const timer = setTimeout(() => resolve("not refused within 3 s"), 3000);
  nc.subscribe(">", { callback: (err) => err && (clearTimeout(timer), resolve(err.message)) });
});
report(/Permissions Violation/.test(sub), "subscribing to >", /Permissions Violation/.test(sub) ? "refused by the server" : sub);
await nc.close().catch(() => {});

process.stdout.write(failures === 0 ? "\nthe mesh holds: everything above was decided by the NATS server\n" : `\n${failures} check(s) failed\n`);
process.exit(failures === 0 ? 0 : 1);
