import type { NatsConnection } from "nats";

/** Drain (flush what is pending) but never hang: a disconnected connection cannot drain, so close after `timeoutMs`. */
export async function closeNats(nc: NatsConnection, timeoutMs = 5000): Promise<void> {
  if (nc.isClosed()) return;
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([nc.drain().catch(() => {}), timer]);
  if (!nc.isClosed()) await nc.close();
}
