import { randomUUID } from "node:crypto";
import { connect, type ConnectionOptions, type NatsConnection } from "nats";
import { EnrollReplySchema, agentInboxPrefix, type AgentCapabilities, type AgentConfig, type AgentHello } from "@probepilot/shared";
import { NkeyPair, nkeyAuthenticator } from "@probepilot/shared/nkeys";

/** Capabilities of a well-equipped host (BTF, bpf() permitted, tracepoints, perf events). */
export function fakeCapabilities(overrides: Partial<AgentCapabilities> = {}): AgentCapabilities {
  return {
    btf: true,
    bpfSyscall: { permitted: true },
    tracepoints: { available: true, tracefs: "/sys/kernel/tracing" },
    perfEvents: { available: true, paranoid: 2 },
    kprobes: { available: false, reason: "kprobes are not enabled in this kernel" },
    uid: 0,
    capEff: "000001ffffffffff",
    ...overrides,
  };
}

/** A valid `AgentHello` for a made-up host; `overrides` replace whole fields. */
export function fakeHello(overrides: Partial<AgentHello> = {}): AgentHello {
  const hostname = overrides.hostname ?? "test-host-1";
  return {
    agentVersion: "0.1.0-test",
    hostname,
    os: "linux",
    kernel: "6.1.0-test",
    arch: "x86_64",
    hostLabels: { "probepilot.io/hostname": hostname, "probepilot.io/os": "linux", "probepilot.io/arch": "x86_64" },
    userLabels: {},
    capabilities: fakeCapabilities(),
    ...overrides,
  };
}

/**
 * POST one enroll request exactly as an agent does (`/v1/agents/enroll`) and return the
 * HTTP status and parsed body. `body` may be anything (a string is sent as is) so tests
 * can send malformed ones.
 */
export async function enrollRequest(controlPlaneUrl: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${controlPlaneUrl}/v1/agents/enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

export type EnrolledAgent = { agentId: string; tenantId: string; hostname: string; key: NkeyPair; jwt: string; expiresAt: number; config: AgentConfig };

/** Enroll one agent with a fresh key through the real route; fails on a refusal. */
export async function enrollOne(controlPlaneUrl: string, enrollmentToken: string, hello: AgentHello, key = NkeyPair.create("user")): Promise<EnrolledAgent> {
  const reply = await enrollRequest(controlPlaneUrl, { enrollmentToken, requestId: randomUUID(), publicKey: key.getPublicKey(), hello });
  if (reply.status !== 200) throw new Error(`enrolling ${hello.hostname} failed (${reply.status}): ${JSON.stringify(reply.body)}`);
  const ok = EnrollReplySchema.parse(reply.body);
  return { agentId: ok.agentId, tenantId: ok.tenantId, hostname: hello.hostname, key, jwt: ok.jwt, expiresAt: ok.expiresAt, config: ok.config };
}

/**
 * Enroll `count` agents with one enrollment token through the real enroll route,
 * `concurrency` requests at a time, each with its own NKEY pair. Host `i` is
 * `${prefix}-${i}`; `hello(i)` may override its hello. Fails on the first refusal.
 */
export async function enrollAgents(
  controlPlaneUrl: string,
  enrollmentToken: string,
  count: number,
  opts: { prefix?: string; concurrency?: number; hello?: (i: number) => Partial<AgentHello> } = {},
): Promise<{ tenantId: string; agents: EnrolledAgent[] }> {
  const prefix = opts.prefix ?? "host";
  const concurrency = opts.concurrency ?? 25;
  const agents: EnrolledAgent[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const hostname = `${prefix}-${i}`;
      agents[i] = await enrollOne(controlPlaneUrl, enrollmentToken, fakeHello({ hostname, ...opts.hello?.(i) }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (count < 1) throw new Error("enrollAgents needs count >= 1");
  const tenants = new Set(agents.map((a) => a.tenantId));
  if (tenants.size !== 1) throw new Error(`agents of one token landed in ${tenants.size} tenants`);
  return { tenantId: agents[0]!.tenantId, agents };
}

/**
 * A NATS connection as an enrolled agent (its own user: its key and JWT, its inbox
 * prefix), as the agent process makes it. What the server allows or refuses on it
 * is what an agent may do.
 */
export function connectAsAgent(nats: { url: string; caFile?: string }, agent: Pick<EnrolledAgent, "agentId" | "key" | "jwt">, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  return connect({
    servers: nats.url,
    name: `pp-test-agent@${agent.agentId}`,
    authenticator: nkeyAuthenticator(() => ({ jwt: agent.jwt, key: agent.key })),
    inboxPrefix: agentInboxPrefix(agent.agentId),
    ...(nats.caFile ? { tls: { caFile: nats.caFile } } : {}),
    ...options,
  });
}
