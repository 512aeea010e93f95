import {
  FAILURE_POLICIES,
  ROLLOUT_AGENT_STATES,
  ROLLOUT_STATES,
  parseWaves,
  type FailurePolicy,
  type RolloutAgentState,
  type RolloutState,
  type RolloutStrategyInput,
  type RolloutView,
  type Wave,
} from "@probepilot/shared";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { parseDurationSec } from "../duration.ts";
import { iso } from "../time.ts";
import {
  FINAL_ROLLOUT_STATES,
  paint,
  renderHistory,
  renderPreview,
  renderRolloutAgents,
  renderRolloutList,
  renderRolloutStatus,
  renderStateLine,
  renderWatchLine,
} from "../rollout-format.ts";

/**
 * `probepilot rollout preview|create|list|status|history|pause|resume|promote|abort|rollback`:
 * stage a probe version over the agents a selector matches, wave by wave, and
 * follow it. `status --watch` exits 0 when the rollout completes and 1 when it
 * is rolled back or aborted, so scripts and CI can wait on it.
 */

const SELECTOR_EXAMPLE = "--selector 'env=staging,region in (eu,us)'";

/** A rollout that ended without completing (`status --watch` exits 1 with this message). */
export class RolloutEndedError extends Error {
  override readonly name = "RolloutEndedError";
}

// ---------------------------------------------------------------------------
// Flags

/** `tcp_flows`, `tcp_flows@v3`, `tcp_flows@3` or a `prb_…` id → the probe and, if given, the version. */
export function parseProbeRef(text: string): { probe: string; version?: number } {
  const match = /^([^@\s]+)(?:@v?(\d+))?$/.exec(text.trim());
  const version = match?.[2] === undefined ? undefined : Number(match[2]);
  if (!match || version === 0) throw new UsageError(`probe "${text}": expected a probe name or id with an optional version, such as tcp_flows or tcp_flows@v3`);
  return version === undefined ? { probe: match[1]! } : { probe: match[1]!, version };
}

/** `95%` or `95` → 95 (a share from 0 to 100). */
export function parsePercentFlag(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const value = match ? Number(match[1]) : NaN;
  if (!(value >= 0 && value <= 100)) throw new UsageError(`${flag} "${text}": expected a percentage from 0 to 100, such as ${flag} 95%`);
  return value;
}

/** `--waves 1%,10%,50%,100%` (percentages of the matching agents, or numbers of agents). */
export function parseWavesFlag(text: string): Wave[] {
  try {
    return parseWaves(text);
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}; for example --waves 1%,10%,50%,100% or --waves 5,50,100%`);
  }
}

/** A duration flag that may be zero (`--bake 0` moves on as soon as a gate passes). */
function parseDurationOrZero(text: string, flag: string): number {
  return /^0+(\.0+)?[smhdw]?$/.test(text.trim()) ? 0 : parseDurationSec(text, flag);
}

/** `--wave 2` → the wave's index (waves are numbered from 1 on the command line, from 0 in the API). */
export function parseWaveFlag(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new UsageError(`--wave "${text}": expected a wave number from 1, such as --wave 1 for the canary`);
  return Number(text) - 1;
}

function parseChoice<T extends string>(text: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${flag} must be one of ${choices.join(", ")} (got "${text}")`);
  return text as T;
}

