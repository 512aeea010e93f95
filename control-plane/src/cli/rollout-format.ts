import {
  ROLLOUT_AGENT_STATE_ORDER,
  countsTotal,
  describeRunningPhase,
  formatHealthyPercent,
  formatPercent,
  formatWave,
  healthyCount,
  secondsBetween,
  secondsUntil,
  waveOfTotal,
  waveStateValues,
  type RolloutAgentCounts,
  type RolloutAgentState,
  type RolloutAgentView,
  type RolloutPreview,
  type RolloutState,
  type RolloutView,
  type RolloutWaveView,
  type Stratum,
} from "@probepilot/shared";
import { ago, renderTable } from "./table.ts";
import { iso } from "./time.ts";

/**
 * What `probepilot rollout …` prints for people: pure functions of the API's views
 * (and of `now`, for countdowns and "ago"), so that a frame is the same whether it
 * is printed once, redrawn by `status --watch`, or asserted in a test.
 */

// ---------------------------------------------------------------------------
// Terminal styling

const SGR = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  magenta: [35, 39],
  cyan: [36, 39],
} as const;
export type Style = keyof typeof SGR;
export type Paint = Record<Style, (text: string) => string>;

/** ANSI styles, or identity functions when `color` is off (not a TTY, `NO_COLOR`). */
export function paint(color: boolean): Paint {
  const entries = Object.entries(SGR).map(([name, [on, off]]) => [name, (text: string) => (color && text !== "" ? `\x1b[${on}m${text}\x1b[${off}m` : text)]);
  return Object.fromEntries(entries) as Paint;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Text without its ANSI escapes. */
export const stripAnsi = (text: string) => text.replace(ANSI, "");

/** Columns a line takes on a terminal (escapes take none; every character here is one column). */
export const visibleWidth = (text: string) => Array.from(stripAnsi(text)).length;

const padEnd = (text: string, width: number) => text + " ".repeat(Math.max(0, width - visibleWidth(text)));
const padStart = (text: string, width: number) => " ".repeat(Math.max(0, width - visibleWidth(text))) + text;

/**
 * Cuts a line to `width` columns with an ellipsis, keeping its escapes (and
 * resetting the style after a cut), so a redrawn frame never wraps: a wrapped
 * line would throw off the cursor moves that erase the previous frame.
 */
export function fitLine(line: string, width: number): string {
  if (visibleWidth(line) <= width) return line;
  let out = "";
  let used = 0;
  let styled = false;
  for (const token of line.split(/(\x1b\[[0-9;?]*[A-Za-z])/)) {
    if (token.startsWith("\x1b[")) {
      out += token;
      styled = true;
      continue;
    }
    for (const ch of Array.from(token)) {
      if (used === width - 1) return `${out}…${styled ? "\x1b[0m" : ""}`;
      out += ch;
      used++;
    }
  }
  return out;
}

/**
 * Word-wraps a line to `width` columns, continuing with `indent` spaces (a word
 * longer than a line is cut by {@link fitLine}).
 */
export function wrapLine(line: string, width: number, indent: number): string[] {
  if (visibleWidth(line) <= width) return [line];
  const lines: string[] = [];
  let current = "";
  for (const word of line.split(" ")) {
    const candidate = current === "" ? word : `${current} ${word}`;
    if (visibleWidth(candidate) <= width || stripAnsi(current).trim() === "") current = candidate;
    else {
      lines.push(current);
      current = `${" ".repeat(indent)}${word}`;
    }
  }
  lines.push(current);
  return lines.map((l) => fitLine(l, width));
}

// ---------------------------------------------------------------------------
// Numbers and durations

/**
 * `45s`, `4m12s`, `5m`, `1h05m`, `2d3h`: a duration for people, two units at most.
 * Seconds are rounded; negative durations show as `0s`.
 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s / 60}m`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return m ? `${Math.floor(s / 3600)}h${String(m).padStart(2, "0")}m` : `${Math.floor(s / 3600)}h`;
  }
  const h = Math.floor((s % 86_400) / 3600);
  return h ? `${Math.floor(s / 86_400)}d${h}h` : `${Math.floor(s / 86_400)}d`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------
// Agent states and progress bars

const AGENT_STATE_STYLE: Record<RolloutAgentState, { glyph: string; style: Style; label: string }> = {
  verified: { glyph: "█", style: "green", label: "verified" },
  applied: { glyph: "▓", style: "green", label: "applied" },
  applying: { glyph: "▒", style: "cyan", label: "applying" },
  failed: { glyph: "╳", style: "red", label: "failed" },
  rolled_back: { glyph: "↺", style: "magenta", label: "rolled back" },
  skipped: { glyph: "░", style: "dim", label: "skipped" },
  pending: { glyph: "·", style: "dim", label: "pending" },
};

/**
 * Splits `width` cells between `values` in proportion, so that the cells add up
 * to exactly `width` and every non-zero value gets at least one cell (one failed
 * agent out of 5,000 must still show). Largest remainders take the spare cells;
 * the cells a minimum costs come from the values most over their share.
 */
export function barSegments(values: readonly number[], width: number): number[] {
  const total = values.reduce((a, b) => a + Math.max(0, b), 0);
  if (total === 0 || width <= 0) return values.map(() => 0);
  const exact = values.map((v) => (Math.max(0, v) * width) / total);
  const cells = exact.map((e, i) => (values[i]! > 0 ? Math.max(1, Math.floor(e)) : 0));
  let spare = width - cells.reduce((a, b) => a + b, 0);
  const argmax = (score: (i: number) => number) => {
    let best = -1;
    for (let i = 0; i < cells.length; i++) if (score(i) > (best < 0 ? -Infinity : score(best))) best = i;
    return best;
  };
  while (spare > 0) {
    const i = argmax((j) => (values[j]! > 0 ? exact[j]! - cells[j]! : -Infinity));
    cells[i]!++;
    spare--;
  }
  while (spare < 0) {
    // More non-zero values than cells can give one each: nothing left to take from.
    const i = argmax((j) => (cells[j]! > 1 ? cells[j]! - exact[j]! : -Infinity));
    if (i < 0 || cells[i]! <= 1) break;
    cells[i]!--;
    spare++;
  }
  return cells;
}

/**
 * A wave's progress bar, one glyph (and color) per agent state; agents the wave
 * admits that have no row yet count as pending. Readable without color: every
 * state has its own glyph.
 */
export function progressBar(counts: RolloutAgentCounts, planned: number, width: number, p: Paint): string {
  const cells = barSegments(waveStateValues(counts, planned), width);
  if (cells.every((c) => c === 0)) return p.dim(AGENT_STATE_STYLE.pending.glyph.repeat(width));
  return ROLLOUT_AGENT_STATE_ORDER.map((s, i) => p[AGENT_STATE_STYLE[s].style](AGENT_STATE_STYLE[s].glyph.repeat(cells[i]!))).join("");
}

/** `verified 5 · applied 23 · failed 2 · pending 7`: the non-zero states, in bar order. */
export function formatCounts(counts: RolloutAgentCounts, p: Paint = paint(false)): string {
  const parts = ROLLOUT_AGENT_STATE_ORDER.filter((s) => counts[s] > 0).map((s) => p[AGENT_STATE_STYLE[s].style](`${AGENT_STATE_STYLE[s].label} ${counts[s]}`));
  return parts.length ? parts.join(" · ") : p.dim("no agents yet");
}

// ---------------------------------------------------------------------------
// Rollout state

const STATE_LABEL: Record<RolloutState, string> = {
  running: "running",
  paused: "paused",
  rolling_back: "rolling back",
  completed: "completed",
  rolled_back: "rolled back",
  aborted: "aborted",
};
const STATE_STYLE: Record<RolloutState, Style> = {
  running: "cyan",
  paused: "yellow",
  rolling_back: "red",
  completed: "green",
  rolled_back: "red",
  aborted: "yellow",
};

/** The states a rollout never leaves. */
export const FINAL_ROLLOUT_STATES: readonly RolloutState[] = ["completed", "rolled_back", "aborted"];

/**
 * Where the rollout is, in words, after its state:
 * `wave 2/4 gate: 87% healthy of 120 (need 95%), times out in 4m12s`,
 * `wave 2/4 baking, next wave in 45s`, `wave 1 gate failed: …` (the reason).
 */
export function describePhase(v: RolloutView, now: number): string {
  switch (v.state) {
    case "running":
      return describeRunningPhase(v, now, formatDuration);
    case "paused":
      return `at ${waveOfTotal(v)}${v.stateReason ? `: ${v.stateReason}` : ""}`;
    case "rolling_back":
      return `${v.stateReason ?? "the version is being removed"} · ${v.totals.rolled_back} agent(s) back so far`;
    case "completed":
      return v.completedAt ? `${ago(v.completedAt, now)}, took ${formatDuration(secondsBetween(v.createdAt, v.completedAt))}` : "";
    case "rolled_back":
    case "aborted":
      return v.stateReason ?? "";
  }
}

/**
 * The state and where it is, in one line: `running · wave 2/4 gate: …`,
 * `rolled back: wave 1 gate failed: …`, `completed 3m ago, took 24m10s`.
 */
export function renderStateLine(v: RolloutView, opts: { color: boolean; now: number }): string {
  const p = paint(opts.color);
  const phase = describePhase(v, opts.now);
  const label = p.bold(p[STATE_STYLE[v.state]](STATE_LABEL[v.state]));
  if (!phase) return label;
  const sep = v.state === "running" ? " · " : v.state === "completed" || v.state === "paused" ? " " : ": ";
  return `${label}${sep}${phase}`;
}

/**
 * One line per change for `status --watch` when stdout is not a terminal (logs, CI):
 * `2026-01-01T12:00:00Z rol_x running · wave 2/4 gate: … | applied 28 · failed 2 · pending 7`.
 */
export function renderWatchLine(v: RolloutView, now: number): string {
  return `${iso(now)}  ${v.id}  ${renderStateLine(v, { color: false, now })}  |  ${formatCounts(v.totals)}`;
}

/** The spec hash's first 12 hex digits (enough to tell versions apart at a glance). */
const shortHash = (hash: string) => hash.replace(/^sha256:/, "").slice(0, 12);

const probeLabel = (probe: RolloutView["probe"]) => `${probe.name} v${probe.version}${probe.kind !== probe.name ? ` (${probe.kind})` : ""}`;

/** `waves 1% → 10% → 50% → 100% · bake 1m · gate ≥95% healthy within 5m, ≤5% failed · on failure: roll back`. */
export function describeStrategy(s: RolloutView["strategy"]): string {
  const guards = [`≤${formatPercent(s.gate.maxFailedPercent)} failed`];
  if (s.gate.maxProbeCpuPercent !== undefined) guards.push(`probe cpu ≤${formatPercent(s.gate.maxProbeCpuPercent)}`);
  return [
    `waves ${s.waves.map(formatWave).join(" → ")}`,
    `bake ${formatDuration(s.bakeSeconds)}`,
    `gate ≥${formatPercent(s.gate.minHealthyPercent)} healthy within ${formatDuration(s.gate.timeoutSeconds)}, ${guards.join(", ")}`,
    `on failure: ${s.onFailure === "rollback" ? "roll back" : "pause"}`,
  ].join(" · ");
}

// ---------------------------------------------------------------------------
// rollout status

const DEFAULT_BAR = 30;
const MIN_BAR = 20;
const MAX_BAR = 50;
const MAX_FAILURES_SHOWN = 5;
const MAX_STRATA_SHOWN = 8;

type WaveRow = { marker: string; label: string; target: string; bar?: string; fraction: string; percent: string; counts: string; timing: string };

function waveMarker(v: RolloutView, w: RolloutWaveView, p: Paint): string {
  if (w.completedAt) return p.green("✓");
  if (w.index !== v.currentWave) return " ";
  if (v.state === "running" || v.state === "paused") return p.bold(p[STATE_STYLE[v.state]]("▸"));
  if (v.state === "completed") return p.green("✓");
  return p.red("✗");
}

function waveTiming(v: RolloutView, w: RolloutWaveView, now: number, p: Paint): string {
  if (w.completedAt && w.startedAt) return p.dim(`done in ${formatDuration(secondsBetween(w.startedAt, w.completedAt))}`);
  if (w.completedAt) return p.dim("done");
  if (!w.startedAt) return "";
  if (w.index === v.currentWave && v.state === "running") {
    if (v.phase === "gate" && v.gateDeadline) return `gate, ${formatDuration(secondsUntil(v.gateDeadline, now))} left`;
    if (v.phase === "bake" && v.bakeEndsAt) return `baking, ${formatDuration(secondsUntil(v.bakeEndsAt, now))} left`;
  }
  return p.dim(`started ${ago(w.startedAt, now)}`);
}

/**
 * The waves as aligned rows: marker (✓ done, ▸ current, ✗ where it failed),
 * wave, target, progress bar, healthy/admitted, counts by state, timing. The bar
 * takes the room the terminal leaves (between {@link MIN_BAR} and {@link MAX_BAR}
 * cells); when even the smallest bar leaves no room for the counts, they go on
 * their own line under it.
 */
function renderWaves(v: RolloutView, now: number, width: number | undefined, p: Paint): string[] {
  const rows: WaveRow[] = v.waves.map((w) => {
    const denominator = Math.max(w.planned, countsTotal(w.counts));
    const healthy = healthyCount(w.counts);
    return {
      marker: waveMarker(v, w, p),
      label: `wave ${w.index + 1}`,
      target: w.target,
      fraction: `${healthy}/${denominator}`,
      percent: denominator ? `${Math.floor((healthy / denominator) * 100)}%` : "-",
      counts: countsTotal(w.counts) || w.startedAt ? formatCounts(w.counts, p) : "",
      timing: waveTiming(v, w, now, p),
    };
  });
  const col = (key: keyof WaveRow) => Math.max(...rows.map((r) => visibleWidth(r[key] ?? "")));
  const w = { label: col("label"), target: col("target"), fraction: col("fraction"), percent: col("percent"), counts: col("counts"), timing: col("timing") };
  // "  ▸ wave 2  10%   " + bar + "  30/37  81%  " + counts + "  " + timing
  const head = 2 + 1 + 1 + w.label + 2 + w.target + 2;
  const mid = 2 + w.fraction + 1 + w.percent;
  const tail = (w.counts ? 2 + w.counts : 0) + (w.timing ? 2 + w.timing : 0);
  let bar = DEFAULT_BAR;
  let split = false;
  if (width !== undefined) {
    const room = width - head - mid - tail;
    if (room >= MIN_BAR) bar = Math.min(room, MAX_BAR);
    else {
      split = w.counts > 0;
      bar = Math.max(MIN_BAR, Math.min(MAX_BAR, width - head - mid - (w.timing ? 2 + w.timing : 0)));
    }
  }
  const lines: string[] = [];
  for (const [i, r] of rows.entries()) {
    const wave = v.waves[i]!;
    const start = `  ${r.marker} ${padEnd(r.label, w.label)}  ${padEnd(r.target, w.target)}  ${progressBar(wave.counts, wave.planned, bar, p)}  ${padStart(r.fraction, w.fraction)} ${padStart(r.percent, w.percent)}`;
    if (split) {
      lines.push(`${start}${r.timing ? `  ${r.timing}` : ""}`.trimEnd());
      if (r.counts) lines.push(`${" ".repeat(head)}${r.counts}`);
    } else {
      lines.push(`${start}${w.counts ? `  ${padEnd(r.counts, w.counts)}` : ""}${r.timing ? `  ${r.timing}` : ""}`.trimEnd());
    }
  }
  // The legend names the glyphs shown; healthy and pending are always there to read the rest by.
  const shown = ROLLOUT_AGENT_STATE_ORDER.filter((s) => s === "verified" || s === "applied" || s === "pending" || v.waves.some((wv) => wv.counts[s] > 0));
  lines.push(`  ${p.dim(shown.map((s) => `${AGENT_STATE_STYLE[s].glyph} ${AGENT_STATE_STYLE[s].label}`).join("  "))}`);
  return lines;
}

const firstLine = (text: string) => text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
const stratumText = (s: Stratum) => `${s.kernel} ${s.arch} ${s.os}`;

/** Membership changes since the start: `joined 2 · relabeled in 1 · relabeled out 1 (dropped the probe)`. */
function membershipText(m: RolloutView["membership"]): string {
  const parts: string[] = [];
  if (m.joined) parts.push(`joined ${m.joined}`);
  if (m.relabeled_in) parts.push(`relabeled in ${m.relabeled_in}`);
  if (m.relabeled_out) parts.push(`relabeled out ${m.relabeled_out} (dropped the probe)`);
  if (m.revoked) parts.push(`revoked ${m.revoked} (gone)`);
  return parts.join(" · ");
}

/**
 * `probepilot rollout status`: what is staged where, the state and why, the
 * health the gate sees, one progress bar per wave, the recent failures and the
 * canary's strata. With `width`, the bars fit the terminal and no line is longer
 * (so `--watch` can redraw the frame in place).
 */
export function renderRolloutStatus(v: RolloutView, opts: { color: boolean; now: number; width?: number }): string {
  const p = paint(opts.color);
  const { now } = opts;
  const inRollout = countsTotal(v.totals);
  const membership = membershipText(v.membership);
  const lines: string[] = [
    `${p.bold(`rollout ${v.id}`)}  ${probeLabel(v.probe)} ${p.dim(`spec ${shortHash(v.probe.specHash)}`)}  on ${p.bold(v.selector || "(all agents)")}`,
    `state     ${renderStateLine(v, opts)}`,
    `strategy  ${describeStrategy(v.strategy)}`,
    `agents    ${v.matching} match · ${inRollout} in the rollout${v.offline ? ` (${p.yellow(`${v.offline} offline`)}, not counted by the gate)` : ""}${membership ? ` · ${membership}` : ""}`,
  ];
  if (v.health.members > 0) {
    const cpu = v.health.meanProbeCpuPercent === null ? "" : ` · probe cpu ${formatPercent(v.health.meanProbeCpuPercent)} of a core (mean)`;
    const failed = v.health.failedPercent > v.strategy.gate.maxFailedPercent ? p.red(`${formatPercent(v.health.failedPercent)} failed`) : `${formatPercent(v.health.failedPercent)} failed`;
    lines.push(`health    ${formatHealthyPercent(v.health.healthyPercent)} healthy · ${failed}${cpu} · of ${plural(v.health.members, "member")}`);
  }
  lines.push(`created   ${ago(v.createdAt, now)} by ${v.createdBy} · updated ${ago(v.updatedAt, now)}`);
  // The heading lines wrap under their value; the rest is cut to the width.
  const heading = opts.width === undefined ? [...lines] : lines.flatMap((l) => wrapLine(l, opts.width!, 10));
  lines.length = 0;
  lines.push("", ...renderWaves(v, now, opts.width, p));

  if (v.recentFailures.length > 0) {
    // After a rollback the failed agents' rows are rolled back (keeping their errors): say which count is which.
    const still = v.totals.failed > 0 ? `${plural(v.totals.failed, "agent")} failed now; \`rollout status ${v.id} --state failed\` lists them` : "the agents that failed have rolled back since";
    lines.push("", `${p.red("recent failures")} ${p.dim(`(${still})`)}`);
    const shown = v.recentFailures.slice(0, MAX_FAILURES_SHOWN);
    const host = Math.max(...shown.map((f) => f.hostname.length));
    const when = Math.max(...shown.map((f) => ago(f.at, now).length));
    for (const f of shown) lines.push(`  ${padStart(ago(f.at, now), when)}  ${padEnd(f.hostname, host)}  ${p.dim(f.agentId)}  ${firstLine(f.error)}`);
  }

  if (v.canary.length > 0) {
    const added = v.canary.filter((c) => !c.byHash).length;
    lines.push("", `canary    ${plural(v.canary.length, "stratum", "strata")} (kernel arch os) in wave 1${added ? `, ${added} added so that every stratum is tried first` : ""}`);
    const shown = v.canary.slice(0, MAX_STRATA_SHOWN);
    const stratumWidth = Math.max(...shown.map((c) => stratumText(c.stratum).length));
    const idWidth = Math.max(...shown.map((c) => c.agentId.length));
    for (const c of shown) lines.push(`  ${padEnd(stratumText(c.stratum), stratumWidth)}  ${padEnd(c.agentId, idWidth)}  ${p.dim(c.byHash ? "by hash" : "added")}`);
    if (v.canary.length > shown.length) lines.push(p.dim(`  … and ${v.canary.length - shown.length} more (--json lists them)`));
  }
  return [...heading, ...(opts.width === undefined ? lines : lines.map((l) => fitLine(l, opts.width!)))].join("\n");
}

// ---------------------------------------------------------------------------
// rollout preview, list, agents, history

/** `probepilot rollout preview` (and the first part of `create`): the agents each wave would admit. */
export function renderPreview(p: RolloutPreview): string {
  const lines = [`rollout ${p.rolloutId} (preview): ${probeLabel(p.probe)} spec ${shortHash(p.probe.specHash)} on ${p.selector || "(all agents)"}`];
  if (p.matching === 0) {
    lines.push(`no agents match "${p.selector}": nothing would be rolled out (\`probepilot agents list --selector '${p.selector}'\` checks the selector)`);
  } else {
    lines.push(`${plural(p.matching, "agent")} match`, "");
    const table = renderTable(
      ["WAVE", "TARGET", "AGENTS", "CUMULATIVE", "SHARE"],
      p.waves.map((w) => [`wave ${w.index + 1}`, w.target, String(w.count), String(w.cumulative), formatPercent((w.cumulative / p.matching) * 100)]),
    );
    lines.push(...table.split("\n").map((l) => `  ${l}`));
    if (p.canary.length > 0) {
      const added = p.canary.filter((c) => !c.byHash);
      lines.push("", `canary: ${plural(p.canary.length, "stratum", "strata")} (kernel arch os)${added.length ? `; wave 1 also takes ${plural(added.length, "agent")} so that every stratum is tried first` : ", all in wave 1 by hash"}`);
      const shown = p.canary.slice(0, MAX_STRATA_SHOWN);
      const stratumWidth = Math.max(...shown.map((c) => stratumText(c.stratum).length));
      for (const c of shown) lines.push(`  ${padEnd(stratumText(c.stratum), stratumWidth)}  ${c.agentId}  ${c.byHash ? "by hash" : "added"}`);
      if (p.canary.length > shown.length) lines.push(`  … and ${p.canary.length - shown.length} more (--json lists them)`);
    }
  }
  if (p.blockedBy) lines.push("", `blocked: ${p.probe.kind} is already being rolled out by ${p.blockedBy}; creating this rollout would be refused until that one ends (\`probepilot rollout status ${p.blockedBy}\`)`);
  return lines.join("\n");
}

/** `probepilot rollout list`: one row per rollout, newest first. */
export function renderRolloutList(views: readonly RolloutView[], now = Date.now()): string {
  if (views.length === 0) return "no rollouts yet: `probepilot rollout preview PROBE --selector S` shows what one would do";
  return renderTable(
    ["ID", "PROBE", "SELECTOR", "STATE", "WAVE", "HEALTHY", "FAILED", "UPDATED"],
    views.map((v) => [
      v.id,
      `${v.probe.name} v${v.probe.version}`,
      v.selector || "(all)",
      STATE_LABEL[v.state],
      v.state === "completed" ? `${v.waves.length}/${v.waves.length}` : `${v.currentWave + 1}/${v.waves.length}${v.state === "running" && v.phase ? ` ${v.phase}` : ""}`,
      `${healthyCount(v.totals)}/${v.matching}`,
      String(v.totals.failed),
      ago(v.updatedAt, now),
    ]),
  );
}

/** `probepilot rollout status ID --agents`: the agents of a rollout with their state and error. */
export function renderRolloutAgents(items: readonly RolloutAgentView[], now = Date.now()): string {
  if (items.length === 0) return "(none)";
  return renderTable(
    ["AGENT", "HOSTNAME", "WAVE", "STATE", "VERSION", "ONLINE", "MEMBERSHIP", "UPDATED", "ERROR"],
    items.map((a) => [
      a.agentId,
      a.hostname,
      a.wave < 0 ? "-" : String(a.wave + 1),
      AGENT_STATE_STYLE[a.state].label,
      `v${a.attemptedVersion}`,
      a.online ? "yes" : "no",
      a.membership.replace("_", " "),
      ago(a.updatedAt, now),
      a.error ? firstLine(a.error) : "-",
    ]),
    100,
  );
}

/**
 * `probepilot rollout history ID`: the audit trail, oldest first. A `wave` detail
 * is the API's wave index; it shows numbered from 1, as everywhere in the CLI.
 */
export function renderHistory(entries: readonly { at: string; actor: string; action: string; details: Record<string, unknown> }[]): string {
  if (entries.length === 0) return "no history recorded";
  const value = (k: string, v: unknown) => (k === "wave" && typeof v === "number" ? String(v + 1) : typeof v === "string" ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v));
  const details = (d: Record<string, unknown>) =>
    Object.entries(d)
      .map(([k, v]) => `${k}=${value(k, v)}`)
      .join(" ");
  return renderTable(
    ["TIME", "ACTOR", "ACTION", "DETAILS"],
    entries.map((e) => [iso(Date.parse(e.at)), e.actor, e.action, details(e.details) || "-"]),
    120,
  );
}
