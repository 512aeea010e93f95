import { sql, type SQL } from "drizzle-orm";
import type { Requirement, Selector } from "@probepilot/shared";

/**
 * Compile a parsed label selector to a SQL predicate over a jsonb labels column,
 * with the same semantics as `matchesSelector` in shared (a property test checks
 * both agree on real Postgres). `!=` and `notin` match when the key is absent,
 * as in Kubernetes. Keys and values are bound parameters, never spliced.
 *
 * The positive requirements are written with the jsonb containment and existence
 * operators (`@>`, `?`) because those are what the GIN index on `agents.labels`
 * (default `jsonb_ops`) can answer; `labels ->> k = v` would read every row of the
 * tenant. Label values are always strings, so `labels @> {"k": "v"}` holds exactly
 * when `labels ->> 'k' = 'v'`. Negations (`!=`, `notin`, `!k`) cannot use the index;
 * they usually match most rows, where reading the tenant's rows is the right plan anyway.
 */
export function selectorToSql(selector: Selector, labels: SQL): SQL {
  if (selector.requirements.length === 0) return sql`true`;
  return sql.join(
    selector.requirements.map((r) => sql`(${requirementToSql(r, labels)})`),
    sql` and `,
  );
}

function requirementToSql(r: Requirement, labels: SQL): SQL {
  const value = sql`(${labels} ->> ${r.key}::text)`;
  switch (r.op) {
    case "eq":
      return sql`${labels} @> ${labelObject(r.key, r.value)}`;
    case "neq":
      return sql`${value} is distinct from ${r.value}::text`;
    case "in":
      if (r.values.length === 0) return sql`false`;
      // `@> any(array)`: GIN runs one scan per element into a single bitmap, which the
      // planner costs lower than an OR of containments (that one lost to a seq scan at 4k rows).
      return sql`${labels} @> any(array[${sql.join(
        r.values.map((v) => labelObject(r.key, v)),
        sql`, `,
      )}]::jsonb[])`;
    case "notin":
      return sql`${value} is null or not (${value} = any(${toTextArray(r.values)}))`;
    case "exists":
      return sql`${labels} ? ${r.key}::text`;
    case "notexists":
      return sql`not (${labels} ? ${r.key}::text)`;
  }
}

/** The one-label object `{"key": "value"}`, built from bound parameters. */
function labelObject(key: string, value: string): SQL {
  return sql`jsonb_build_object(${key}::text, ${value}::text)`;
}

/** A text[] literal built from bound parameters (postgres.js would otherwise guess the array type). */
function toTextArray(values: string[]): SQL {
  return sql`array[${sql.join(values.map((v) => sql`${v}::text`), sql`, `)}]::text[]`;
}
