/** Evaluating a {@link Selector} against a label set, with Kubernetes semantics. */
import type { Requirement, Selector } from "./ast.ts";

/**
 * Whether one requirement holds for `labels`. As in Kubernetes, `neq` and `notin` hold when the key is
 * absent; `eq` and `in` need the key present.
 */
export function matchesRequirement(req: Requirement, labels: Readonly<Record<string, string>>): boolean {
  // Own properties only: "constructor" is a valid label key and must not find Object.prototype's.
  const present = Object.hasOwn(labels, req.key);
  const value = present ? labels[req.key] : undefined;
  switch (req.op) {
    case "eq":
      return present && value === req.value;
    case "neq":
      return !present || value !== req.value;
    case "in":
      return present && req.values.includes(value as string);
    case "notin":
      return !present || !req.values.includes(value as string);
    case "exists":
      return present;
    case "notexists":
      return !present;
  }
}

/**
 * Whether `labels` satisfy every requirement of `selector` (the match-all selector matches any labels).
 * @example matchesSelector(parseSelector("env=prod,!canary"), { env: "prod" }) // true
 */
export function matchesSelector(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((req) => matchesRequirement(req, labels));
}
