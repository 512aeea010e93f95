import { runCli } from "@probepilot/control-plane/cli/main";

export type CliRun = { code: number; stdout: string; stderr: string };

/** Run the `probepilot` CLI in this process with `env` as its environment, capturing what it prints. */
export async function captureCli(args: string[], env: Record<string, string | undefined>, signal?: AbortSignal): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), env, ...(signal ? { signal } : {}) });
  return { code, stdout, stderr };
}
