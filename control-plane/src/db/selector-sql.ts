import { sql, type SQL } from "drizzle-orm";
import type { Requirement, Selector } from "@probepilot/shared";

/**
 * Compile a parsed label selector to a SQL predicate over a jsonb labels column,
 * with the same semantics as `matchesSelector` in shared (a property test checks
 * both agree on real Postgres). `!=` and `notin` match when the key is absent,
 * as in Kubernetes. Keys and values are bound parameters, never spliced.
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
      return sql`${value} = ${r.value}::text`;
    case "neq":
      return sql`${value} is distinct from ${r.value}::text`;
    case "in":
      return sql`${value} = any(${toTextArray(r.values)})`;
    case "notin":
      return sql`${value} is null or not (${value} = any(${toTextArray(r.values)}))`;
    case "exists":
      return sql`${labels} ? ${r.key}::text`;
    case "notexists":
      return sql`not (${labels} ? ${r.key}::text)`;
  }
}

/** A text[] literal built from bound parameters (postgres.js would otherwise guess the array type). */
function toTextArray(values: string[]): SQL {
  return sql`array[${sql.join(values.map((v) => sql`${v}::text`), sql`, `)}]::text[]`;
}
