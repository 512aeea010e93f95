import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { DEFAULT_PROBE_KINDS, PROBE_KINDS, probeParamsSchema } from "@probepilot/shared";
import { appRouter } from "../../../src/trpc/app-router.ts";
import { createCallerFactory } from "../../../src/trpc/init.ts";
import { createLogger } from "../../../src/logger.ts";
import { TelemetryTap } from "../../../src/services/telemetry/live/telemetry-tap.ts";
import { ensureProbeCatalog } from "../../../src/services/probes/ensure-probe-catalog.ts";
import { getProbeVersion } from "../../../src/services/probes/get-probe.ts";
import { specHash } from "../../../src/services/probes/spec-hash.ts";
import { startHarness, type Harness } from "@probepilot/testkit/control-plane-harness";
import { createTenant, type TestTenant } from "@probepilot/testkit/tenants";
import { captureCli } from "@probepilot/testkit/run-cli";
import { trpcError } from "@probepilot/testkit/trpc-error";

let h: Harness;
let tap: TelemetryTap;
let configHome: string;
/** Tenant A: an operator, a viewer (same tenant) and the admin of the harness. */
let operator: TestTenant;
let viewerToken: string;
let tenantA: string;

const createCaller = createCallerFactory(appRouter);
/** A server-side caller (no HTTP) authenticating with `token`, as a request would. */
const caller = (token: string) => createCaller({ db: h.cp.db.db, log: createLogger("silent"), agentConfig: { publishAgentConfig: async () => {} }, credentials: h.cp.credentials, tap, rolloutSignals: h.cp.rolloutSignals, bearerToken: token });

/** The TRPCError a server-side call ends with. */
async function callError(p: Promise<unknown>): Promise<TRPCError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TRPCError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  h = await startHarness();
  tap = new TelemetryTap(h.cp.nc);
  configHome = await mkdtemp(path.join(tmpdir(), "pp-probes-"));
  tenantA = (await h.client().system.whoami.query()).tenantId;
  const op = await h.client().tokens.create.mutate({ role: "operator", name: "probes-op" });
  operator = { tenantId: tenantA, token: op.token, client: h.client(op.token) };
  viewerToken = (await h.client().tokens.create.mutate({ role: "viewer", name: "probes-viewer" })).token;
});
afterAll(async () => {
  await h?.stop();
  await rm(configHome, { recursive: true, force: true });
});

describe("the built-in catalog", () => {
  it("is present for a brand-new tenant: one probe per kind, each with version 1 = the kind's defaults by system", async () => {
    const fresh = await createTenant(h, "fresh-catalog", "viewer");
    const list = await caller(fresh.token).probes.list();
    expect(list.map((p) => p.name)).toEqual([...PROBE_KINDS]);
    for (const p of list) {
      expect(p).toMatchObject({ kind: p.name, id: expect.stringMatching(/^prb_/), versionCount: 1, latest: { version: 1 } });
      expect(p.description.length).toBeGreaterThan(10);
      expect(p.default).toBe(DEFAULT_PROBE_KINDS.includes(p.kind));
      expect(p.latest!.specHash).toBe(specHash(p.kind, probeParamsSchema(p.kind).parse({}) as Record<string, unknown>));
    }
    expect(list.find((p) => p.name === "file_open")!.default).toBe(false);
    const tcp = await caller(fresh.token).probes.get({ probe: "tcp_flows" });
    expect(tcp.versions).toHaveLength(1);
    expect(tcp.versions[0]).toMatchObject({ version: 1, createdBy: "system", params: { minDurationMs: 0, maxEventsPerSec: 2000, intervalMs: 1000 } });
  });

  it("is seeded once however often and concurrently it is ensured", async () => {
    const fresh = await createTenant(h, "ensure-race", "viewer");
    await Promise.all(Array.from({ length: 5 }, () => ensureProbeCatalog(h.cp.db.db, fresh.tenantId)));
    // Inside a transaction too (not cached there): still nothing doubled.
    await h.cp.db.db.transaction((tx) => ensureProbeCatalog(tx, fresh.tenantId));
    const [counts] = await h.cp.db.sql`
      select (select count(*)::int from probes where tenant_id = ${fresh.tenantId}) as probes,
             (select count(*)::int from probe_versions where tenant_id = ${fresh.tenantId}) as versions`;
    expect(counts).toEqual({ probes: PROBE_KINDS.length, versions: PROBE_KINDS.length });
  });

  it("a probe is found by its id as well as its name", async () => {
    const byName = await caller(viewerToken).probes.get({ probe: "host" });
    const byId = await caller(viewerToken).probes.get({ probe: byName.id });
    expect(byId).toEqual(byName);
  });
});

