import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";

const SavedLoginSchema = z.object({ url: z.string().url(), token: z.string().min(1) });
export type SavedLogin = z.infer<typeof SavedLoginSchema>;

/** `$XDG_CONFIG_HOME/probepilot/login.json` (default `~/.config/…`), mode 0600. */
export function loginFile(env: Record<string, string | undefined>): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(base, "probepilot", "login.json");
}

export async function readSavedLogin(env: Record<string, string | undefined>): Promise<SavedLogin | null> {
  try {
    return SavedLoginSchema.parse(JSON.parse(await readFile(loginFile(env), "utf8")));
  } catch {
    return null;
  }
}

export async function saveLogin(env: Record<string, string | undefined>, login: SavedLogin): Promise<string> {
  const file = loginFile(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(login, null, 2) + "\n", { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

/**
 * Where to connect and with which token: `--url`/`--token` flags, then
 * `PROBEPILOT_URL`/`PROBEPILOT_TOKEN`, then the saved login, then the local default.
 */
export async function resolveConnection(
  flags: { url?: string; token?: string },
  env: Record<string, string | undefined>,
): Promise<{ url: string; token: string | undefined }> {
  const saved = await readSavedLogin(env);
  return {
    url: (flags.url ?? env.PROBEPILOT_URL ?? saved?.url ?? "http://127.0.0.1:7070").replace(/\/+$/, ""),
    token: flags.token ?? env.PROBEPILOT_TOKEN ?? saved?.token,
  };
}
