import { AGENT_STATUSES, parseLabelAssignment, validateLabelKey, LabelError, type AgentStatus, type ProbeStatus } from "@probepilot/shared";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable, ago, formatLabels } from "../table.ts";

/** `agents list [--selector S] [--status S] [--limit N] [--cursor C]` */
export async function agentsList(ctx: CommandContext): Promise<void> {
  const status = ctx.flags.status as AgentStatus | undefined;
  if (status !== undefined && !AGENT_STATUSES.includes(status)) throw new UsageError(`--status must be one of ${AGENT_STATUSES.join(", ")}, not "${status}"`);
  const page = await ctx.api.agents.list.query({
    selector: ctx.flags.selector,
    status,
    limit: ctx.flags.limit ? Number(ctx.flags.limit) : 100,
    cursor: ctx.flags.cursor,
  });
  if (ctx.json) return ctx.print(page);
  if (page.items.length === 0) return ctx.out(ctx.flags.selector ? `no agents match "${ctx.flags.selector}"` : "no agents yet: start one with `probepilot-agent --enroll-token …` (npm start runs a local one)");
  ctx.out(
    renderTable(
      ["ID", "HOSTNAME", "STATUS", "LAST SEEN", "KERNEL", "ARCH", "PROBES", "LABELS"],
      page.items.map((a) => [
        a.id,
        a.hostname,
        a.status,
        ago(a.lastSeenAt),
        a.kernel,
        a.arch,
        probeStateCounts(a.probes) || "-",
        formatLabels(a.labels, { hideHostFacts: true }) || "-",
      ]),
    ),
  );
  const more = page.nextCursor ? `; next page: --cursor ${page.nextCursor}` : "";
  ctx.out(`\n${page.items.length} of ${page.total} agent(s)${more}`);
}

/** `agents get ID` */
export async function agentsGet(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "agent id");
  const a = await ctx.api.agents.get.query({ id });
  if (ctx.json) return ctx.print(a);
  const caps = a.capabilities;
  const check = (ok: boolean, reason?: string) => (ok ? "yes" : `no${reason ? ` (${reason})` : ""}`);
  ctx.out(
    [
      `id:            ${a.id}`,
      `hostname:      ${a.hostname}`,
      `status:        ${a.status} (last seen ${ago(a.lastSeenAt)}, heartbeat every ${a.heartbeatIntervalSec}s)`,
      `agent version: ${a.agentVersion}`,
      `os / kernel:   ${a.os} / ${a.kernel} (${a.arch})`,
      `first seen:    ${new Date(a.firstSeenAt).toISOString()}`,
      `labels:        ${formatLabels(a.labels) || "-"}`,
      `  central:     ${formatLabels(a.centralLabels) || "-"}`,
      `capabilities:`,
      `  BTF:         ${check(caps.btf)}`,
      `  bpf():       ${check(caps.bpfSyscall.permitted, caps.bpfSyscall.reason)}`,
      `  tracepoints: ${check(caps.tracepoints.available, caps.tracepoints.reason)}`,
      `  perf events: ${check(caps.perfEvents.available, caps.perfEvents.reason)}`,
      `  kprobes:     ${check(caps.kprobes.available, caps.kprobes.reason)}`,
      `telemetry:     ${a.telemetry ? `${a.telemetry.spooledBatches} batch(es) / ${a.telemetry.spooledBytes} bytes spooled, ${a.telemetry.droppedBatches} dropped past the spool bound` : "-"}`,
      `probes:`,
      ...(a.probes.length === 0
        ? ["  (none)"]
        : a.probes.map((p) => `  ${p.kind} ${p.version}: ${probeHealth(p)}${p.error ? ` — ${p.error}` : ""}${p.reason ? ` — ${p.reason}` : ""}`)),
    ].join("\n"),
  );
}

/**
 * A probe's state with what it costs its host, when the agent reports it:
 * `running · 2 restarts · kernel 0.12% cpu · loader 0.3% cpu, 6.1 MB`.
 */
export function probeHealth(p: Pick<ProbeStatus, "state" | "restarts" | "cost">): string {
  const parts: string[] = [p.state];
  if (p.restarts) parts.push(`${p.restarts} restart${p.restarts === 1 ? "" : "s"}`);
  if (p.cost) parts.push(`kernel ${cpuPercent(p.cost.kernelCpuPercent)} cpu`, `loader ${cpuPercent(p.cost.loaderCpuPercent)} cpu, ${bytes(p.cost.loaderRssBytes)}`);
  return parts.join(" · ");
}

/** Two decimals at most, trailing zeros dropped; a cost too small for them is "<0.01%", not "0%". */
function cpuPercent(v: number): string {
  return v > 0 && v < 0.005 ? "<0.01%" : `${Number(v.toFixed(2))}%`;
}

/** Decimal units, one decimal: 6.1 MB. */
function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${Number(v.toFixed(1))} ${units[i]}`;
}

/** `agents label ID k=v… k-…`: set central labels; `k-` removes one (as in kubectl). */
export async function agentsLabel(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "agent id");
  const changes = ctx.args.slice(1);
  if (changes.length === 0) throw new UsageError("give at least one k=v to set or k- to remove");
  const labels: Record<string, string | null> = {};
  for (const change of changes) {
    if (change.endsWith("-") && !change.includes("=")) {
      const key = change.slice(0, -1);
      const problem = validateLabelKey(key);
      if (problem) throw new LabelError(problem);
      labels[key] = null;
    } else {
      const { key, value } = parseLabelAssignment(change);
      labels[key] = value;
    }
  }
  const a = await ctx.api.agents.setLabels.mutate({ id, labels });
  if (ctx.json) return ctx.print(a);
  ctx.out(`${a.id} labels: ${formatLabels(a.labels)}`);
}

/** "9 running, 1 failed": an agent runs about ten probes by default, too many to list in a row. */
export function probeStateCounts(probes: readonly { state: string }[]): string {
  const counts = new Map<string, number>();
  for (const p of probes) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(", ");
}

/** `agents revoke ID`: cut the agent off NATS for good (admin). */
export async function agentsRevoke(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "agent id");
  const a = await ctx.api.agents.revoke.mutate({ id });
  if (ctx.json) return ctx.print(a);
  ctx.out(`revoked ${a.id} (${a.hostname}) at ${a.revokedAt ? new Date(a.revokedAt).toISOString() : "now"}: NATS has closed its connections and refuses its key; rollouts count it as gone`);
}
