import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { formatCreds, NkeyPair } from "@probepilot/shared/nkeys";
import { UsageError } from "../../cli/command.ts";
import { parseDurationSec } from "../../cli/duration.ts";
import { connectDb, migrateDb } from "../../db/client.ts";
import { parseControlPlaneEnv } from "../../env.ts";
import { createLogger } from "../../logger.ts";
import { openNatsTrust } from "./open-trust.ts";
import { INGESTER_PERMISSIONS, STATUS_WRITER_PERMISSIONS, type UserPermissions } from "./permissions.ts";
import { resolverBlock, renderTrustConfig } from "./server-config.ts";

/** Service users the control plane issues `.creds` files for, to processes that do not hold the signing keys. */
const SERVICE_ROLES: Record<string, { permissions: UserPermissions; what: string }> = {
  ingester: { permissions: INGESTER_PERMISSIONS, what: "a standalone probepilot-ingester" },
  "status-writer": { permissions: STATUS_WRITER_PERMISSIONS, what: "a status writer" },
};

export const ADMIN_USAGE = `usage: probepilot-control-plane [command]

  (no command)                      run the control plane
  nats-config --out DIR             write trust.conf (operator, system and platform accounts) for nats-server
                                    to include, and print the resolver block to put beside it
  nats-creds ROLE --out FILE        issue a .creds file for a service user (ROLE: ${Object.keys(SERVICE_ROLES).join(", ")})
              [--ttl 30d]           its lifetime (default 30d; renew by issuing again and restarting the service)

These commands use DATABASE_URL and the secret key (PROBEPILOT_SECRET_KEY, or <data dir>/secret.key)
like the control plane itself: run them where a control plane runs. See docs/security.md.
`;

/** `probepilot-control-plane nats-config|nats-creds …`; returns the exit code. */
export async function runAdminCommand(command: string, argv: string[], source: Record<string, string | undefined>): Promise<number> {
  const env = parseControlPlaneEnv(source);
  const log = createLogger("warn", { service: "control-plane-admin" });
  const db = connectDb(env.DATABASE_URL, { max: 2 });
  try {
    await migrateDb(db);
    const trust = await openNatsTrust(db, env, log);
    if (command === "nats-config") {
      const { values } = parseArgs({ args: argv, options: { out: { type: "string" } }, strict: true });
      if (!values.out) throw new UsageError("nats-config needs --out DIR");
      await mkdir(values.out, { recursive: true });
      const file = path.join(values.out, "trust.conf");
      await writeFile(file, await renderTrustConfig(trust), { mode: 0o644 });
      process.stdout.write(
        `wrote ${file}\n\nIn nats-server.conf (see infra/nats/nats-server.conf):\n\n${resolverBlock("/var/lib/nats/accounts")}\ninclude "trust.conf"\n\n` +
          `operator ${trust.operatorPublicKey}, system account ${trust.systemAccountPublicKey}, platform account ${trust.platformAccountPublicKey}\n`,
      );
      return 0;
    }
    const { values, positionals } = parseArgs({ args: argv, options: { out: { type: "string" }, ttl: { type: "string" } }, strict: true, allowPositionals: true });
    const role = positionals[0] ?? "";
    const spec = SERVICE_ROLES[role];
    if (!spec) throw new UsageError(`nats-creds: unknown role "${role}"; expected one of ${Object.keys(SERVICE_ROLES).join(", ")}`);
    if (!values.out) throw new UsageError("nats-creds needs --out FILE");
    const ttlSec = parseDurationSec(values.ttl ?? "30d", "--ttl");
    const key = NkeyPair.create("user");
    const issued = await trust.issueUser({ account: "platform", name: `probepilot-${role}`, publicKey: key.getPublicKey(), permissions: spec.permissions, ttlSec });
    await mkdir(path.dirname(path.resolve(values.out)), { recursive: true });
    await writeFile(values.out, formatCreds(issued.jwt, key.seedText()), { mode: 0o600 });
    await chmod(values.out, 0o600);
    process.stdout.write(`wrote ${values.out} (mode 0600): NATS credentials for ${spec.what}, expiring ${new Date(issued.expiresAt).toISOString()}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
