import { readFile } from "node:fs/promises";

/**
 * /proc/PID/maps: which file (or anonymous region) backs each range of a
 * process's address space, needed to turn a user instruction pointer into a
 * file offset.
 */

/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** `r-xp`: read, write, execute, private/shared. */
  perms: string;
  /** Offset in the backing file of `start`. */
  offset: bigint;
  /** `major:minor` in hex, as the kernel prints it. */
  dev: string;
  /** Kept as text: it is an identity, and u64 inodes may exceed 2^53. */
  inode: string;
  /**
   * The backing file as seen from the process's mount namespace, a pseudo
   * name (`[vdso]`, `[heap]`, `[anon:name]`), or "" for anonymous memory.
   * The kernel's ` (deleted)` suffix is removed and reported in `deleted`.
   */
  path: string;
  /** The file was unlinked (or replaced) after it was mapped. */
  deleted: boolean;
}

/** A /proc/PID/maps line did not have the expected shape. */
export class ProcMapsParseError extends Error {
  override name = "ProcMapsParseError";
}

// start-end perms offset dev inode [path]; the path is padded with spaces and may itself contain spaces.
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;
const DELETED_SUFFIX = " (deleted)";

/** Parses the text of /proc/PID/maps, in file order (ascending addresses). */
export function parseProcMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = MAPS_LINE.exec(line);
    if (!m) throw new ProcMapsParseError(`malformed maps line ${JSON.stringify(line)}: expected "start-end perms offset dev inode [path]"`);
    let path = m[7] ?? "";
    const deleted = path.endsWith(DELETED_SUFFIX);
    if (deleted) path = path.slice(0, -DELETED_SUFFIX.length);
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3]!,
      offset: BigInt(`0x${m[4]}`),
      dev: m[5]!,
      inode: m[6]!,
      path,
      deleted,
    });
  }
  return out;
}

/** Reads and parses /proc/PID/maps. Rejects with the fs error (ENOENT/ESRCH once the process is gone). */
export async function readProcMaps(pid: number): Promise<Mapping[]> {
  return parseProcMaps(await readFile(`/proc/${pid}/maps`, "utf8"));
}

/** The mappings code can run from: the only ones a sampled instruction pointer can fall in. */
export function executableMappings(maps: readonly Mapping[]): Mapping[] {
  return maps.filter((m) => m.perms[2] === "x");
}

/** The mapping containing `ip`, by binary search; `maps` must be in ascending order and not overlap, as the kernel lists them. */
export function findMapping(maps: readonly Mapping[], ip: bigint): Mapping | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid]!;
    if (ip < m.start) hi = mid - 1;
    else if (ip >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** True for memory no file backs: plain anonymous (`""`) or named with prctl (`[anon:…]`, `[anon_shmem:…]`). JIT code lives here. */
export function isAnonymous(mapping: Mapping): boolean {
  return mapping.path === "" || mapping.path.startsWith("[anon");
}
