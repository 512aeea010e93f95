// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// Node's WebCrypto is what the library expects of a browser's (the types differ only in name).
x509.cryptoProvider.set(webcrypto as never);

/** Where a local certificate authority and its server certificate live. */
export type LocalTlsFiles = { dir: string; caFile: string; caKeyFile: string; certFile: string; keyFile: string };

export const localTlsFiles = (dir: string): LocalTlsFiles => ({
  dir,
  caFile: path.join(dir, "ca.pem"),
  caKeyFile: path.join(dir, "ca-key.pem"),
  certFile: path.join(dir, "server.pem"),
  keyFile: path.join(dir, "server-key.pem"),
});

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 3600 * 1000;
/** Renew the server certificate when less than this is left. */
const RENEW_BEFORE_MS = 30 * DAY_MS;

/**
 * A local certificate authority (10 years) and a server certificate it signs
 * (1 year) for loopback and this host's name: what `npm start` and the tests give
 * nats-server (and the control plane's HTTPS, when asked). Made on first use in
 * `dir` (keys mode 0600); the server certificate is made again when it nears
 * expiry. Clients trust `ca.pem`. Production uses real certificates (docs/security.md).
 */
export async function ensureLocalTls(dir: string, opts: { hosts?: string[] } = {}): Promise<LocalTlsFiles & { created: boolean }> {
  const files = localTlsFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let created = false;
  let ca: { cert: x509.X509Certificate; key: CryptoKey };
  if (existsSync(files.caFile) && existsSync(files.caKeyFile)) {
    ca = { cert: new x509.X509Certificate(await readFile(files.caFile, "utf8")), key: await importKey(await readFile(files.caKeyFile, "utf8")) };
  } else {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=ProbePilot local CA (${hostname()})`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3650 * DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    await writeSecret(files.caKeyFile, await exportKey(keys.privateKey));
    await writeFile(files.caFile, cert.toString("pem") + "\n", { mode: 0o644 });
    ca = { cert, key: keys.privateKey };
    created = true;
  }

  const current = existsSync(files.certFile) && existsSync(files.keyFile) ? new x509.X509Certificate(await readFile(files.certFile, "utf8")) : null;
  if (!current || current.notAfter.getTime() - Date.now() < RENEW_BEFORE_MS || current.issuer !== ca.cert.subject) {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
    const hosts = [...new Set(["localhost", hostname(), ...(opts.hosts ?? [])])];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${hostname()}`,
      issuer: ca.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 365 * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: ca.key,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...hosts.map((value) => ({ type: "dns" as const, value })),
          { type: "ip", value: "127.0.0.1" },
          { type: "ip", value: "::1" },
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
    await writeSecret(files.keyFile, await exportKey(keys.privateKey));
    await writeFile(files.certFile, cert.toString("pem") + "\n", { mode: 0o644 });
    created = true;
  }
  return { ...files, created };
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  return webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]) as Promise<CryptoKey>;
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** A positive 16-byte serial (a leading 0x7f bound keeps it positive in DER). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
