import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { NatsTrust } from "./nats-trust.ts";
import { ensureLocalTls } from "./local-tls.ts";
import { renderLocalServerConfig, renderTrustConfig } from "./server-config.ts";

export type LocalNatsConfig = {
  /** Pass to `nats-server -c`. */
  configFile: string;
  /** What clients connect to (`tls://…` with TLS). */
  url: string;
  /** The CA clients verify the server with (TLS only). */
  caFile?: string;
  storeDir: string;
  resolverDir: string;
};

/**
 * Write a single nats-server's configuration under `dir`: operator mode with this
 * control plane's trust chain, a full resolver, JetStream, and TLS with a local CA
 * (in `tlsDir`, made on first use). What `npm start` and the tests run.
 */
export async function writeLocalNatsConfig(o: { dir: string; port: number; trust: NatsTrust; host?: string; tlsDir?: string; tls?: boolean; httpPort?: number }): Promise<LocalNatsConfig> {
  const host = o.host ?? "127.0.0.1";
  const storeDir = path.join(o.dir, "jetstream-store");
  const resolverDir = path.join(o.dir, "accounts");
  await mkdir(storeDir, { recursive: true, mode: 0o700 });
  await mkdir(resolverDir, { recursive: true, mode: 0o700 });
  const tls = o.tls === false ? null : await ensureLocalTls(o.tlsDir ?? path.join(o.dir, "tls"));
  await writeFile(path.join(o.dir, "trust.conf"), await renderTrustConfig(o.trust), { mode: 0o600 });
  const configFile = path.join(o.dir, "nats-server.conf");
  const config = renderLocalServerConfig({
    host,
    port: o.port,
    storeDir,
    resolverDir,
    trustInclude: "trust.conf",
    ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
    ...(o.httpPort ? { httpPort: o.httpPort } : {}),
  });
  await writeFile(configFile, config, { mode: 0o600 });
  return { configFile, url: `${tls ? "tls" : "nats"}://${host}:${o.port}`, ...(tls ? { caFile: tls.caFile } : {}), storeDir, resolverDir };
}
