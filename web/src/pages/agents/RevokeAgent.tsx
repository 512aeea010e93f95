import { Show, createSignal } from "solid-js";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { session } from "../../api/session.ts";

type Agent = RouterOutputs["agents"]["get"];

/**
 * Revoke an agent (admins): a button in the page header, then a confirm step
 * under it saying what happens. The server disconnects the agent at once and
 * refuses it from then on; the page shows the agent revoked.
 */
export function createRevokeAgent(agent: () => Agent, onRevoked: (agent: Agent) => void) {
  const [confirming, setConfirming] = createSignal(false);
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<string | null>(null);
  const revoked = () => agent().status === "revoked";
  const title = () =>
    revoked() ? "This agent is revoked" : !session.isAdmin() ? "Revoking an agent needs an admin token" : "Revoke this agent's NATS credentials: it is disconnected and refused from then on";

  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      onRevoked(await api.agents.revoke.mutate({ id: agent().id }));
      setConfirming(false);
    } catch (err) {
      setError(`Revoke failed: ${errorMessage(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const Button = () => (
    <button type="button" class="btn btn-danger" disabled={revoked() || !session.isAdmin() || busy()} title={title()} aria-pressed={confirming() ? true : undefined} onClick={() => (setError(null), setConfirming(!confirming()))}>
      {busy() ? "Revoking…" : "Revoke"}
    </button>
  );

  const Feedback = () => (
    <>
      <Show when={confirming() && !revoked()}>
        <div
          class="confirm"
          role="alertdialog"
          aria-label="Confirm revoke"
          tabindex="-1"
          ref={(el) => queueMicrotask(() => el.focus())}
          onKeyDown={(e) => {
            if (e.key === "Escape") setConfirming(false);
          }}
        >
          <p>
            Revoke {agent().hostname}? NATS disconnects it at once and refuses its key from then on; rollouts count it as gone. It can only come back by enrolling again as a new agent.
          </p>
          <div class="confirm-row">
            <button type="button" class="btn btn-danger" disabled={busy()} onClick={() => void revoke()}>
              {busy() ? "Working…" : "Revoke the agent"}
            </button>
            <button type="button" class="btn btn-ghost" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      </Show>
      <Show when={error()}>
        <div class="notice action-error" role="alert">
          {error()}
        </div>
      </Show>
    </>
  );
  return { Button, Feedback };
}
