import { connect, type NatsConnection } from "nats";
import type { Logger } from "../logger.ts";

/**
 * Connect to NATS and stay connected: reconnect forever, and log every status
 * change. `onStatus` lets the caller keep a "connected" gauge.
 */
export async function connectNats(url: string, name: string, log: Logger, onStatus?: (connected: boolean) => void): Promise<NatsConnection> {
  log.info({ url }, "connecting to NATS (waits until it is reachable)");
  const nc = await connect({ servers: url.split(","), name, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: true });
  onStatus?.(true);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") {
        log.warn({ nats: s.type, server: s.data }, `NATS ${s.type}`);
        onStatus?.(s.type === "reconnect");
      } else if (s.type === "error") log.error({ err: s.data }, "NATS error");
    }
  })();
  return nc;
}

/** Drain (flush what is pending) but never hang: a disconnected connection cannot drain, so close after `timeoutMs`. */
export async function closeNats(nc: NatsConnection, timeoutMs = 5000): Promise<void> {
  if (nc.isClosed()) return;
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([nc.drain().catch(() => {}), timer]);
  if (!nc.isClosed()) await nc.close();
}