function parseLimit(text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--limit "${text}": expected a whole number from 1 to ${max}`);
  return n;
}

/**
 * The strategy the flags ask for; only what was given, so the server's defaults
 * (waves 1%,10%,50%,100%, bake 60s, gate 95% within 5m, ≤5% failed, rollback) fill the rest.
 */
export function strategyFromFlags(flags: Record<string, string | undefined>): RolloutStrategyInput | undefined {
  const strategy: RolloutStrategyInput = {};
  const gate: NonNullable<RolloutStrategyInput["gate"]> = {};
  if (flags.waves !== undefined) strategy.waves = parseWavesFlag(flags.waves);
  if (flags.bake !== undefined) strategy.bakeSeconds = parseDurationOrZero(flags.bake, "--bake");
  if (flags["on-failure"] !== undefined) strategy.onFailure = parseChoice<FailurePolicy>(flags["on-failure"], FAILURE_POLICIES, "--on-failure");
  if (flags["gate-timeout"] !== undefined) gate.timeoutSeconds = parseDurationSec(flags["gate-timeout"], "--gate-timeout");
  if (flags["min-healthy"] !== undefined) gate.minHealthyPercent = parsePercentFlag(flags["min-healthy"], "--min-healthy");
  if (flags["max-failed"] !== undefined) gate.maxFailedPercent = parsePercentFlag(flags["max-failed"], "--max-failed");
  if (flags["max-cpu"] !== undefined) {
    gate.maxProbeCpuPercent = parsePercentFlag(flags["max-cpu"], "--max-cpu");
    if (gate.maxProbeCpuPercent === 0) throw new UsageError(`--max-cpu must be above 0% of a core, such as --max-cpu 2%`);
  }
  if (Object.keys(gate).length > 0) strategy.gate = gate;
  return Object.keys(strategy).length > 0 ? strategy : undefined;
}

function requireSelector(ctx: CommandContext, command: string): string {
  const selector = ctx.flags.selector;
  if (selector === undefined) throw new UsageError(`"rollout ${command}" needs --selector: the agents to stage the probe on, such as ${SELECTOR_EXAMPLE}`);
  return selector;
}

const PROBE_ARG = "probe (a name or id with an optional version: tcp_flows or tcp_flows@v3)";

/**
 * How to print: colors only on a terminal (`NO_COLOR` turns them off, `FORCE_COLOR`
 * on), redraws only on a terminal, bars as wide as it.
 */
function terminal(ctx: CommandContext): { tty: boolean; color: boolean; columns: number | undefined; rows: number | undefined } {
  const tty = process.stdout.isTTY === true;
  const { NO_COLOR, FORCE_COLOR, TERM } = ctx.env;
  const color = NO_COLOR ? false : FORCE_COLOR !== undefined && FORCE_COLOR !== "0" ? true : tty && TERM !== "dumb";
  return { tty, color, columns: tty ? process.stdout.columns : undefined, rows: tty ? process.stdout.rows : undefined };
}

// ---------------------------------------------------------------------------
// Commands

/** `rollout preview PROBE[@vN] --selector S [--waves …]`: the agents each wave would admit, nothing changed. */
export async function rolloutPreview(ctx: CommandContext): Promise<void> {
  const ref = parseProbeRef(ctx.requireArg(0, PROBE_ARG));
  const selector = requireSelector(ctx, "preview");
  const waves = ctx.flags.waves === undefined ? undefined : parseWavesFlag(ctx.flags.waves);
  const preview = await ctx.api.rollouts.preview.query({ ...ref, selector, ...(waves ? { waves } : {}) });
  if (ctx.json) return ctx.print(preview);
  ctx.out(renderPreview(preview));
  if (!preview.blockedBy) ctx.out(`\nnothing changed; \`probepilot rollout create ${ctx.args[0]} --selector '${selector}'${ctx.flags.waves ? ` --waves ${ctx.flags.waves}` : ""}\` starts it`);
}

/**
 * `rollout create PROBE[@vN] --selector S [strategy flags] [--watch]`: previews,
 * then creates with the preview's rollout id and version, so the wave counts
 * printed are the ones that apply.
 */
export async function rolloutCreate(ctx: CommandContext): Promise<void> {
  const ref = parseProbeRef(ctx.requireArg(0, PROBE_ARG));
  const selector = requireSelector(ctx, "create");
  const strategy = strategyFromFlags(ctx.flags);
  const preview = await ctx.api.rollouts.preview.query({ ...ref, selector, ...(strategy?.waves ? { waves: strategy.waves } : {}) });
  if (!ctx.json) ctx.out(`${renderPreview(preview)}\n`);
  if (preview.blockedBy) throw new Error(`not created: ${preview.probe.kind} is already being rolled out by ${preview.blockedBy}; wait for it to end or abort it (\`probepilot rollout abort ${preview.blockedBy}\`)`);
  const view = await ctx.api.rollouts.create.mutate({
    probe: ref.probe,
    version: preview.probe.version,
    selector,
    rolloutId: preview.rolloutId,
    ...(strategy ? { strategy } : {}),
  });
  if (ctx.json && !ctx.flags.watch) return ctx.print({ preview, rollout: view });
  if (!ctx.json) {
    const { color } = terminal(ctx);
    ctx.out(`created ${paint(color).bold(view.id)}: ${renderStateLine(view, { color, now: Date.now() })}`);
    if (!ctx.flags.watch) ctx.out(`follow it: probepilot rollout status ${view.id} --watch`);
    else ctx.out("");
  }
  if (ctx.flags.watch) return follow(ctx, view.id);
}

/** `rollout list [--state S] [--limit N]`: newest first. */
export async function rolloutList(ctx: CommandContext): Promise<void> {
  const state = ctx.flags.state === undefined ? undefined : parseChoice<RolloutState>(ctx.flags.state, ROLLOUT_STATES, "--state");
  const limit = parseLimit(ctx.flags.limit, 500);
  const views = await ctx.api.rollouts.list.query({ ...(state ? { state } : {}), ...(limit ? { limit } : {}) });
  if (ctx.json) return ctx.print(views);
  if (views.length === 0 && state) return ctx.out(`no ${state} rollouts`);
  ctx.out(renderRolloutList(views));
}

