import { readFile } from "node:fs/promises";
import { connect, type Authenticator, type NatsConnection } from "nats";
import { NkeyPair, jwtExpiresAt, nkeyAuthenticator, parseCreds } from "@probepilot/shared/nkeys";
import type { Logger } from "../logger.ts";

/** Where and how to reach NATS: servers (comma-separated in `NATS_URL`) and the CA that signs their TLS certificates. */
export type NatsEndpoint = { servers: string[]; caFile?: string };

export function natsEndpoint(url: string, caFile?: string): NatsEndpoint {
  return { servers: url.split(",").map((s) => s.trim()).filter(Boolean), ...(caFile ? { caFile } : {}) };
}

/**
 * Connect to NATS and stay connected: reconnect forever, and log every status
 * change. `onStatus` lets the caller keep a "connected" gauge. With a CA file the
 * connection requires TLS and verifies the server's certificate against it.
 */
export async function connectNats(endpoint: NatsEndpoint, name: string, authenticator: Authenticator, log: Logger, onStatus?: (connected: boolean) => void): Promise<NatsConnection> {
  log.info({ servers: endpoint.servers, name, tls: Boolean(endpoint.caFile) }, "connecting to NATS (waits until it is reachable)");
  const nc = await connect({
    servers: endpoint.servers,
    name,
    authenticator,
    ...(endpoint.caFile ? { tls: { caFile: endpoint.caFile } } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
  });
  onStatus?.(true);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") {
        log.warn({ nats: s.type, server: s.data, name }, `NATS ${s.type}`);
        onStatus?.(s.type === "reconnect");
      } else if (s.type === "error") log.error({ err: s.data, name }, "NATS error");
    }
  })();
  return nc;
}

/**
 * An authenticator for a `.creds` file (a standalone ingester's): read once at
 * start. Says when the JWT expires, so the process can warn before it does.
 */
export async function credsFileAuthenticator(file: string): Promise<{ authenticator: Authenticator; expiresAt: number | null; name: string }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the NATS credentials file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const { jwt, seed } = parseCreds(text);
  const key = NkeyPair.fromSeed(seed);
  return { authenticator: nkeyAuthenticator(() => ({ jwt, key })), expiresAt: jwtExpiresAt(jwt), name: file };
}

/** Drain (flush what is pending) but never hang: a disconnected connection cannot drain, so close after `timeoutMs`. */
export async function closeNats(nc: NatsConnection, timeoutMs = 5000): Promise<void> {
  if (nc.isClosed()) return;
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([nc.drain().catch(() => {}), timer]);
  if (!nc.isClosed()) await nc.close();
}
