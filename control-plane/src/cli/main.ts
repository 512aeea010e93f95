import { parseArgs } from "node:util";
import { LabelError, SelectorSyntaxError } from "@probepilot/shared";
import { createApiClient, describeCallError } from "./client.ts";
import { resolveConnection } from "./credentials.ts";
import { UsageError, type CommandContext } from "./command.ts";
import { agentsGet, agentsLabel, agentsList, agentsRevoke } from "./commands/agents.ts";
import { natsSimulatorCreds } from "./commands/nats.ts";
import { enrollTokensCreate, enrollTokensList, enrollTokensRevoke, tokensCreate, tokensList, tokensRevoke } from "./commands/tokens.ts";
import { login, whoami } from "./commands/session.ts";
import { metrics, query } from "./commands/query.ts";
import { events } from "./commands/events.ts";
import { profile } from "./commands/profile.ts";
import { histogram } from "./commands/histogram.ts";
import { probesCreateVersion, probesList, probesShow } from "./commands/probes.ts";
import { ROLLOUT_COMMANDS } from "./commands/rollout.ts";

export const CLI_USAGE = `usage: probepilot [--url URL] [--token TOKEN] [--json] <command>

  login --token TOKEN [--url URL]          check and save URL and token (~/.config/probepilot/login.json)
  whoami                                   the token's tenant and role
  agents list [--selector S] [--status online|offline] [--limit N] [--cursor C]
  agents get ID                            one agent: labels, capabilities, probes
  agents label ID k=v… [k-…]               set central labels (k- removes one)
  agents revoke ID                         revoke the agent's NATS credentials: disconnected, refused from then on
  tokens create --role viewer|operator|admin [--name N] [--expires-in 30d]
  tokens list | tokens revoke ID
  enroll-tokens create [--description D] [--expires-in 24h] [--max-uses 1000]
  enroll-tokens list | enroll-tokens revoke ID
  nats simulator-creds --out FILE [--ttl 24h]
                                           NATS credentials for the fleet simulator (a test tool)
  query METRIC [--selector S] [--series-selector S] [--since 5m] [--until now]
        [--step 10s] [--agg avg|min|max|sum|count|rate] [--by label,label] [--watch]
                                           a metric over time, per group of --by labels;
                                           --watch keeps it live (Ctrl-C stops)
  metrics [--selector S] [--prefix P]      the stored metrics, their label keys and series
  histogram METRIC [--selector S] [--series-selector S] [--since 1h] [--until now]
        [--step 2m] [--percentiles 50,90,99]
                                           latency percentiles per step and over the range
  events [--name N] [--probe P] [--selector S] [--attr k=v]… [--since 1h] [--until now]
        [--limit 100] [--cursor C]         events (process_exec, tcp_flow, oom_kill…), newest first
  profile [--agent ID | --selector S] [--pid N] [--comm C] [--since 15m] [--until now]
        [--limit N] [--folded]             CPU profile: the top stacks; --folded for flame graphs
  probes list                              the probe catalog with each probe's latest version
  probes show NAME [--version N]           a probe's versions and the parameters of one
  probes create-version NAME [--param k=v]… [--params JSON] [--file spec.json]
                                           a new immutable version (or the one with this spec)
  rollout preview PROBE[@vN] --selector S [--waves 1%,10%,50%,100%]
                                           the agents each wave would take; changes nothing
  rollout create PROBE[@vN] --selector S [--waves …] [--bake 60s] [--gate-timeout 5m]
        [--min-healthy 95%] [--max-failed 5%] [--max-cpu 2%] [--on-failure rollback|pause]
        [--watch]                          preview, then stage the version wave by wave
  rollout list [--state running]           rollouts, newest first
  rollout status ID [--watch] [--agents] [--state failed] [--wave N]
                                           waves, health gate, failures; --watch follows it
  rollout history ID                       who did what when
  rollout pause|resume|promote|abort|rollback ID [--reason TEXT]

  --json   print JSON for tools instead of tables
  tokens create: --expires-in (or --expires) 90s, 15m, 24h, 30d, 2w: the token stops
  working then (its live streams end too); without it the token never expires.
  query: --selector matches agent labels, --series-selector the series' own labels;
  --since/--until take a duration ago (15m), an ISO time or Unix ms; the step
  defaults to a round value giving about 100 points; --by keys are series labels,
  else agent labels.
  histogram, events, profile: --from/--to are the same as --since/--until.
  events: --attr filters on an attribute's exact value (repeatable): a number if
  it reads as one (pid=42), true/false, else a string; --attr 'pid="42"' forces a
  string. --limit above 1000 follows the API's pages.
  profile: --folded prints "stack count" lines for flamegraph.pl or speedscope.
  probes create-version: parameters come from --file (a spec {"kind", "params"} or
  the parameters alone), then --params, then each --param (later ones override);
  a --param value is JSON when it parses (minDurationMs=5, failedOnly=true,
  comm='"123"'), else text (comm=nginx). Left-out parameters take their defaults.
  rollout: waves are shares of the matching agents (10%) or numbers of agents (25);
  --min-healthy/--max-failed/--max-cpu take 95% or 95; --bake/--gate-timeout 90s, 5m,
  1h. status --watch redraws on a terminal, prints a line per change otherwise (one
  JSON view per line with --json) and exits 0 when the rollout completes, 1 when it
  is rolled back or aborted. --wave counts from 1.
  The URL and token come from --url/--token, then PROBEPILOT_URL/PROBEPILOT_TOKEN,
  then the saved login; the URL defaults to http://127.0.0.1:7070.
`;

