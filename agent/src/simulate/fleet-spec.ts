/**
 * The fleet simulator's specs, parsed from its command line: which labels each
 * simulated agent carries (`--labels`), which (kernel, arch, os) stratum its host
 * is (`--strata`), and how its simulated probes behave (`--fail`, `--unsupported`,
 * `--cost`). Everything here is pure and deterministic: agent `i` of a fleet
 * always gets the same labels and host, and an agent's probe outcome depends
 * only on its id and the probe, so tests can compute what the fleet must report.
 */
import { PROBE_KINDS, ProbeKindSchema, validateLabelKey, validateLabelValue, type Labels, type ProbeKind } from "@probepilot/shared";
import { kubernetesArch, sanitizeLabelValue } from "../host/host-facts.ts";

/** A spec that does not parse; the message names the bad part and says what would be right. */
export class FleetSpecError extends Error {
  override readonly name = "FleetSpecError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

// ---- ratios and weights ------------------------------------------------------

/**
 * `0.3`, `30%` → 0.3. `what` names the part in the error (`--fail "tcp_flows=3"`).
 * @throws {FleetSpecError} unless it is a number in [0, 1] or a percentage in [0 %, 100 %].
 */
export function parseRatio(text: string, what: string): number {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?|\.\d+)%$/.exec(t);
  const plain = /^(\d+(?:\.\d+)?|\.\d+)$/.exec(t);
  const value = pct ? Number(pct[1]) / 100 : plain ? Number(plain[1]) : NaN;
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new FleetSpecError(`${what}: ratio "${t}" is not a share; expected a number from 0 to 1 (0.3) or a percentage from 0% to 100% (30%)`);
  }
  return value;
}

/** Weights given as ratios must add up to 1 (100 %); allow rounding in the third decimal of a percent. */
function checkWeightsSum(weights: number[], what: string): void {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-5) throw new FleetSpecError(`${what}: the weights add up to ${+(sum * 100).toFixed(3)}%; expected 100%`);
}

// ---- deterministic spreading -------------------------------------------------

/** The first `n` primes (2, 3, 5, …). */
function primes(n: number): number[] {
  const out: number[] = [];
  for (let c = 2; out.length < n; c++) if (out.every((p) => c % p !== 0)) out.push(c);
  return out;
}
const WEYL_PRIMES = primes(64);

/**
 * Position of agent `index` in [0, 1) along dimension `dimension`: the Weyl
 * sequence frac((index + 1)·√p) for the dimension's prime p. Why not a hash:
 * any prefix of a Weyl sequence is spread almost exactly evenly (discrepancy
 * O(log n / n)), so a 70 % / 30 % split of 200 agents is 140 / 60 give or take
 * one or two, and it does not depend on the fleet size (agent 17 keeps its
 * labels whatever `--agents` is). Why one prime per dimension: square roots of
 * distinct primes are rationally independent, so by Weyl's theorem the
 * dimensions are jointly equidistributed: weighted labels and strata do not
 * correlate (`env=staging` is not all arm64).
 */
export function spreadPosition(index: number, dimension: number): number {
  const prime = WEYL_PRIMES[dimension % WEYL_PRIMES.length]!;
  const x = (index + 1) * Math.sqrt(prime);
  return x - Math.floor(x);
}

/** Dimension 0 is the strata; weighted label keys take 1, 2, … in spec order. */
const STRATA_DIMENSION = 0;

/** The entry whose cumulative weight first exceeds `position`. */
function pickWeighted<T extends { weight: number }>(entries: readonly T[], position: number): T {
  let acc = 0;
  for (const e of entries) {
    acc += e.weight;
    if (position < acc) return e;
  }
  return entries[entries.length - 1]!; // rounding: the weights sum to 1 ± 1e-5
}

// ---- labels ------------------------------------------------------------------

/**
 * How one label key's values are spread over the fleet: `even` gives agent `i`
 * the `(i mod n)`-th value; `weighted` splits by the given shares (see {@link spreadPosition}).
 */
export type LabelSpread = { key: string; dimension: number } & ({ mode: "even"; values: string[] } | { mode: "weighted"; values: { value: string; weight: number }[] });
export type LabelsSpec = LabelSpread[];

/** Host-fact keys the simulator sets itself (from `--strata` and the agent's name). */
const RESERVED_PREFIX = "probepilot.io/";

/**
 * `--labels "env=prod:80%|staging:20%,region=eu|us|ap,team=net"`: comma-separated
 * `key=value` pairs; a value may be `a|b|c` (agent i gets the (i mod 3)-th) or
 * weighted `a:70%|b:30%` (shares adding up to 100 %, as percentages or ratios).
 * Keys and values follow the label rules of `shared/labels.ts`.
 * @throws {FleetSpecError} naming the bad pair, value or weight.
 */
