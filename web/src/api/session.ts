import { createSignal } from "solid-js";
import type { RouterOutputs } from "./client.ts";

const STORAGE_KEY = "probepilot.token";

export type Principal = RouterOutputs["system"]["whoami"];

function readStoredToken(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the session lasts as long as the tab
  }
}

const [token, setToken] = createSignal<string | null>(readStoredToken());
const [principal, setPrincipal] = createSignal<Principal | null>(null);
const [expired, setExpired] = createSignal(false);
const [expiredReason, setExpiredReason] = createSignal<string | null>(null);

/**
 * The signed-in session: the bearer token (kept in localStorage so that a reload
 * or a deep link in a new tab stays signed in) and who it belongs to.
 */
export const session = {
  token,
  principal,
  /** True once the server refused the stored token (the sign-in page says so). */
  expired,
  /** The server's words when it refused the token (revoked, expired at …), if it said. */
  expiredReason,
  signIn(newToken: string, who: Principal) {
    try {
      localStorage.setItem(STORAGE_KEY, newToken);
    } catch {
      /* storage disabled: keep it in memory only */
    }
    setExpired(false);
    setExpiredReason(null);
    setPrincipal(who);
    setToken(newToken);
  },
  setPrincipal,
  signOut() {
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch {
      /* nothing stored */
    }
    setPrincipal(null);
    setToken(null);
  },
  expire(reason?: string) {
    setExpiredReason(reason ?? null);
    setExpired(true);
    session.signOut();
  },
  /** Operators and admins may change things; viewers only look. */
  canOperate: () => principal()?.role === "operator" || principal()?.role === "admin",
  /** Admins also manage tokens and revoke agents. */
  isAdmin: () => principal()?.role === "admin",
};
