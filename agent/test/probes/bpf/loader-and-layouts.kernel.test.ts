import { afterEach, expect, it } from "vitest";
import { spawn, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { FrameReader, FrameType } from "../../../src/probes/bpf/frames.ts";
import { LoaderError, LoaderProcess } from "../../../src/probes/bpf/loader-process.ts";
import { DEFAULT_BPF_DIR } from "../../../src/probes/bpf/bpf-catalog.ts";
import { RECORD_LAYOUTS } from "../../../src/probes/bpf/records.ts";
import { ProbeCatalog } from "../../../src/probes/catalog.ts";
import { ProbeSupervisor } from "../../../src/probes/probe-supervisor.ts";
import { detectCapabilities } from "../../../src/host/capabilities.ts";
import type { ProbeStatus } from "@probepilot/shared";
import { waitFor } from "@probepilot/testkit/poll";
import { describeKernel } from "./support/probe-harness.ts";

const bpfDir = process.env.PROBEPILOT_BPF_DIR ?? DEFAULT_BPF_DIR;
const ppbpf = path.join(bpfDir, "ppbpf");
const object = (kind: string) => path.join(bpfDir, "probes", `${kind}.bpf.o`);
const noHandlers = { onEvent: () => {}, onMapDump: () => {}, onInterval: () => {}, onExit: () => {} };

type BtfType = { id: number; kind: string; name?: string; size?: number; type_id?: number; nr_elems?: number; members?: { name: string; type_id: number; bits_offset: number }[] };

/** Size in bytes of a BTF type, following typedefs and qualifiers. */
function btfSize(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id)!;
  if (t.kind === "ARRAY") return t.nr_elems! * btfSize(types, t.type_id!);
  if (t.size !== undefined) return t.size;
  if (t.kind === "PTR") return 8;
  return btfSize(types, t.type_id!);
}

describeKernel("record layouts against the BTF of the built objects", () => {
  it("every decoder offset, size and struct size matches the C struct the probe was compiled with", () => {
    const found = new Map<string, string>();
    for (const file of readdirSync(path.join(bpfDir, "probes")).filter((f) => f.endsWith(".bpf.o"))) {
      const dump = JSON.parse(execFileSync("bpftool", ["-j", "btf", "dump", "file", path.join(bpfDir, "probes", file), "format", "raw"], { encoding: "utf8", maxBuffer: 64 << 20 })) as { types: BtfType[] };
      const types = new Map(dump.types.map((t) => [t.id, t]));
      for (const layout of RECORD_LAYOUTS) {
        const struct = dump.types.find((t) => t.kind === "STRUCT" && t.name === layout.name);
        if (!struct) continue;
        found.set(layout.name, file);
        const where = `${layout.name} in ${file}`;
        expect(struct.size, `${where}: struct size`).toBe(layout.size);
        const members = new Map(struct.members!.map((m) => [m.name, m]));
        for (const [field, { offset, size }] of Object.entries(layout.fields)) {
          const member = members.get(field);
          expect(member, `${where}: field ${field} exists`).toBeDefined();
          expect(member!.bits_offset / 8, `${where}: offset of ${field}`).toBe(offset);
          expect(btfSize(types, member!.type_id), `${where}: size of ${field}`).toBe(size);
        }
        // A field added in C but unknown to the decoder is a drift too (padding excepted).
        const unknown = struct.members!.map((m) => m.name).filter((n) => !n.startsWith("_") && !(n in layout.fields));
        expect(unknown, `${where}: fields the decoder does not know`).toEqual([]);
      }
    }
    expect([...found.keys()].sort()).toEqual(RECORD_LAYOUTS.map((l) => l.name).sort());
  });
});

let loader: LoaderProcess | null = null;
afterEach(async () => {
  await loader?.stop();
  loader = null;
});