type Command = (ctx: CommandContext) => Promise<void>;
const COMMANDS: Record<string, Command> = {
  login,
  whoami,
  "agents list": agentsList,
  "agents get": agentsGet,
  "agents label": agentsLabel,
  "agents revoke": agentsRevoke,
  "tokens create": tokensCreate,
  "tokens list": tokensList,
  "tokens revoke": tokensRevoke,
  "enroll-tokens create": enrollTokensCreate,
  "enroll-tokens list": enrollTokensList,
  "enroll-tokens revoke": enrollTokensRevoke,
  "nats simulator-creds": natsSimulatorCreds,
  query,
  metrics,
  histogram,
  events,
  profile,
  "probes list": probesList,
  "probes show": probesShow,
  "probes create-version": probesCreateVersion,
  ...ROLLOUT_COMMANDS,
};

export type CliIo = { stdout: (s: string) => void; stderr: (s: string) => void; env: Record<string, string | undefined>; signal?: AbortSignal };

/** Run the CLI; returns the exit code (0 ok, 1 the call failed, 2 wrong usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        selector: { type: "string", short: "l" },
        status: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
        role: { type: "string" },
        name: { type: "string" },
        description: { type: "string" },
        "expires-in": { type: "string" },
        "max-uses": { type: "string" },
        out: { type: "string" },
        ttl: { type: "string" },
        expires: { type: "string" },
        "series-selector": { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        step: { type: "string" },
        agg: { type: "string" },
        by: { type: "string" },
        prefix: { type: "string" },
        watch: { type: "boolean", default: false },
        from: { type: "string" },
        to: { type: "string" },
        percentiles: { type: "string" },
        probe: { type: "string" },
        attr: { type: "string", multiple: true },
        agent: { type: "string" },
        pid: { type: "string" },
        comm: { type: "string" },
        folded: { type: "boolean", default: false },
        version: { type: "string" },
        param: { type: "string", multiple: true },
        params: { type: "string" },
        file: { type: "string" },
        waves: { type: "string" },
        bake: { type: "string" },
        "gate-timeout": { type: "string" },
        "min-healthy": { type: "string" },
        "max-failed": { type: "string" },
        "max-cpu": { type: "string" },
        "on-failure": { type: "string" },
        reason: { type: "string" },
        state: { type: "string" },
        wave: { type: "string" },
        agents: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${CLI_USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? io.stdout : io.stderr)(CLI_USAGE);
    return values.help ? 0 : 2;
  }
  const [first, second] = positionals;
  const twoWord = `${first} ${second}`;
  const name = COMMANDS[twoWord] ? twoWord : first!;
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`unknown command "${positionals.join(" ")}"\n\n${CLI_USAGE}`);
    return 2;
  }
  const { url, token } = await resolveConnection({ url: values.url, token: name === "login" ? undefined : values.token }, io.env);
  const { url: _u, token: _t, json, help: _h, watch, folded, attr, param, agents, ...flags } = values;
  const ctx: CommandContext = {
    api: createApiClient(url, token),
    url,
    args: positionals.slice(name.split(" ").length),
    // Flags are strings: a boolean is "true" or absent; the repeatable --attr and --param travel as JSON arrays.
    flags: {
      ...flags,
      token: values.token,
      watch: watch ? "true" : undefined,
      folded: folded ? "true" : undefined,
      agents: agents ? "true" : undefined,
      attr: attr?.length ? JSON.stringify(attr) : undefined,
      param: param?.length ? JSON.stringify(param) : undefined,
    },
    json: Boolean(json),
    env: io.env,
    signal: io.signal,
    out: (text) => io.stdout(`${text}\n`),
    print: (value) => io.stdout(`${JSON.stringify(value, null, 2)}\n`),
    requireArg: (index, what) => {
      const arg = positionals[name.split(" ").length + index];
      if (!arg) throw new UsageError(`"${name}" needs the ${what}`);
      return arg;
    },
  };
  try {
    await command(ctx);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    if (error instanceof LabelError || error instanceof SelectorSyntaxError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    io.stderr(`error: ${describeCallError(error, url)}\n`);
    return 1;
  }
}
