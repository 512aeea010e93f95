import type { NatsTrust } from "./nats-trust.ts";
import { PLATFORM_ACCOUNT } from "@probepilot/shared";

/**
 * The operator-mode identity part of a nats-server configuration: the trusted
 * operator, the system account, and the system and platform account JWTs
 * preloaded (so that the control plane can connect to push the tenants'
 * accounts). Include it from a main configuration that also sets the resolver
 * ({@link resolverBlock}), as infra/nats/nats-server.conf does;
 * `probepilot-control-plane nats-config` writes it.
 */
export async function renderTrustConfig(trust: NatsTrust): Promise<string> {
  const [operatorJwt, systemJwt, platformJwt] = await Promise.all([trust.operatorJwt(), trust.systemAccountJwt(), trust.platformAccountJwt()]);
  return [
    "# ProbePilot NATS trust: operator mode (decentralized JWT authentication). Generated: do not edit.",
    `# The operator, system and platform accounts live in the control plane's database (docs/security.md).`,
    `operator: ${operatorJwt}`,
    `system_account: ${trust.systemAccountPublicKey}`,
    "resolver_preload: {",
    `  # ${"SYS"}`,
    `  ${trust.systemAccountPublicKey}: ${systemJwt}`,
    `  # ${PLATFORM_ACCOUNT}`,
    `  ${trust.platformAccountPublicKey}: ${platformJwt}`,
    "}",
    "",
  ].join("\n");
}

/**
 * A full resolver: account JWTs pushed at runtime by the control plane, kept in
 * `dir`, synchronised between clustered servers. Accounts are never deleted
 * through it (a tenant's JWT only gains revocations).
 */
export function resolverBlock(dir: string): string {
  return ["resolver: {", "  type: full", `  dir: ${quote(dir)}`, "  allow_delete: false", '  interval: "2m"', "  limit: 100000", "}"].join("\n");
}

export type LocalServerOptions = {
  host: string;
  port: number;
  storeDir: string;
  /** Where the resolver keeps account JWTs. */
  resolverDir: string;
  /** The file holding `renderTrustConfig`'s output, relative to the configuration file (nats-server resolves includes so). */
  trustInclude: string;
  tls?: { certFile: string; keyFile: string };
  /** Optional monitoring port (`/varz`, `/connz`) on the same host. */
  httpPort?: number;
};

/**
 * A complete single-server configuration in operator mode with TLS, as `npm start`
 * and the tests run it (infra/nats/nats-server.conf is the production one).
 */
export function renderLocalServerConfig(o: LocalServerOptions): string {
  return [
    "# Written by ProbePilot for a single local nats-server. Generated: do not edit.",
    `host: ${quote(o.host)}`,
    `port: ${o.port}`,
    ...(o.httpPort ? [`http: ${quote(`${o.host}:${o.httpPort}`)}`] : []),
    `jetstream: { store_dir: ${quote(o.storeDir)} }`,
    ...(o.tls
      ? [
          "tls: {",
          `  cert_file: ${quote(o.tls.certFile)}`,
          `  key_file: ${quote(o.tls.keyFile)}`,
          "  timeout: 5",
          "}",
        ]
      : []),
    resolverBlock(o.resolverDir),
    `include ${quote(o.trustInclude)}`,
    "",
  ].join("\n");
}

/** A quoted string in nats-server's config syntax. */
function quote(value: string): string {
  return JSON.stringify(value);
}
