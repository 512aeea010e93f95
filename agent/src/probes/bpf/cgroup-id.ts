import { access, stat } from "node:fs/promises";
import path from "node:path";

/**
 * The cgroup v2 id of a cgroup path, as bpf_get_current_cgroup_id() reports it:
 * the inode number of its directory in the unified hierarchy, which is
 * /sys/fs/cgroup on cgroup-v2 hosts and /sys/fs/cgroup/unified on hybrid ones
 * (a v2 root is the one with `cgroup.controllers`).
 */
export async function cgroupId(cgroupPath: string, sysRoot = "/sys"): Promise<bigint> {
  const roots = [path.join(sysRoot, "fs/cgroup"), path.join(sysRoot, "fs/cgroup/unified")];
  for (const root of roots) {
    if (!(await access(path.join(root, "cgroup.controllers")).then(() => true, () => false))) continue;
    const dir = path.join(root, cgroupPath);
    const s = await stat(dir, { bigint: true }).catch(() => null);
    if (s?.isDirectory()) return s.ino;
    throw new Error(`cgroup ${cgroupPath} does not exist (no directory ${dir})`);
  }
  throw new Error(`no cgroup v2 (unified) hierarchy at ${roots.join(" or ")}: the cgroup filter needs one`);
}
