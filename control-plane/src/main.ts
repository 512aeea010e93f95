import { parseControlPlaneEnv } from "./env.ts";
import { startControlPlane } from "./server.ts";

/** `probepilot-control-plane`: the control plane as its own process. */
async function main(): Promise<void> {
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
