import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable } from "../table.ts";
import { iso, timeRange } from "../time.ts";
import { positiveInt } from "./events.ts";

/** Stacks the human view shows without `--limit`; the API sums the rest into "(other)". */
const DEFAULT_TOP = 20;
/** Widest stack cell: the leaf-most frames that fit are kept, the root side is cut. */
const STACK_WIDTH = 100;

/**
 * `profile [--agent ID | --selector S] [--pid N] [--comm C] [--since 15m | --from T --to T]
 * [--limit N] [--folded | --json]`: the CPU profile merged over the range. For
 * people: the total and the top stacks with their share; `--folded` prints
 * `stack count` lines as flamegraph.pl and speedscope read them (all stacks, or
 * the `--limit` most frequent plus one "(other)" line with the rest, so the total
 * stays right); `--json` prints the `telemetry.profile` result.
 */
export async function profile(ctx: CommandContext): Promise<void> {
  const folded = ctx.flags.folded !== undefined;
  if (folded && ctx.json) throw new UsageError("give --folded or --json, not both");
  if (ctx.flags.agent !== undefined && ctx.flags.selector !== undefined) throw new UsageError("give --agent (one agent) or --selector (a set of agents), not both");
  const { from, to } = timeRange(ctx, "15m");
  const pid = ctx.flags.pid === undefined ? undefined : pidOf(ctx.flags.pid);
  const limit = positiveInt(ctx.flags.limit, "--limit") ?? (folded || ctx.json ? undefined : DEFAULT_TOP);

  const result = await ctx.api.telemetry.profile.query({ agentId: ctx.flags.agent, agentSelector: ctx.flags.selector, from, to, pid, comm: ctx.flags.comm, limit });
  if (ctx.json) return ctx.print(result);
  if (folded) {
    if (result.stacks.length > 0) ctx.out(result.stacks.map((s) => `${s.stack} ${s.count}`).join("\n"));
    return;
  }

  const header = [
    "cpu profile",
    ctx.flags.agent && `agent ${ctx.flags.agent}`,
    ctx.flags.selector && `agents "${ctx.flags.selector}"`,
    pid !== undefined && `pid ${pid}`,
    ctx.flags.comm && `comm ${ctx.flags.comm}`,
    `${iso(from)} → ${iso(to)}`,
  ]
    .filter(Boolean)
    .join(" · ");
  if (result.total === 0) return ctx.out(`${header}\n\nno samples in this range; widen it with --since or check the agent runs the cpu_profile probe (\`probepilot agents get ID\`)`);
  const shown = result.stacks.filter((s) => !(result.truncated && s === result.stacks[result.stacks.length - 1]));
  const rows = shown.map((s) => [String(s.count), percent(s.count, result.total), leafFrames(s.stack)]);
  if (result.truncated) {
    const other = result.stacks[result.stacks.length - 1]!;
    const others = result.distinct - shown.length;
    rows.push([String(other.count), percent(other.count, result.total), `(${others} other stack${others === 1 ? "" : "s"})`]);
  }
  const table = renderTable(["SAMPLES", "%", "STACK (root;…;leaf)"], rows, STACK_WIDTH + 1);
  const hint = result.truncated ? "; --limit N shows more, --folded prints them for a flame graph" : "";
  ctx.out(`${header}\n${result.total} samples · ${result.distinct} distinct stack(s)\n\n${table}\n\ntop ${shown.length} of ${result.distinct} stack(s)${hint}`);
}

/** A folded stack cut to at most `width` characters from the root side: `…;serve;read` keeps the leaf, where the time is spent. */
export function leafFrames(stack: string, width = STACK_WIDTH): string {
  if (stack.length <= width) return stack;
  const frames = stack.split(";");
  let kept = frames[frames.length - 1]!;
  if (kept.length + 2 > width) return `…${kept.slice(kept.length - width + 1)}`;
  for (let i = frames.length - 2; i >= 0; i--) {
    const next = `${frames[i]};${kept}`;
    if (next.length + 2 > width) break;
    kept = next;
  }
  return `…;${kept}`;
}

function percent(count: number, total: number): string {
  return `${((count / total) * 100).toFixed(1)}%`;
}

function pidOf(text: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) throw new UsageError(`--pid "${text}": expected a process id (a whole number)`);
  return Number(text);
}
