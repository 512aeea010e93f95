import { sql } from "drizzle-orm";
import { formatWave, parseSelector, type RolloutStrategy } from "@probepilot/shared";
import type { DbOrTx } from "../../db/client.ts";
import { selectorToSql } from "../../db/selector-sql.ts";
import { ENGINE_ACTOR } from "./engine/rollout-store.ts";

export const DEFAULT_ANNOTATIONS = 200;
export const MAX_ANNOTATIONS = 1000;
/** Annotation texts are one line for a chart's tooltip: a long reason (a verifier log excerpt) is cut here. */
const MAX_TEXT = 300;

export type ListRolloutAnnotationsInput = {
  /** Selector over agent labels: the charted agents (all agents when absent). */
  agentSelector?: string | undefined;
  /** Unix ms, inclusive. */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
  limit?: number | undefined;
};

/**
 * One rollout transition to draw on a time chart. `kind` is what happened
 * (`created`, `wave_started`, `paused`, `resumed`, `promoted`, `aborted`,
 * `rolling_back`, `rolled_back`, `completed`, `restored`); `agents` is how many
 * of the agents matching the selector the rollout touched (had as members).
 */
export type RolloutAnnotation = { ts: number; rolloutId: string; probe: string; version: number; kind: string; text: string; agents: number };

/** Audit actions drawn on charts, and their annotation kind. Gate passes and wave completions are left out: a wave's start (or the completion) follows at once. */
const KIND_OF_ACTION: Record<string, string> = {
  "rollout.create": "created",
  "rollout.wave_started": "wave_started",
  "rollout.pause": "paused",
  "rollout.resume": "resumed",
  "rollout.promote": "promoted",
  "rollout.abort": "aborted",
  "rollout.rollback": "rolling_back",
  "rollout.rolled_back": "rolled_back",
  "rollout.completed": "completed",
  "rollout.restored": "restored",
};

type EventRow = {
  ts: number;
  rollout_id: string;
  action: string;
  actor: string;
  details: Record<string, unknown>;
  probe_name: string;
  version: number;
  strategy: RolloutStrategy;
  agents: number;
};

/**
 * Rollout transitions in `[from, to)` of the rollouts that touched agents matching
 * `agentSelector` (a `rollout_agents` row, which every agent a rollout ever matched
 * has), from the audit trail, oldest first. When there are more than `limit`, the
 * newest `limit` are returned: a live chart cares about what just happened.
 *
 * Cost: the audit rows of the tenant in the range (index on tenant and time), then
 * for the few rollouts they name, their members matching the selector — joined on
 * the `rollout_agents` primary key (rollout, agent), so a selective selector reads
 * only its agents (GIN on labels) and a broad one the rollouts' member rows.
 */
export async function listRolloutAnnotations(db: DbOrTx, tenantId: string, input: ListRolloutAnnotationsInput): Promise<{ items: RolloutAnnotation[] }> {
  const limit = Math.min(input.limit ?? DEFAULT_ANNOTATIONS, MAX_ANNOTATIONS);
  const actions = Object.keys(KIND_OF_ACTION);
  const matching = input.agentSelector
    ? sql`join agents a on a.id = ra.agent_id and a.tenant_id = ${tenantId} and ${selectorToSql(parseSelector(input.agentSelector), sql`a.labels`)}`
    : sql``;
  const rows = await db.execute<EventRow>(sql`
    with events as (
      select l.id, l.at, l.target, l.action, l.actor, l.details
      from audit_log l
      where l.tenant_id = ${tenantId}
        and l.at >= to_timestamp(${input.from}::float8 / 1000) and l.at < to_timestamp(${input.to}::float8 / 1000)
        and l.action in (${sql.join(actions.map((a) => sql`${a}`), sql`, `)})
    ),
    touched as (
      select ra.rollout_id, count(*)::int as agents
      from rollout_agents ra ${matching}
      where ra.tenant_id = ${tenantId} and ra.rollout_id in (select target from events)
      group by ra.rollout_id
    )
    select floor(extract(epoch from e.at) * 1000)::float8 as ts, e.target as rollout_id, e.action, e.actor, e.details,
      r.probe_name, r.version, r.strategy, t.agents
    from events e
    join touched t on t.rollout_id = e.target
    join rollouts r on r.id = e.target and r.tenant_id = ${tenantId}
    order by e.at desc, e.id desc
    limit ${limit}`);
  return { items: [...rows].reverse().map(toAnnotation) };
}

function toAnnotation(r: EventRow): RolloutAnnotation {
  const kind = KIND_OF_ACTION[r.action]!;
  return { ts: Number(r.ts), rolloutId: r.rollout_id, probe: r.probe_name, version: r.version, kind, text: oneLine(`${r.probe_name} v${r.version} · ${describe(kind, r)}`), agents: r.agents };
}

/** What happened, in words: `wave 2 of 4 started (10%)`, `paused by alice: canary looks slow`. */
function describe(kind: string, r: EventRow): string {
  const waves = r.strategy.waves;
  const waveOf = (i: unknown) => (typeof i === "number" ? `wave ${i + 1} of ${waves.length}` : "wave");
  const reason = typeof r.details.reason === "string" && r.details.reason !== "" ? r.details.reason : null;
  const automatic = r.details.automatic === true || r.actor === ENGINE_ACTOR;
  const by = (verb: string) => `${verb} by ${actorName(r.actor)}${reason ? `: ${reason}` : ""}`;
  switch (kind) {
    case "created":
      return `rollout created by ${actorName(r.actor)}; wave 1 of ${waves.length} started${waves[0] ? ` (${formatWave(waves[0])})` : ""}`;
    case "wave_started": {
      const i = r.details.wave;
      const wave = typeof i === "number" ? waves[i] : undefined;
      return `${waveOf(i)} started${wave ? ` (${formatWave(wave)})` : ""}`;
    }
    case "paused":
      return automatic ? `paused${reason ? `: ${reason}` : ""}` : by("paused");
    case "resumed":
      return by("resumed");
    case "promoted":
      return `${waveOf(r.details.wave)} ${by("promoted")}`;
    case "aborted":
      return `${by("aborted")} (at ${waveOf(r.details.wave)})`;
    case "rolling_back":
      return automatic ? `rolling back${reason ? `: ${reason}` : ""}` : by("rollback started");
    case "rolled_back": {
      const unconfirmed = typeof r.details.unconfirmed === "number" ? r.details.unconfirmed : 0;
      return `rolled back${unconfirmed > 0 ? ` (${unconfirmed} agents did not confirm)` : ""}`;
    }
    case "completed":
      return `completed (${waves.length} ${waves.length === 1 ? "wave" : "waves"})`;
    case "restored":
      return `restored: the rollout that had replaced it was rolled back`;
    default:
      return kind;
  }
}

/** An operator as people know them: the token's name (`token:alice-laptop(apt_…)` → `alice-laptop`); other actors as they are. */
function actorName(actor: string): string {
  return /^token:(.+)\([^()]*\)$/.exec(actor)?.[1] ?? actor;
}

/** A chart tooltip line: no line breaks, bounded. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT - 1)}…` : flat;
}