describeKernel("ppbpf loader", () => {
  it("reports a verifier rejection as a structured error with the verifier's reason", async () => {
    loader = new LoaderProcess({ binary: ppbpf, object: path.join(bpfDir, "tests", "verifier_reject.bpf.o"), intervalMs: 1000 }, noHandlers);
    const err = await loader.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoaderError);
    const info = (err as LoaderError).info;
    expect(info).toMatchObject({ stage: "load", program: "unchecked_lookup" });
    expect(info.verifierLog).toMatch(/map_value_or_null/);
    expect((err as Error).message).toMatch(/ppbpf load failed \(program unchecked_lookup\).*\nverifier log \(end\):\n/s);
  });

  it("rejects an unknown knob before loading anything", async () => {
    loader = new LoaderProcess({ binary: ppbpf, object: object("process_exec"), set: { no_such_knob: 1 }, intervalMs: 1000 }, noHandlers);
    await expect(loader.start()).rejects.toThrow(/ppbpf (set|args) failed.*no_such_knob/);
  });

  it("streams READY then an INTERVAL with program run-time stats, and exits when its stdin closes", async () => {
    const child = spawn(ppbpf, ["--object", object("process_exec"), "--ringbuf", "events", "--interval-ms", "200"], { stdio: ["pipe", "pipe", "pipe"] });
    const reader = new FrameReader();
    const types: number[] = [];
    let interval: { programs: { runCount: number }[]; rssKb: number } | null = null;
    child.stdout.on("data", (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        types.push(f.type);
        if (f.type === FrameType.INTERVAL && types.filter((t) => t === FrameType.INTERVAL).length === 3) interval = JSON.parse(f.payload.toString());
      }
    });
    execFileSync("/bin/true"); // an exec for the program to run on
    await waitFor(async () => interval ?? undefined, { what: "three INTERVAL frames" });
    expect(types[0]).toBe(FrameType.READY);
    expect(interval!.rssKb).toBeGreaterThan(0);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const closedAt = Date.now();
    child.stdin.end(); // the agent died: the loader must not outlive it
    expect(await exited).toBe(0);
    expect(Date.now() - closedAt).toBeLessThan(2000);
  });
});

describeKernel("probe supervision", () => {
  it("a probe whose loader is killed is reported failed, then restarted with backoff and running again", async () => {
    const capabilities = await detectCapabilities();
    const catalog = new ProbeCatalog({ bpfDir, capabilities });
    expect(await catalog.unsupportedReason("process_exec")).toBeNull();
    const statuses: ProbeStatus[] = [];
    let restarts = 0;
    const log = pino({ level: "silent" });
    const supervisor = new ProbeSupervisor(
      { kind: "process_exec", version: "v1", specHash: "v1", params: {} },
      catalog.factory("process_exec"),
      { emit: () => {}, reportError: () => {}, log },
      (s) => statuses.push(s),
      () => restarts++,
      log,
    );
    try {
      await supervisor.start();
      expect(supervisor.status.state).toBe("running");
      const loaderPid = loaderChildOf(process.pid, "process_exec.bpf.o");
      process.kill(loaderPid, "SIGKILL");
      const failed = await waitFor(async () => statuses.find((s) => s.state === "failed"), { what: "failed status" });
      expect(failed.error).toMatch(/ppbpf killed by SIGKILL while running/);
      await waitFor(async () => (supervisor.status.state === "running" && restarts === 1 ? true : undefined), { what: "running again after one restart", timeoutMs: 10_000 });
      expect(supervisor.status.restarts).toBe(1);
      expect(loaderChildOf(process.pid, "process_exec.bpf.o")).not.toBe(loaderPid);
    } finally {
      await supervisor.stop();
    }
    expect(supervisor.status.state).toBe("stopped");
  });
});

/** The pid of this process's ppbpf child loading `objectName` (from /proc). */
function loaderChildOf(parent: number, objectName: string): number {
  const out = execFileSync("pgrep", ["-P", String(parent), "-f", objectName], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  if (out.length !== 1) throw new Error(`expected one ppbpf child loading ${objectName}, found ${out.length}`);
  return Number(out[0]);
}
