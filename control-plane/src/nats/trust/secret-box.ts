import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Seals the NATS seeds the control plane keeps in Postgres (AES-256-GCM). The key
 * comes from `PROBEPILOT_SECRET_KEY` (32 bytes, base64 or hex) and never reaches
 * the database, so a database dump alone cannot mint credentials. The row and
 * field a value belongs to are bound in as associated data: a sealed seed copied
 * into another row does not open.
 *
 * Rotation: start with the new key as `PROBEPILOT_SECRET_KEY` and the old one as
 * `PROBEPILOT_SECRET_KEY_PREVIOUS`; values sealed with the old key still open and
 * are sealed again with the new one at start (`resealed`). Then drop the old key.
 */
export class SecretBox {
  private constructor(
    private readonly current: Buffer,
    private readonly previous: Buffer[],
  ) {}

  /** From key texts (base64 or hex of 32 bytes), the current one first. */
  static fromKeys(current: string, previous: string[] = []): SecretBox {
    return new SecretBox(parseKey(current, "PROBEPILOT_SECRET_KEY"), previous.map((k) => parseKey(k, "PROBEPILOT_SECRET_KEY_PREVIOUS")));
  }

  /** A fresh random key, as base64 text. */
  static newKeyText(): string {
    return randomBytes(32).toString("base64");
  }

  /**
   * The key stored in `file` (mode 0600), made on first use: what a single control
   * plane without `PROBEPILOT_SECRET_KEY` uses (the local stack, tests). Several
   * control planes must share one key: set `PROBEPILOT_SECRET_KEY` on each.
   */
  static async keyFromFile(file: string): Promise<{ key: string; created: boolean }> {
    try {
      return { key: (await readFile(file, "utf8")).trim(), created: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const key = SecretBox.newKeyText();
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: "wx" }).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error; // another process made it first: use theirs
    });
    await chmod(file, 0o600);
    return { key: (await readFile(file, "utf8")).trim(), created: true };
  }

  seal(plaintext: string, binding: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.current, iv);
    cipher.setAAD(Buffer.from(binding));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString("base64url")}.${body.toString("base64url")}`;
  }

  /** The plaintext, and whether it was sealed with a previous key (then seal it again). */
  open(sealed: string, binding: string): { plaintext: string; stale: boolean } {
    const [version, ivText, bodyText] = sealed.split(".");
    if (version !== "v1" || !ivText || !bodyText) throw new SecretBoxError(`sealed value for ${binding} is not in the v1 format`);
    const iv = Buffer.from(ivText, "base64url");
    const body = Buffer.from(bodyText, "base64url");
    for (const [index, key] of [this.current, ...this.previous].entries()) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv);
        decipher.setAAD(Buffer.from(binding));
        decipher.setAuthTag(body.subarray(body.length - 16));
        const plaintext = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
        return { plaintext, stale: index > 0 };
      } catch {
        // not this key
      }
    }
    throw new SecretBoxError(
      `cannot open the sealed ${binding}: PROBEPILOT_SECRET_KEY is not the key it was sealed with (after a key change, pass the old one as PROBEPILOT_SECRET_KEY_PREVIOUS)`,
    );
  }
}

export class SecretBoxError extends Error {
  override readonly name = "SecretBoxError";
}

function parseKey(text: string, name: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (key.length !== 32) throw new SecretBoxError(`${name} must be 32 bytes as base64 (44 characters) or hex (64 characters); got ${key.length} bytes`);
  return key;
}

/**
 * The control plane's secret box from its configuration: `PROBEPILOT_SECRET_KEY`
 * (and `…_PREVIOUS` while rotating), or else the key file in the data directory.
 */
export async function secretBoxFromEnv(env: { PROBEPILOT_SECRET_KEY?: string | undefined; PROBEPILOT_SECRET_KEY_PREVIOUS?: string | undefined; dataDir: string }): Promise<{ box: SecretBox; source: string }> {
  const previous = env.PROBEPILOT_SECRET_KEY_PREVIOUS?.split(",").map((k) => k.trim()).filter(Boolean) ?? [];
  if (env.PROBEPILOT_SECRET_KEY) return { box: SecretBox.fromKeys(env.PROBEPILOT_SECRET_KEY, previous), source: "PROBEPILOT_SECRET_KEY" };
  const file = path.join(env.dataDir, "secret.key");
  const { key, created } = await SecretBox.keyFromFile(file);
  return { box: SecretBox.fromKeys(key, previous), source: created ? `${file} (new)` : file };
}
