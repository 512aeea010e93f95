import { Show, createSignal } from "solid-js";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { ActionError, ConfirmStep } from "../../components/ConfirmStep.tsx";

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
        <ConfirmStep
          label="Confirm revoke"
          text={`Revoke ${agent().hostname}? NATS disconnects it at once and refuses its key from then on; rollouts count it as gone. It can only come back by enrolling again as a new agent.`}
          confirmLabel="Revoke the agent"
          busy={busy()}
          onConfirm={() => void revoke()}
          onCancel={() => setConfirming(false)}
        />
      </Show>
      <ActionError error={error()} />
    </>
  );
  return { Button, Feedback };
}