/**
 * `rollout status ID [--watch] [--agents] [--state S] [--wave N] [--limit N] [--cursor C]`:
 * the rollout (and, with `--agents`, `--state` or `--wave`, its agents).
 */
export async function rolloutStatus(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "rollout id");
  const state = ctx.flags.state === undefined ? undefined : parseChoice<RolloutAgentState>(ctx.flags.state, ROLLOUT_AGENT_STATES, "--state");
  const wave = ctx.flags.wave === undefined ? undefined : parseWaveFlag(ctx.flags.wave);
  const limit = parseLimit(ctx.flags.limit, 1000);
  const withAgents = Boolean(ctx.flags.agents) || state !== undefined || wave !== undefined;
  if (ctx.flags.watch) {
    if (withAgents) throw new UsageError("--watch follows the rollout itself; list its agents without it: probepilot rollout status ID --agents --state failed");
    return follow(ctx, id);
  }
  const [view, page] = await Promise.all([
    ctx.api.rollouts.get.query({ id }),
    withAgents ? ctx.api.rollouts.agents.query({ id, ...(state ? { state } : {}), ...(wave !== undefined ? { wave } : {}), ...(limit ? { limit } : {}), ...(ctx.flags.cursor ? { cursor: ctx.flags.cursor } : {}) }) : undefined,
  ]);
  if (ctx.json) return ctx.print(page ? { rollout: view, agents: page.items, nextCursor: page.nextCursor } : view);
  const term = terminal(ctx);
  const now = Date.now();
  ctx.out(renderRolloutStatus(view, { color: term.color, now, ...(term.columns ? { width: term.columns } : {}) }));
  if (page) {
    const filter = [state && `state ${state}`, wave !== undefined && `wave ${wave + 1}`].filter(Boolean).join(", ");
    ctx.out(`\nagents${filter ? ` (${filter})` : ""}\n${renderRolloutAgents(page.items, now)}`);
    if (page.nextCursor) ctx.out(`\nmore: --cursor ${page.nextCursor}`);
  }
}

/** `rollout history ID`: who did what when (the audit trail), oldest first. */
export async function rolloutHistory(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "rollout id");
  const limit = parseLimit(ctx.flags.limit, 5000);
  const entries = await ctx.api.rollouts.history.query({ id, ...(limit ? { limit } : {}) });
  if (ctx.json) return ctx.print(entries);
  ctx.out(renderHistory(entries));
}

type Action = "pause" | "resume" | "promote" | "abort" | "rollback";

const ACTION_HINT: Partial<Record<RolloutState, (id: string) => string>> = {
  paused: (id) => `\`probepilot rollout resume ${id}\` goes on, \`probepilot rollout rollback ${id}\` undoes it`,
  running: (id) => `follow it: probepilot rollout status ${id} --watch`,
  rolling_back: (id) => `follow it: probepilot rollout status ${id} --watch`,
};

/** `rollout pause|resume|promote|abort|rollback ID [--reason TEXT]`: prints the new state. */
function action(name: Action) {
  return async (ctx: CommandContext): Promise<void> => {
    const id = ctx.requireArg(0, "rollout id");
    const input = { id, ...(ctx.flags.reason ? { reason: ctx.flags.reason } : {}) };
    const calls: Record<Action, () => Promise<RolloutView>> = {
      pause: () => ctx.api.rollouts.pause.mutate(input),
      resume: () => ctx.api.rollouts.resume.mutate(input),
      promote: () => ctx.api.rollouts.promote.mutate(input),
      abort: () => ctx.api.rollouts.abort.mutate(input),
      rollback: () => ctx.api.rollouts.rollback.mutate(input),
    };
    const view = await calls[name]();
    if (ctx.json) return ctx.print(view);
    const { color } = terminal(ctx);
    ctx.out(`${view.id}  ${renderStateLine(view, { color, now: Date.now() })}`);
    const hint = ACTION_HINT[view.state];
    if (hint) ctx.out(hint(view.id));
  };
}

// ---------------------------------------------------------------------------
// --watch

/** Cursor to the start of the line `n` lines up, then clear to the end of the screen. */
const eraseLines = (n: number) => (n > 0 ? `\x1b[${n}F\x1b[0J` : "");

/**
 * Follows a rollout through `rollouts.watch` until it reaches a final state,
 * Ctrl-C or `ctx.signal`. On a terminal the status frame is redrawn in place
 * (and every second, so countdowns tick); otherwise one line per change; with
 * `--json` one JSON view per line. A rollout rolled back or aborted ends with a
 * {@link RolloutEndedError} (exit code 1); completed or stopped returns (exit 0).
 */