describe("probes.createVersion", () => {
  it("creates v2 with its hash, and the same spec again returns v2 with created false", async () => {
    const api = caller(operator.token);
    const v2 = await api.probes.createVersion({ probe: "tcp_flows", params: { comm: "nginx", minDurationMs: 5 } });
    expect(v2).toMatchObject({ name: "tcp_flows", kind: "tcp_flows", version: 2, created: true, createdBy: expect.stringContaining("probes-op") });
    expect(v2.specHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(v2.params).toEqual({ comm: "nginx", minDurationMs: 5, maxEventsPerSec: 2000, intervalMs: 1000 });

    const again = await api.probes.createVersion({ probe: "tcp_flows", params: { minDurationMs: 5, comm: "nginx" } });
    expect(again).toMatchObject({ version: 2, created: false, specHash: v2.specHash });
    // The defaults spelled out are the same spec.
    const explicit = await api.probes.createVersion({ probe: "tcp_flows", params: { comm: "nginx", minDurationMs: 5, maxEventsPerSec: 2000, intervalMs: 1000 } });
    expect(explicit).toMatchObject({ version: 2, created: false });
    // And {} is version 1, the catalog's default spec.
    expect(await api.probes.createVersion({ probe: "tcp_flows", params: {} })).toMatchObject({ version: 1, created: false });

    const probe = await api.probes.get({ probe: "tcp_flows" });
    expect(probe.versions.map((v) => v.version)).toEqual([2, 1]);
    expect(await api.probes.getVersion({ probe: "tcp_flows" })).toMatchObject({ version: 2, specHash: v2.specHash });
    expect(await api.probes.getVersion({ probe: "tcp_flows", version: 1 })).toMatchObject({ version: 1, createdBy: "system" });
  });

  it("every new version is audited with its actor; a repeated spec writes nothing", async () => {
    const api = caller(operator.token);
    const v = await api.probes.createVersion({ probe: "oom_kills", params: { intervalMs: 5000 } });
    await api.probes.createVersion({ probe: "oom_kills", params: { intervalMs: 5000 } });
    const rows = await h.cp.db.sql`select actor, action, target, details from audit_log where tenant_id = ${tenantA} and action = 'probe.create_version' and target = ${v.probeId}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.actor).toContain("probes-op");
    expect(rows[0]!.details).toMatchObject({ name: "oom_kills", version: 2, specHash: v.specHash, params: { intervalMs: 5000 } });
  });

  it("invalid parameters are INVALID naming the field, and change nothing", async () => {
    const api = caller(operator.token);
    const before = await h.cp.db.sql`select count(*)::int as n from probe_versions where tenant_id = ${tenantA}`;
    const unknownKey = await callError(api.probes.createVersion({ probe: "tcp_flows", params: { pidd: 42 } }));
    expect(unknownKey.code).toBe("BAD_REQUEST");
    expect(unknownKey.message).toBe('parameters for tcp_flows: unknown parameter "pidd"; tcp_flows takes pid, comm, cgroup, minDurationMs, maxEventsPerSec, intervalMs');
    const wrongType = await callError(api.probes.createVersion({ probe: "tcp_flows", params: { minDurationMs: "5" } }));
    expect(wrongType.message).toBe("parameters for tcp_flows: minDurationMs: Invalid input: expected number, received string");
    const longComm = await callError(api.probes.createVersion({ probe: "process_exec", params: { comm: "a-very-long-process-name" } }));
    expect(longComm.code).toBe("BAD_REQUEST");
    expect(longComm.message).toMatch(/^parameters for process_exec: comm: comm is at most 15 bytes/);
    const wrongKind = await callError(api.probes.createVersion({ probe: "tcp_flows", kind: "file_open", params: {} }));
    expect(wrongKind.message).toMatch(/the spec says kind "file_open" but probe "tcp_flows" is a tcp_flows probe/);
    expect(await h.cp.db.sql`select count(*)::int as n from probe_versions where tenant_id = ${tenantA}`).toEqual(before);
  });

  it("an unknown probe is NOT_FOUND saying what exists", async () => {
    const err = await callError(caller(operator.token).probes.createVersion({ probe: "tcp_flow", params: {} }));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toBe(`unknown probe "tcp_flow" (did you mean "tcp_flows"?); the catalog has: ${PROBE_KINDS.join(", ")}`);
    const byId = await callError(caller(viewerToken).probes.get({ probe: "prb_00000000000000000000000000" }));
    expect(byId.code).toBe("NOT_FOUND");
    expect(byId.message).toMatch(/probepilot probes list/);
    const version = await callError(caller(viewerToken).probes.getVersion({ probe: "host", version: 9 }));
    expect(version.code).toBe("NOT_FOUND");
    expect(version.message).toMatch(/^probe "host" has no version 9; its versions are v1–v\d+/);
  });

  it("input is checked: an empty or multi-line probe reference, params that are not an object", async () => {
    const api = caller(operator.token);
    expect((await callError(api.probes.createVersion({ probe: "", params: {} }))).code).toBe("BAD_REQUEST");
    // Over HTTP the message names the field.
    const empty = await trpcError(operator.client.probes.get.query({ probe: "" }));
    expect(empty.message).toBe("invalid input: probe: must not be empty");
    const control = await trpcError(operator.client.probes.get.query({ probe: "tcp\nflows" }));
    expect(control.message).toMatch(/^invalid input: probe: must not contain control characters/);
    const notObject = await trpcError(operator.client.probes.createVersion.mutate({ probe: "host", params: "intervalMs=5" as never }));
    expect(notObject.message).toMatch(/^invalid input: params: params must be an object of parameter names to values/);
  });

  it("a viewer cannot create versions (FORBIDDEN)", async () => {
    const err = await callError(caller(viewerToken).probes.createVersion({ probe: "host", params: { intervalMs: 2000 } }));
    expect(err.code).toBe("FORBIDDEN");
    expect(err.message).toMatch(/needs the "operator" role/);
  });

  it("concurrent createVersion calls with 5 different specs get 5 distinct, consecutive versions", async () => {
    const api = caller(operator.token);
    const base = (await api.probes.getVersion({ probe: "runqueue_latency" })).version;
    const created = await Promise.all([1100, 1200, 1300, 1400, 1500].map((intervalMs) => api.probes.createVersion({ probe: "runqueue_latency", params: { intervalMs } })));
    expect(created.every((v) => v.created)).toBe(true);
    expect(created.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5].map((i) => base + i));
    // The same spec raced from 4 callers: one version.
    const same = await Promise.all(Array.from({ length: 4 }, () => api.probes.createVersion({ probe: "runqueue_latency", params: { intervalMs: 1700 } })));
    expect(new Set(same.map((v) => v.version)).size).toBe(1);
    expect(same.filter((v) => v.created)).toHaveLength(1);
  });
});

describe("tenant isolation", () => {
  it("tenant B has its own catalog and does not see tenant A's versions or probe ids", async () => {
    await caller(operator.token).probes.createVersion({ probe: "block_io_latency", params: { comm: "postgres" } });
    const b = await createTenant(h, "isolated-b", "operator");
    const bProbe = await caller(b.token).probes.get({ probe: "block_io_latency" });
    expect(bProbe.versions.map((v) => v.version)).toEqual([1]);
    const aProbe = await caller(operator.token).probes.get({ probe: "block_io_latency" });
    expect(aProbe.id).not.toBe(bProbe.id);
    expect((await callError(caller(b.token).probes.get({ probe: aProbe.id }))).code).toBe("NOT_FOUND");
    // The same spec in B is B's own v2.
    expect(await caller(b.token).probes.createVersion({ probe: "block_io_latency", params: { comm: "postgres" } })).toMatchObject({ version: 2, created: true });
    // The service scopes by tenant too.
    await expect(getProbeVersion(h.cp.db.db, b.tenantId, aProbe.id)).rejects.toThrow(/not found in this tenant/);
  });
});

describe("probes.paramsSchema", () => {
  it("returns the kind's JSON Schema with each parameter's description, default and bounds", async () => {
    const schema = await caller(viewerToken).probes.paramsSchema({ kind: "tcp_flows" });
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties)).toEqual(["pid", "comm", "cgroup", "minDurationMs", "maxEventsPerSec", "intervalMs"]);
    for (const p of Object.values(schema.properties)) expect(p.description).toEqual(expect.any(String));
    expect(schema.properties.comm).toMatchObject({ type: "string", maxLength: 15 });
    expect(schema.properties.intervalMs).toMatchObject({ type: "integer", default: 1000, minimum: 100, maximum: 60_000 });
    // Defaulted parameters may be left out.
    expect(schema.required ?? []).toEqual([]);
  });

  it("an unknown kind is NOT_FOUND listing the kinds", async () => {
    const err = await callError(caller(viewerToken).probes.paramsSchema({ kind: "tcpflows" }));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toBe(`unknown probe kind "tcpflows" (did you mean "tcp_flows"?); the built-in kinds are: ${PROBE_KINDS.join(", ")}`);
  });
});

describe("probepilot probes", () => {
  const cli = (args: string[], token = operator.token) => captureCli(args, { XDG_CONFIG_HOME: configHome, PROBEPILOT_URL: h.cp.url, PROBEPILOT_TOKEN: token });

  it("probes list: a table with the latest version and whether it runs by default; --json for tools", async () => {
    const r = await cli(["probes", "list"], viewerToken);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+LATEST\s+DEFAULT\s+DESCRIPTION$/);
    expect(lines).toHaveLength(PROBE_KINDS.length + 1);
    expect(lines.find((l) => l.startsWith("host "))).toMatch(/^host\s+host\s+v1\s+yes\s+Host CPU/);
    expect(lines.find((l) => l.startsWith("syscall_counts "))).toMatch(/\sopt-in\s/);
    const json = JSON.parse((await cli(["probes", "list", "--json"], viewerToken)).stdout);
    expect(json.map((p: { name: string }) => p.name)).toEqual([...PROBE_KINDS]);
  });

  it("probes create-version: --param values as JSON or text, then the same spec again", async () => {
    const r = await cli(["probes", "create-version", "process_exit", "--param", "comm=nginx", "--param", "maxEventsPerSec=50"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^created process_exit v2 \(sha256:[0-9a-f]{12}\)\n/);
    expect(r.stdout).toContain('parameters: {"comm":"nginx","maxEventsPerSec":50,"intervalMs":1000}');
    const again = await cli(["probes", "create-version", "process_exit", "--params", '{"maxEventsPerSec":50,"comm":"nginx"}']);
    expect(again.stdout).toMatch(/^process_exit v2 already has this spec \(sha256:[0-9a-f]{12}\)/);
    const json = JSON.parse((await cli(["probes", "create-version", "process_exit", "--param", "comm=nginx", "--param", "maxEventsPerSec=50", "--json"])).stdout);
    expect(json).toMatchObject({ version: 2, created: false, specHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  });

  it("probes create-version --file takes a spec or bare parameters; --param overrides the file", async () => {
    const spec = path.join(configHome, "spec.json");
    await writeFile(spec, JSON.stringify({ kind: "file_open", params: { pathPrefix: "/etc/", failedOnly: true } }));
    const r = await cli(["probes", "create-version", "file_open", "--file", spec, "--param", "comm=sshd", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ created: true, params: { pathPrefix: "/etc/", failedOnly: true, comm: "sshd" } });
    const bare = path.join(configHome, "params.json");
    await writeFile(bare, JSON.stringify({ pathPrefix: "/etc/", failedOnly: true, comm: "sshd" }));
    expect((await cli(["probes", "create-version", "file_open", "--file", bare])).stdout).toMatch(/already has this spec/);
    const wrongKind = await cli(["probes", "create-version", "tcp_flows", "--file", spec]);
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.stderr).toMatch(/the spec says kind "file_open" but probe "tcp_flows" is a tcp_flows probe/);
    const missing = await cli(["probes", "create-version", "file_open", "--file", path.join(configHome, "nope.json")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--file .*nope\.json: cannot read it \(ENOENT\)/);
  });

  it("probes show: the versions table, then the parameters of the latest or --version N", async () => {
    const r = await cli(["probes", "show", "process_exit"], viewerToken);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^process_exit \(prb_\w+\) · kind process_exit · on by default\n/);
    expect(r.stdout).toMatch(/VERSION\s+SPEC-HASH\s+CREATED\s+BY\nv2\s+sha256:[0-9a-f]{12}\s+\S+ ago\s+token:probes-op.*\nv1\s+sha256:[0-9a-f]{12}\s+\S+ ago\s+system/);
    expect(r.stdout).toMatch(/parameters of v2 \(sha256:[0-9a-f]{64}\):\n  \{\n    "comm": "nginx",/);
    const v1 = await cli(["probes", "show", "process_exit", "--version", "1"], viewerToken);
    expect(v1.stdout).toMatch(/parameters of v1 /);
    expect(v1.stdout).not.toContain('"comm"');
    const json = JSON.parse((await cli(["probes", "show", "process_exit", "--version", "1", "--json"], viewerToken)).stdout);
    expect(json).toMatchObject({ name: "process_exit", version: 1, createdBy: "system" });
  });

  it("errors: an unknown probe (exit 1, with the catalog), bad params (exit 1, naming the field), bad flags (exit 2), a viewer (exit 1, 403)", async () => {
    const unknown = await cli(["probes", "show", "tcp_flow"], viewerToken);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown probe "tcp_flow" \(did you mean "tcp_flows"\?\); the catalog has: host, tcp_flows/);
    const bad = await cli(["probes", "create-version", "tcp_flows", "--param", "minDurationMs=soon"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/parameters for tcp_flows: minDurationMs: Invalid input: expected number, received string/);
    const usage = await cli(["probes", "create-version", "tcp_flows", "--param", "comm"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--param "comm": expected name=value/);
    expect((await cli(["probes", "show"])).code).toBe(2);
    expect((await cli(["probes", "show", "host", "--version", "0"])).stderr).toMatch(/--version "0": expected a whole number ≥ 1/);
    const viewer = await cli(["probes", "create-version", "host", "--param", "intervalMs=2000"], viewerToken);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/this call needs the "operator" role/);
  });

  it("--help lists the probes commands", async () => {
    const r = await cli(["--help"]);
    expect(r.stdout).toMatch(/probes list/);
    expect(r.stdout).toMatch(/probes create-version NAME \[--param k=v\]… \[--params JSON\] \[--file spec.json\]/);
  });
});
