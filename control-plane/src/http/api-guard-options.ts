import type { BucketPolicy } from "./rate-limit.ts";

/** What guards the API (`/trpc/*`); from the environment (`apiGuardOptionsFromEnv` in env.ts), see docs/api-hardening.md. */
export type ApiGuardOptions = {
  /** Per verified API token. */
  tokenRate: BucketPolicy;
  /** Per client address, for requests without a token this process has verified (none, unknown, revoked, expired). */
  anonRate: BucketPolicy;
  /**
   * Per client address on the agent routes (`/v1/agents/enroll|renew`, no API token): generous,
   * because a fleet behind one address enrolls at once, but bounded (each is a database transaction).
   */
  agentRate: BucketPolicy;
  /** Larger request bodies are refused with 413 before they are read. */
  maxBodyBytes: number;
  /** Origins (scheme://host[:port]) whose pages may call the API; `*` any. Same-origin pages always may. */
  corsOrigins: string[];
  /** Take the client address from the last `X-Forwarded-For` entry (behind one trusted reverse proxy). */
  trustProxy: boolean;
};

export const DEFAULT_API_GUARD: ApiGuardOptions = {
  tokenRate: { perSecond: 50, burst: 200 },
  anonRate: { perSecond: 10, burst: 100 },
  agentRate: { perSecond: 200, burst: 5000 },
  maxBodyBytes: 1024 * 1024,
  corsOrigins: [],
  trustProxy: false,
};
