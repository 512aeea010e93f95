import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { AgentErrorReplySchema, type ErrorCode } from "@probepilot/shared";

/** The control plane refused a request (its code and message); other failures (unreachable, 5xx) are plain Errors. */
export class ControlPlaneRefusal extends Error {
  override readonly name = "ControlPlaneRefusal";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** How the agent reaches the control plane's HTTP(S) API (enrollment and renewal of expired credentials only). */
export type ControlPlaneEndpoint = { url: string; caFile?: string };

const MAX_REPLY_BYTES = 256 * 1024;

/**
 * POST `body` as JSON to `path` and return the parsed 2xx reply; a refusal
 * (`{ok: false, code, message}`) throws {@link ControlPlaneRefusal}. With a CA
 * file, HTTPS verifies the control plane's certificate against it.
 */
export async function postJson(endpoint: ControlPlaneEndpoint, path: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
  const url = new URL(path, endpoint.url.endsWith("/") ? endpoint.url : `${endpoint.url}/`);
  const ca = endpoint.caFile ? await readFile(endpoint.caFile) : undefined;
  const payload = Buffer.from(JSON.stringify(body));
  const send = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : null;
  if (!send) throw new Error(`control plane URL ${endpoint.url} must start with https:// (or http:// on a trusted network)`);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = send(url, { method: "POST", headers: { "content-type": "application/json", "content-length": payload.length }, timeout: timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPLY_BYTES) return void req.destroy(new Error(`reply from ${url.origin} over ${MAX_REPLY_BYTES} bytes`));
        chunks.push(chunk);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${url.origin}${url.pathname} answered ${status} with something that is not JSON (is this the ProbePilot control plane?)`);
  }
  if (status >= 200 && status < 300) return json;
  const refusal = AgentErrorReplySchema.safeParse(json);
  if (refusal.success && status < 500) throw new ControlPlaneRefusal(refusal.data.code, refusal.data.message, status);
  throw new Error(`${url.origin}${url.pathname} answered ${status}${refusal.success ? `: ${refusal.data.message}` : ""}`);
}
