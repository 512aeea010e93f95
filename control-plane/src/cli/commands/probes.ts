import { readFile } from "node:fs/promises";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { ago, renderTable } from "../table.ts";
import { positiveInt } from "./events.ts";

/** `sha256:` and 12 hex digits: enough to tell versions apart in a table. */
const shortHash = (hash: string) => hash.slice(0, "sha256:".length + 12);

/** The description is the last column: let it run longer than the default cell. */
const DESCRIPTION_WIDTH = 100;

/** `probes list [--json]`: every probe of the tenant with its latest version. */
export async function probesList(ctx: CommandContext): Promise<void> {
  const probes = await ctx.api.probes.list.query();
  if (ctx.json) return ctx.print(probes);
  ctx.out(
    renderTable(
      ["NAME", "KIND", "LATEST", "DEFAULT", "DESCRIPTION"],
      probes.map((p) => [p.name, p.kind, p.latest ? `v${p.latest.version}` : "-", p.default ? "yes" : "opt-in", p.description || "-"]),
      DESCRIPTION_WIDTH,
    ),
  );
}

/**
 * `probes show NAME [--version N] [--json]`: the probe's versions, then the
 * parameters of the latest (or the given) version. `--json` prints the probe with
 * its versions, or with `--version` that one version.
 */
export async function probesShow(ctx: CommandContext): Promise<void> {
  const ref = ctx.requireArg(0, "probe name (see `probepilot probes list`)");
  const version = positiveInt(ctx.flags.version, "--version");
  const [probe, picked] = await Promise.all([ctx.api.probes.get.query({ probe: ref }), ctx.api.probes.getVersion.query({ probe: ref, version })]);
  if (ctx.json) return ctx.print(version === undefined ? probe : picked);
  const head = [`${probe.name} (${probe.id})`, `kind ${probe.kind}`, probe.default ? "on by default" : "opt-in"].join(" · ");
  const table = renderTable(
    ["VERSION", "SPEC-HASH", "CREATED", "BY"],
    probe.versions.map((v) => [`v${v.version}`, shortHash(v.specHash), ago(v.createdAt), v.createdBy]),
  );
  const params = JSON.stringify(picked.params, null, 2).replace(/^/gm, "  ");
  ctx.out(`${head}\n${probe.description}\n\n${table}\n\nparameters of v${picked.version} (${picked.specHash}):\n${params}`);
}

/**
 * `probes create-version NAME [--file spec.json] [--params JSON] [--param k=v]… [--json]`:
 * a new version from parameters, layered in that order (a later source overrides a
 * key of an earlier one); parameters left out take the kind's defaults.
 */
export async function probesCreateVersion(ctx: CommandContext): Promise<void> {
  const ref = ctx.requireArg(0, "probe name (see `probepilot probes list`)");
  const fromFile = ctx.flags.file !== undefined ? await readSpecFile(ctx.flags.file) : { params: {} };
  const params = { ...fromFile.params, ...parseParamsFlag(ctx.flags.params), ...parseParamFlags(ctx.flags.param) };
  const v = await ctx.api.probes.createVersion.mutate({ probe: ref, params, ...(fromFile.kind !== undefined ? { kind: fromFile.kind } : {}) });
  if (ctx.json) return ctx.print(v);
  const line = v.created ? `created ${v.name} v${v.version} (${shortHash(v.specHash)})` : `${v.name} v${v.version} already has this spec (${shortHash(v.specHash)})`;
  ctx.out(`${line}\nparameters: ${JSON.stringify(v.params)}`);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A spec file: either a spec `{"kind": "tcp_flows", "params": {…}}` (the kind,
 * when given, must be the probe's) or the parameters object alone.
 */
export async function readSpecFile(file: string): Promise<{ kind?: string; params: Record<string, unknown> }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`--file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--file ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(value)) throw new UsageError(`--file ${file}: expected a JSON object: a spec {"kind": …, "params": {…}} or the parameters alone`);
  const keys = Object.keys(value);
  if (isObject(value.params) && keys.every((k) => k === "kind" || k === "params")) {
    if (value.kind !== undefined && typeof value.kind !== "string") throw new UsageError(`--file ${file}: "kind" must be a string such as "tcp_flows"`);
    return { kind: value.kind as string | undefined, params: value.params };
  }
  return { params: value };
}

/** `--params '{"comm":"nginx"}'`: a JSON object, or nothing. */
export function parseParamsFlag(flag: string | undefined): Record<string, unknown> {
  if (flag === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(flag);
  } catch (error) {
    throw new UsageError(`--params: not valid JSON (${(error as Error).message}); expected an object such as '{"comm":"nginx","minDurationMs":5}'`);
  }
  if (!isObject(value)) throw new UsageError(`--params: expected a JSON object such as '{"comm":"nginx","minDurationMs":5}'`);
  return value;
}

/**
 * The repeated `--param k=v` (main.ts passes them as a JSON array): a value is
 * JSON when it parses as JSON (`minDurationMs=5` a number, `failedOnly=true` a
 * boolean, `comm='"123"'` a string), else the text itself (`comm=nginx`).
 */
export function parseParamFlags(flag: string | undefined): Record<string, unknown> {
  const assignments = flag ? (JSON.parse(flag) as string[]) : [];
  const params: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) throw new UsageError(`--param "${assignment}": expected name=value, e.g. --param comm=nginx or --param minDurationMs=5`);
    const key = assignment.slice(0, eq).trim();
    if (Object.hasOwn(params, key)) throw new UsageError(`--param ${key} is given twice: a parameter has one value`);
    const text = assignment.slice(eq + 1);
    try {
      params[key] = JSON.parse(text);
    } catch {
      params[key] = text;
    }
  }
  return params;
}
