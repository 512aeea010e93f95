import { createSignal, Show } from "solid-js";
import { useNavigate, useSearchParams } from "@solidjs/router";
import { clientForToken, errorMessage } from "../api/client.ts";
import { session } from "../api/session.ts";

/** Sign in with an API token (`npm start` prints the admin token and writes it to .probepilot/admin-token). */
export function SignInPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams<{ next?: string }>();
  const [token, setToken] = createSignal("");
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const value = token().trim();
    if (!value) return setError("Paste a token: `npm start` printed one, and wrote it to .probepilot/admin-token.");
    setBusy(true);
    setError(null);
    try {
      const who = await clientForToken(value).system.whoami.query();
      session.signIn(value, who);
      const next = params.next && params.next.startsWith("/") && !params.next.startsWith("//") ? params.next : "/";
      navigate(next, { replace: true });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="sign-in">
      <form class="panel sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">
          <img src="/favicon.svg" alt="" width="28" height="28" /> ProbePilot
        </h1>
        <Show when={session.expired()}>
          <p class="notice" data-testid="session-ended">
            {session.expiredReason() ? `Your session ended: ${session.expiredReason()}` : "Your session ended: the server refused the token. Sign in again."}
          </p>
        </Show>
        <div class="field">
          <label for="token">Access token</label>
          <input id="token" type="password" class="mono" autocomplete="current-password" autofocus placeholder="ppt_…" value={token()} onInput={(e) => setToken(e.currentTarget.value)} aria-invalid={!!error()} aria-describedby="token-help token-error" />
          <div id="token-help" class="field-help">
            <code>npm start</code> printed the admin token and wrote it to <code>.probepilot/admin-token</code>; <code>probepilot tokens create</code> makes more.
          </div>
          <Show when={error()}>
            <div id="token-error" class="field-error" role="alert">
              {error()}
            </div>
          </Show>
        </div>
        <button type="submit" class="btn btn-primary" disabled={busy()}>
          {busy() ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
