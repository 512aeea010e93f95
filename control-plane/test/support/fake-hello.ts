import { randomUUID } from "node:crypto";
import { JSONCodec, type NatsConnection } from "nats";
import { ENROLL_SUBJECT, type AgentCapabilities, type AgentHello, type EnrollReply, type EnrollRequest } from "@probepilot/shared";

const json = JSONCodec<unknown>();

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
 * Send one enroll request exactly as an agent does (request/reply on `ENROLL_SUBJECT`).
 * `request` may be anything (a string is sent as raw bytes) so tests can send malformed ones.
 */
export async function enrollRequest(nc: NatsConnection, request: EnrollRequest | unknown, timeoutMs = 5000): Promise<EnrollReply> {
  const data = typeof request === "string" ? new TextEncoder().encode(request) : request instanceof Uint8Array ? request : json.encode(request);
  const reply = await nc.request(ENROLL_SUBJECT, data, { timeout: timeoutMs });
  return json.decode(reply.data) as EnrollReply;
}

export type EnrolledAgent = { agentId: string; agentKey: string; hostname: string };

/**
 * Enroll `count` agents with one enrollment token through the real enroll responder,
 * `concurrency` requests at a time. Host `i` is `${prefix}-${i}`; `hello(i)` may
 * override its hello. Fails on the first refused enrollment.
 */
export async function enrollAgents(
  nc: NatsConnection,
  enrollmentToken: string,
  count: number,
  opts: { prefix?: string; concurrency?: number; hello?: (i: number) => Partial<AgentHello> } = {},
): Promise<{ tenantId: string; agents: EnrolledAgent[] }> {
  const prefix = opts.prefix ?? "host";
  const concurrency = opts.concurrency ?? 25;
  const agents: EnrolledAgent[] = new Array(count);
  let tenantId: string | undefined;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const hostname = `${prefix}-${i}`;
      const reply = await enrollRequest(nc, { enrollmentToken, requestId: randomUUID(), hello: fakeHello({ hostname, ...opts.hello?.(i) }) });
      if (!reply.ok) throw new Error(`enrolling ${hostname} failed: ${reply.code}: ${reply.message}`);
      if (!reply.agentKey) throw new Error(`enrolling ${hostname}: first enrollment returned no agent key`);
      if (tenantId !== undefined && tenantId !== reply.tenantId) throw new Error(`agents of one token landed in two tenants: ${tenantId}, ${reply.tenantId}`);
      tenantId = reply.tenantId;
      agents[i] = { agentId: reply.agentId, agentKey: reply.agentKey, hostname };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (tenantId === undefined) throw new Error("enrollAgents needs count >= 1");
  return { tenantId, agents };
}
