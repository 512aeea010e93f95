/**
 * The parsed form of a Kubernetes-style label selector, e.g. `env=staging,region in (eu,us),!canary`.
 * Keys and values in a parsed selector satisfy the rules in `../labels.ts`.
 */

/** One condition on one label key. */
export type Requirement =
  /** `key=value` or `key==value`: the key is present with exactly this value. */
  | { op: "eq"; key: string; value: string }
  /** `key!=value`: the key is absent, or present with another value. */
  | { op: "neq"; key: string; value: string }
  /** `key in (a,b)`: the key is present with one of these values. */
  | { op: "in"; key: string; values: string[] }
  /** `key notin (a,b)`: the key is absent, or present with none of these values. */
  | { op: "notin"; key: string; values: string[] }
  /** `key`: the key is present, whatever its value. */
  | { op: "exists"; key: string }
  /** `!key`: the key is absent. */
  | { op: "notexists"; key: string };

/** The operator of a {@link Requirement}. */
export type RequirementOp = Requirement["op"];

/** A conjunction (AND) of requirements. With no requirements it matches every label set. */
export type Selector = { requirements: Requirement[] };

/** The selector that matches every label set (what empty selector text parses to). */
export function matchAllSelector(): Selector {
  return { requirements: [] };
}