export function parseLabelsSpec(text: string): LabelsSpec {
  const spec: LabelsSpec = [];
  const parts = text.split(",").map((p) => p.trim());
  if (text.trim() === "") return spec;
  for (const [i, part] of parts.entries()) {
    const what = `--labels "${text}": pair ${i + 1} "${part}"`;
    if (part === "") throw new FleetSpecError(`${what}: empty; expected key=value, e.g. env=prod or env=prod|staging`);
    const eq = part.indexOf("=");
    if (eq === -1) throw new FleetSpecError(`${what}: expected key=value, e.g. env=prod, env=prod|staging or env=prod:80%|staging:20%`);
    const key = part.slice(0, eq).trim();
    const keyProblem = validateLabelKey(key);
    if (keyProblem) throw new FleetSpecError(`${what}: ${keyProblem}`);
    if (key.startsWith(RESERVED_PREFIX)) throw new FleetSpecError(`${what}: keys under ${RESERVED_PREFIX} are the host facts the simulator sets (hostname, os, kernel, arch: see --strata); choose another key`);
    if (spec.some((s) => s.key === key)) throw new FleetSpecError(`${what}: key "${key}" is given twice; give its values once, separated by |`);
    const alternatives = part.slice(eq + 1).split("|").map((v) => v.trim());
    const weighted = alternatives.map((alt) => {
      const colon = alt.lastIndexOf(":"); // label values cannot contain ':', so the last one starts the weight
      return colon === -1 ? { value: alt, weightText: null } : { value: alt.slice(0, colon).trim(), weightText: alt.slice(colon + 1).trim() };
    });
    for (const { value } of weighted) {
      if (value === "") throw new FleetSpecError(`${what}: empty value; expected a value between the | separators, e.g. env=prod|staging`);
      const valueProblem = validateLabelValue(value);
      if (valueProblem) throw new FleetSpecError(`${what}: ${valueProblem}`);
    }
    const values = weighted.map((w) => w.value);
    const dup = values.find((v, j) => values.indexOf(v) !== j);
    if (dup !== undefined) throw new FleetSpecError(`${what}: value "${dup}" is given twice`);
    const withWeight = weighted.filter((w) => w.weightText !== null).length;
    if (withWeight === 0) {
      spec.push({ key, dimension: i + 1, mode: "even", values });
      continue;
    }
    if (withWeight !== weighted.length) throw new FleetSpecError(`${what}: give every value a weight (prod:80%|staging:20%) or none (prod|staging)`);
    const entries = weighted.map((w) => ({ value: w.value, weight: parseRatio(w.weightText!, `${what}, value "${w.value}"`) }));
    checkWeightsSum(entries.map((e) => e.weight), what);
    spec.push({ key, dimension: i + 1, mode: "weighted", values: entries });
  }
  return spec;
}

/** The user labels of agent `index` (0-based) under `spec`. */
export function labelsForAgent(spec: LabelsSpec, index: number): Labels {
  const labels: Labels = {};
  for (const s of spec) {
    labels[s.key] = s.mode === "even" ? s.values[index % s.values.length]! : pickWeighted(s.values, spreadPosition(index, s.dimension)).value;
  }
  return labels;
}

// ---- strata ------------------------------------------------------------------

/** One simulated host type: what a real agent reports as kernel, arch (Kubernetes spelling) and os. */
export type HostStratum = { kernel: string; arch: string; os: string; weight: number };
export type StrataSpec = HostStratum[];

/** Three strata, spelled as real agents report them (`os.release()`, `amd64`, os-release `ID-VERSION_ID`). */
export const DEFAULT_STRATA_SPEC = "6.1.0-18-amd64/amd64/debian-12=70%,5.15.0-91-generic/amd64/ubuntu-22.04=20%,6.1.0-18-arm64/arm64/debian-12=10%";

