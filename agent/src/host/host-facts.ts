import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * Facts about the host the agent runs on. They become the agent's built-in
 * labels (see {@link hostLabels}), so rollouts can select e.g. `probepilot.io/arch=arm64`.
 */
export interface HostFacts {
  /** `os.hostname()`, as the kernel reports it (may be an FQDN). */
  hostname: string;
  /** `${ID}-${VERSION_ID}` from os-release, e.g. "debian-12"; `ID` alone for rolling distros; `os.platform()` when there is no os-release. */
  os: string;
  /** os-release `PRETTY_NAME`, e.g. "Debian GNU/Linux 12 (bookworm)"; falls back to {@link HostFacts.os}. */
  osPrettyName: string;
  /** `os.release()`, e.g. "6.18.44-fc-v782". */
  kernel: string;
  /** Architecture in Go/Kubernetes spelling (`amd64`, `arm64`, …), see {@link kubernetesArch}. */
  arch: string;
  /** `/proc/sys/kernel/random/boot_id`: changes on every boot, absent when unreadable. */
  bootId?: string;
}

/** Where {@link readHostFacts} looks; injectable so tests can use fixture trees. */
export interface HostFactsOptions {
  /** Root of the filesystem holding `etc/os-release` and `usr/lib/os-release`. Default "/". */
  rootDir?: string;
  /** Mount point of procfs. Default "/proc". */
  procRoot?: string;
}

/**
 * Reads the host facts. Never throws: every fact has a fallback, because a
 * missing os-release (minimal containers) must not keep the agent from starting.
 */
export async function readHostFacts(opts: HostFactsOptions = {}): Promise<HostFacts> {
  const rootDir = opts.rootDir ?? "/";
  const procRoot = opts.procRoot ?? "/proc";

  // os-release(5): /etc/os-release wins, /usr/lib/os-release is the vendor fallback.
  let release: Record<string, string> | undefined;
  for (const candidate of ["etc/os-release", "usr/lib/os-release"]) {
    const text = await readFile(path.join(rootDir, candidate), "utf8").catch(() => undefined);
    if (text !== undefined) {
      release = parseOsRelease(text);
      break;
    }
  }

  const platform = os.platform();
  const id = release?.ID;
  const versionId = release?.VERSION_ID;
  const osName = id ? (versionId ? `${id}-${versionId}` : id) : platform;

  const bootIdText = await readFile(path.join(procRoot, "sys/kernel/random/boot_id"), "utf8").catch(() => undefined);
  const bootId = bootIdText?.trim() || undefined;

  const facts: HostFacts = {
    hostname: os.hostname(),
    os: osName,
    osPrettyName: release?.PRETTY_NAME || osName,
    kernel: os.release(),
    arch: kubernetesArch(os.arch(), os.endianness()),
  };
  if (bootId !== undefined) facts.bootId = bootId;
  return facts;
}

/**
 * Parses os-release(5) text: `KEY=value` lines, values optionally in single or
 * double quotes with shell-style backslash escapes in double quotes; `#` lines
 * and malformed lines are ignored (the file is meant to be sourced by sh, so we
 * are lenient rather than failing the whole file on one odd line).
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!;
    let value = m[2]!;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(["\\`$])/g, "$1");
    } else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
      value = value.slice(1, -1);
    }
    out[key] = value;
  }
  return out;
}

/**
 * Maps Node's `os.arch()` to the GOARCH spelling Kubernetes uses in
 * `kubernetes.io/arch`, so selectors written for Kubernetes nodes work unchanged.
 * Node reports "ppc64" for both endiannesses, hence the second argument.
 */
export function kubernetesArch(nodeArch: string, endianness: "BE" | "LE" = "LE"): string {
  switch (nodeArch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    case "arm64":
    case "arm":
    case "riscv64":
    case "s390x":
    case "loong64":
    case "mips":
    case "mips64":
      return nodeArch;
    case "mipsel":
      return "mipsle";
    case "mips64el":
      return "mips64le";
    case "ppc64":
      return endianness === "LE" ? "ppc64le" : "ppc64";
    default:
      return nodeArch;
  }
}

/** Max length of a Kubernetes label value (and of a label key's name part). */
export const LABEL_VALUE_MAX_LENGTH = 63;

/**
 * Turns any string into a valid Kubernetes label value: at most 63 characters,
 * empty or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
 *
 * Invalid characters become `_`, then leading/trailing non-alphanumerics are
 * trimmed (the rule requires alphanumeric ends), then the result is cut to 63
 * characters and the end is trimmed again because the cut can expose a `-`/`.`/`_`.
 * Truncation can make two long inputs collide; callers that need uniqueness
 * must disambiguate themselves.
 */
export function sanitizeLabelValue(value: string): string {
  const replaced = value.replace(/[^A-Za-z0-9._-]/g, "_");
  const trimmed = replaced.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
  return trimmed.slice(0, LABEL_VALUE_MAX_LENGTH).replace(/[^A-Za-z0-9]+$/, "");
}

/** Label keys set by {@link hostLabels}; the `probepilot.io/` prefix keeps them apart from user labels. */
export const HOST_LABEL_KEYS = {
  hostname: "probepilot.io/hostname",
  os: "probepilot.io/os",
  kernel: "probepilot.io/kernel",
  arch: "probepilot.io/arch",
} as const;

/**
 * The agent's built-in labels derived from its host facts. Keys are valid
 * prefixed Kubernetes label keys; values are passed through {@link sanitizeLabelValue}
 * (an FQDN hostname longer than 63 characters, for instance, is truncated).
 */
export function hostLabels(facts: HostFacts): Record<string, string> {
  return {
    [HOST_LABEL_KEYS.hostname]: sanitizeLabelValue(facts.hostname),
    [HOST_LABEL_KEYS.os]: sanitizeLabelValue(facts.os),
    [HOST_LABEL_KEYS.kernel]: sanitizeLabelValue(facts.kernel),
    [HOST_LABEL_KEYS.arch]: sanitizeLabelValue(facts.arch),
  };
}
