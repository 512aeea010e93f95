import { parseControlPlaneEnv } from "./env.ts";
import { startControlPlane } from "./server.ts";
import { ADMIN_USAGE, runAdminCommand } from "./nats/trust/admin-commands.ts";

/** `probepilot-control-plane`: the control plane as its own process, or one of its admin commands. */
async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "-h" || command === "--help" || command === "help") return void process.stdout.write(ADMIN_USAGE);
  if (command === "nats-config" || command === "nats-creds") {
    process.exitCode = await runAdminCommand(command, rest, process.env);
    return;
  }
  if (command !== undefined) {
    process.stderr.write(`probepilot-control-plane: unknown command "${command}"\n\n${ADMIN_USAGE}`);
    process.exitCode = 2;
    return;
  }
  const env = parseControlPlaneEnv(process.env);
  const cp = await startControlPlane(env);
  if (cp.bootstrap) {
    // Printed once, on the first start only; the file keeps it (mode 0600).
    console.log(`\nBootstrap admin token (also in ${cp.bootstrap.file}):\n  ${cp.bootstrap.token}\n`);
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      cp.log.info({ signal }, "shutting down");
      void cp.stop().then(() => process.exit(0));
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`probepilot-control-plane could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