/** uname spellings → the GOARCH spelling real agents report (see `kubernetesArch`). */
const UNAME_ARCH: Record<string, string> = { x86_64: "amd64", amd64: "amd64", aarch64: "arm64", arm64: "arm64", i386: "386", i686: "386", armv7l: "arm", ppc64le: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

/**
 * `--strata "6.1.0-18-amd64/x86_64/Debian GNU/Linux 12=70%,5.15.0-91-generic/amd64/ubuntu-22.04=30%"`:
 * comma-separated `KERNEL/ARCH/OS[=WEIGHT]`; everything after the second `/` is
 * the os (it may contain `/`). ARCH may be spelled as `uname -m` does (x86_64,
 * aarch64): it is reported as real agents do (amd64, arm64). Weights (every
 * stratum or none; none = equal shares) add up to 100 %.
 * @throws {FleetSpecError} naming the bad stratum.
 */
export function parseStrataSpec(text: string): StrataSpec {
  const parts = text.split(",").map((p) => p.trim());
  const parsed = parts.map((part, i) => {
    const what = `--strata "${text}": stratum ${i + 1} "${part}"`;
    const eq = part.lastIndexOf("=");
    const body = eq === -1 ? part : part.slice(0, eq).trim();
    const [kernel, arch, ...osParts] = body.split("/");
    const os = osParts.join("/").trim();
    if (!kernel?.trim() || !arch?.trim() || os === "") throw new FleetSpecError(`${what}: expected KERNEL/ARCH/OS[=WEIGHT], e.g. 6.1.0-18-amd64/amd64/debian-12=70%`);
    if (kernel.trim().length > 128 || os.length > 128) throw new FleetSpecError(`${what}: kernel and os are at most 128 characters`);
    const a = arch.trim();
    const mapped = UNAME_ARCH[a] ?? kubernetesArch(a);
    if (!/^[a-z0-9]{1,32}$/.test(mapped)) throw new FleetSpecError(`${what}: arch "${a}" is not an architecture name; expected e.g. amd64, arm64, x86_64 or aarch64`);
    return { kernel: kernel.trim(), arch: mapped, os, weightText: eq === -1 ? null : part.slice(eq + 1).trim(), what };
  });
  const withWeight = parsed.filter((p) => p.weightText !== null).length;
  if (withWeight !== 0 && withWeight !== parsed.length) throw new FleetSpecError(`--strata "${text}": give every stratum a weight (…=70%,…=30%) or none (equal shares)`);
  const strata = parsed.map((p) => ({ kernel: p.kernel, arch: p.arch, os: p.os, weight: p.weightText === null ? 1 / parsed.length : parseRatio(p.weightText, p.what) }));
  if (withWeight > 0) checkWeightsSum(strata.map((s) => s.weight), `--strata "${text}"`);
  const keys = strata.map((s) => `${s.kernel}/${s.arch}/${s.os}`);
  const dup = keys.find((k, j) => keys.indexOf(k) !== j);
  if (dup) throw new FleetSpecError(`--strata "${text}": stratum "${dup}" is given twice`);
  // A label value is derived from each fact; two strata must not collapse into one label set.
  for (const s of strata) if (sanitizeLabelValue(s.kernel) === "" || sanitizeLabelValue(s.os) === "") throw new FleetSpecError(`--strata "${text}": "${s.kernel}/${s.arch}/${s.os}" leaves an empty label value; kernel and os need at least one letter or digit`);
  return strata;
}

/** The host stratum of agent `index` (0-based). */
export function stratumForAgent(spec: StrataSpec, index: number): HostStratum {
  return pickWeighted(spec, spreadPosition(index, STRATA_DIMENSION));
}

// ---- probe outcomes ----------------------------------------------------------

/** `KIND[@VERSION]` (or `*` for every kind) → a number; the text of each entry is kept for messages. */
export type ProbeRule = { kind: ProbeKind | "*"; version: string | null; value: number; text: string };
export type ProbeRules = ProbeRule[];

/**
 * `--fail "tcp_flows@v2=30%,cpu_profile=0.05"` (and `--unsupported`, `--cost`):
 * comma-separated `KIND[@VERSION]=VALUE`. KIND is a probe kind or `*` (every
 * kind); VERSION is compared with the policy's `probe.version` (`v2`) and, when
 * absent, matches every version. `value` parses VALUE.
 */
function parseProbeRules(flag: string, text: string, value: (raw: string, what: string) => number, example: string): ProbeRules {
  const rules: ProbeRules = [];
  if (text.trim() === "") return rules;
  for (const [i, raw] of text.split(",").entries()) {
    const part = raw.trim();
    const what = `${flag} "${text}": entry ${i + 1} "${part}"`;
    const eq = part.lastIndexOf("=");
    if (eq === -1) throw new FleetSpecError(`${what}: expected KIND[@VERSION]=VALUE, e.g. ${example}`);
    const target = part.slice(0, eq).trim();
    const at = target.indexOf("@");
    const kindText = at === -1 ? target : target.slice(0, at);
    const version = at === -1 ? null : target.slice(at + 1);
    let kind: ProbeKind | "*";
    if (kindText === "*") kind = "*";
    else {
      const k = ProbeKindSchema.safeParse(kindText);
      if (!k.success) throw new FleetSpecError(`${what}: unknown probe kind "${kindText}"; expected one of ${PROBE_KINDS.join(", ")} or * (every kind)`);
      kind = k.data;
    }
    if (version !== null && !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(version)) {
      throw new FleetSpecError(`${what}: version "${version}" should be a policy's probe.version such as v2 (letters, digits, . _ + -), or leave out @VERSION for every version`);
    }
    const rule = { kind, version, value: value(part.slice(eq + 1), what), text: part };
    if (rules.some((r) => r.kind === rule.kind && r.version === rule.version)) throw new FleetSpecError(`${what}: ${target} is given twice`);
    rules.push(rule);
  }
  return rules;
}

/** `--fail`: the share of agents on which a probe version fails to start. */
export function parseFailSpec(text: string): ProbeRules {
  return parseProbeRules("--fail", text, parseRatio, "tcp_flows@v2=30%");
}

/** `--unsupported`: the share of agents that report a probe version unsupported. */
export function parseUnsupportedSpec(text: string): ProbeRules {
  return parseProbeRules("--unsupported", text, parseRatio, "cpu_profile=10%");
}

/** `--cost`: what a running probe reports costing, in percent of one core (`0.5` or `0.5%`). */
export function parseCostSpec(text: string): ProbeRules {
  return parseProbeRules(
    "--cost",
    text,
    (raw, what) => {
      const m = /^(\d+(?:\.\d+)?|\.\d+)%?$/.exec(raw.trim());
      const v = m ? Number(m[1]) : NaN;
      if (!Number.isFinite(v) || v > 100) throw new FleetSpecError(`${what}: "${raw.trim()}" is not a CPU share; expected percent of one core from 0 to 100, e.g. 0.5 or 0.5%`);
      return v;
    },
    "tcp_flows@v3=2.5%",
  );
}

/** The most specific rule for a probe: `kind@version`, then `kind`, then `*@version`, then `*`. */
export function ruleFor(rules: ProbeRules, kind: ProbeKind, version: string): ProbeRule | undefined {
  let best: ProbeRule | undefined;
  let bestRank = 0;
  for (const r of rules) {
    if (r.kind !== "*" && r.kind !== kind) continue;
    if (r.version !== null && r.version !== version) continue;
    const rank = (r.kind === "*" ? 0 : 2) + (r.version === null ? 0 : 1) + 1;
    if (rank > bestRank) [best, bestRank] = [r, rank];
  }
  return best;
}

const FAIL_SALT = "probepilot-sim/fail";
const UNSUPPORTED_SALT = "probepilot-sim/unsupported";

/**
 * A stable number in [0, 1) for (salt, agent, subject): FNV-1a (32-bit) as in
 * `waveHash`, but over a salted text so it is independent of any wave position
 * (the agents that fail are not the canary), then murmur3's finalizer so the
 * high bits are well mixed (FNV-1a alone spreads the last characters poorly,
 * and a ratio compares the whole value, not a remainder).
 */
export function simulationHash(salt: string, agentId: string, subject: string): number {
  const text = `${salt}\u0000${agentId}\u0000${subject}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** What a simulated agent does with a probe; `rule` is the `--fail`/`--unsupported` entry that decided it. */
export type SimulatedOutcome = { outcome: "running" } | { outcome: "failed" | "unsupported"; rule: ProbeRule };

/**
 * The outcome of probe `kind`@`version` on agent `agentId`: unsupported when its
 * unsupported hash is below the `--unsupported` ratio (checked first, as the
 * agent asks whether a probe is supported before starting it), failed when its
 * failure hash is below the `--fail` ratio, running otherwise. The same agents
 * fail every time; raising a ratio only adds agents. The unsupported hash does
 * not involve the version when the rule names none, so a kind unsupported on a
 * host stays unsupported for every version, as on a real host.
 */
export function simulatedOutcome(rules: { fail: ProbeRules; unsupported: ProbeRules }, agentId: string, kind: ProbeKind, version: string): SimulatedOutcome {
  const unsupported = ruleFor(rules.unsupported, kind, version);
  if (unsupported && simulationHash(UNSUPPORTED_SALT, agentId, unsupported.version === null ? kind : `${kind}@${version}`) < unsupported.value) {
    return { outcome: "unsupported", rule: unsupported };
  }
  const fail = ruleFor(rules.fail, kind, version);
  if (fail && simulationHash(FAIL_SALT, agentId, `${kind}@${version}`) < fail.value) return { outcome: "failed", rule: fail };
  return { outcome: "running" };
}

/** Cost a running simulated probe reports when `--cost` names nothing for it: small, but not zero, so overhead guards have input. */
export const DEFAULT_SIMULATED_COST_PERCENT = 0.2;

/** Percent of one core that probe `kind`@`version` reports costing. */
export function simulatedCostPercent(cost: ProbeRules, kind: ProbeKind, version: string): number {
  return ruleFor(cost, kind, version)?.value ?? DEFAULT_SIMULATED_COST_PERCENT;
}
