import { parseLabelAssignment, validateLabelKey, LabelError } from "@probepilot/shared";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable, ago, formatLabels } from "../table.ts";

/** `agents list [--selector S] [--status S] [--limit N] [--cursor C]` */
export async function agentsList(ctx: CommandContext): Promise<void> {
  const status = ctx.flags.status;
  if (status !== undefined && status !== "online" && status !== "offline") throw new UsageError(`--status must be "online" or "offline", not "${status}"`);
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
        a.probes.map((p) => `${p.kind}:${p.state}`).join(",") || "-",
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
        : a.probes.map((p) => `  ${p.kind} ${p.version}: ${p.state}${p.error ? ` — ${p.error}` : ""}${p.reason ? ` — ${p.reason}` : ""}`)),
    ].join("\n"),
  );
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
