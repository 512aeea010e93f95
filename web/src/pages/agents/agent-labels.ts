import { formatRequirement, tryParseSelector, type Requirement } from "@probepilot/shared";

/**
 * The host-fact label keys the agent sets itself (agent/src/host/host-facts.ts). The
 * agents table shows hostname, kernel, OS and arch in their own columns, so its label
 * chips leave these out; the detail page shows every label.
 */
export const HOST_FACT_KEYS: readonly string[] = ["probepilot.io/hostname", "probepilot.io/os", "probepilot.io/kernel", "probepilot.io/arch"];

/** Prefix of the labels ProbePilot itself sets (host facts, `probepilot.io/simulated`). */
const RESERVED_PREFIX = "probepilot.io/";

export type LabelPair = readonly [key: string, value: string];

/**
 * The chips of a label set that fit in a table cell: operators' labels first (they
 * are what selectors usually name), then ProbePilot's own, each group by key; at most
 * `max` shown, the rest counted in a "+n" chip whose tooltip lists them.
 */
export function labelChips(labels: Readonly<Record<string, string>>, max: number, hide: readonly string[] = []): { shown: LabelPair[]; hidden: LabelPair[] } {
  const pairs = Object.entries(labels)
    .filter(([k]) => !hide.includes(k))
    .sort(([a], [b]) => Number(a.startsWith(RESERVED_PREFIX)) - Number(b.startsWith(RESERVED_PREFIX)) || (a < b ? -1 : a > b ? 1 : 0));
  const limit = Math.max(0, max);
  // "+1" takes the room of the one label it hides: show that label instead.
  if (pairs.length <= limit + 1) return { shown: pairs, hidden: [] };
  return { shown: pairs.slice(0, limit), hidden: pairs.slice(limit) };
}

/** Where a label comes from, lowest precedence first (shared `mergeLabels(host, user, central)`). */
export type LabelSource = "host" | "user" | "central";

/** One effective label of an agent, with the layer that gave it and the layers it overrides. */
export type LabelRow = { key: string; value: string; source: LabelSource; overrides: { source: LabelSource; value: string }[] };

/**
 * The agent's effective labels with their origin: host facts, the agent's
 * `--label` flags (user), or set centrally (`agents.setLabels`, which is the only
 * layer the UI can change). A central label over a host or user label says so,
 * because removing it brings the one underneath back.
 */
export function labelRows(agent: { hostLabels: Record<string, string>; userLabels: Record<string, string>; centralLabels: Record<string, string> }): LabelRow[] {
  const layers: [LabelSource, Record<string, string>][] = [
    ["host", agent.hostLabels],
    ["user", agent.userLabels],
    ["central", agent.centralLabels],
  ];
  const rows = new Map<string, LabelRow>();
  for (const [source, labels] of layers) {
    for (const [key, value] of Object.entries(labels)) {
      const below = rows.get(key);
      rows.set(key, { key, value, source, overrides: below ? [...below.overrides, { source: below.source, value: below.value }] : [] });
    }
  }
  return [...rows.values()].sort((a, b) => Number(a.key.startsWith(RESERVED_PREFIX)) - Number(b.key.startsWith(RESERVED_PREFIX)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The selector with `key=value` added (clicking a label chip narrows the list to
 * it). A requirement already there is not repeated; a selector that does not parse
 * (beyond a trailing comma) is replaced, since the chip's label is what the user asked for. An empty value
 * comes out as `key in (,)` (the parser has no `key=`), as shared's formatter writes it.
 */
export function withRequirement(selector: string, key: string, value: string): string {
  const added: Requirement = { op: "eq", key, value };
  const text = formatRequirement(added);
  // A trailing comma is where the user was about to type the next requirement.
  const base = selector.trim().replace(/,\s*$/, "");
  const parsed = tryParseSelector(base);
  if (!parsed.ok || parsed.selector.requirements.length === 0) return text;
  if (parsed.selector.requirements.some((r) => formatRequirement(r) === text)) return base;
  return `${base}, ${text}`;
}