async function follow(ctx: CommandContext, id: string): Promise<void> {
  // A plain read first: a wrong id fails here with the API's message, where the
  // subscription link would keep reconnecting on an error it deems retryable.
  await ctx.api.rollouts.get.query({ id });
  const term = terminal(ctx);
  let last: RolloutView | undefined;
  let lastJson = "";
  let frameLines = 0;
  /** Why the subscription is reconnecting (shown until the next view arrives). */
  let reconnecting: string | null = null;

  const draw = (view: RolloutView, tick = false) => {
    const json = JSON.stringify(view);
    if (!tick && json === lastJson) return;
    lastJson = json;
    if (ctx.json) return ctx.out(json);
    const now = Date.now();
    if (!term.tty) return ctx.out(renderWatchLine(view, now));
    const width = term.columns ? term.columns - 1 : undefined;
    const final = FINAL_ROLLOUT_STATES.includes(view.state);
    const footer = final ? "" : reconnecting ? paint(term.color).yellow(`reconnecting: ${reconnecting}`) : paint(term.color).dim("watching · Ctrl-C stops (the rollout goes on)");
    let frame = `${renderRolloutStatus(view, { color: term.color, now, ...(width ? { width } : {}) })}${footer ? `\n\n${footer}` : ""}`;
    // The cursor cannot move above the top of the screen: a frame taller than the
    // terminal could not be erased, so it loses its last lines instead.
    const lines = frame.split("\n");
    if (term.rows && lines.length > term.rows - 1) frame = [...lines.slice(0, term.rows - 2), paint(term.color).dim("… (taller than the terminal)")].join("\n");
    ctx.out(`${eraseLines(frameLines)}${frame}`);
    frameLines = frame.split("\n").length;
  };

  let cleanup = () => {};
  const outcome = await new Promise<{ kind: "final" | "stopped" | "closed"; view?: RolloutView }>((resolve, reject) => {
    const sub = ctx.api.rollouts.watch.subscribe(
      { id },
      {
        onData: (view) => {
          last = view;
          reconnecting = null;
          draw(view);
          if (FINAL_ROLLOUT_STATES.includes(view.state)) resolve({ kind: "final", view });
        },
        onError: (err) => reject(err),
        onConnectionStateChange: (state) => {
          const why = state.state === "connecting" && state.error ? state.error.message : null;
          if (why === reconnecting) return;
          reconnecting = why;
          if (!why || ctx.json) return;
          if (!term.tty) ctx.out(`${iso(Date.now())}  ${id}  reconnecting: ${why}`);
          else if (last) draw(last, true);
        },
        onComplete: () => resolve({ kind: "closed", ...(last ? { view: last } : {}) }),
      },
    );
    const stop = () => resolve({ kind: "stopped" });
    // Countdowns ("times out in 4m12s") tick between updates.
    const ticker = term.tty && !ctx.json ? setInterval(() => last && draw(last, true), 1000) : undefined;
    process.once("SIGINT", stop);
    if (ctx.signal?.aborted) stop();
    ctx.signal?.addEventListener("abort", stop, { once: true });
    cleanup = () => {
      sub.unsubscribe();
      if (ticker) clearInterval(ticker);
      process.off("SIGINT", stop);
      ctx.signal?.removeEventListener("abort", stop);
    };
  }).finally(() => cleanup());

  if (outcome.kind === "stopped") return;
  const view = outcome.view;
  if (outcome.kind === "closed") {
    throw new Error(`the control plane closed the watch of ${id} before the rollout ended${view ? ` (last seen ${view.state})` : ""}; \`probepilot rollout status ${id} --watch\` follows it again`);
  }
  if (view && view.state !== "completed") {
    throw new RolloutEndedError(`rollout ${id} ${renderStateLine(view, { color: false, now: Date.now() })}`);
  }
}

/** `rollout` alone, or an unknown subcommand: say which exist. */
async function rolloutHelp(ctx: CommandContext): Promise<void> {
  const sub = ctx.args[0];
  throw new UsageError(`${sub ? `unknown rollout command "${sub}"` : '"rollout" needs a command'}: preview, create, list, status, history, pause, resume, promote, abort or rollback (probepilot --help shows their flags)`);
}

/** The `rollout …` commands, for the CLI's command table. */
export const ROLLOUT_COMMANDS: Record<string, (ctx: CommandContext) => Promise<void>> = {
  rollout: rolloutHelp,
  "rollout preview": rolloutPreview,
  "rollout create": rolloutCreate,
  "rollout list": rolloutList,
  "rollout status": rolloutStatus,
  "rollout history": rolloutHistory,
  "rollout pause": action("pause"),
  "rollout resume": action("resume"),
  "rollout promote": action("promote"),
  "rollout abort": action("abort"),
  "rollout rollback": action("rollback"),
};
