import { For, Show, createMemo, createSignal } from "solid-js";
import { LabelError, parseLabelAssignment, validateLabelKey } from "@probepilot/shared";
import { api, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { labelRows } from "./agent-labels.ts";

type Agent = RouterOutputs["agents"]["get"];

const VIEWER_TITLE = "Viewers cannot change labels: sign in with an operator or admin token";

/**
 * An agent's effective labels with where each comes from (host facts, the agent's
 * `--label` flags, or central), and for operators a field to set (`key=value`) or
 * remove (`key-`, or the × of a central label) central labels. Input is checked
 * with the shared label rules as typed; the server's answer (or its error, shown
 * under the field) replaces the agent shown.
 */
export function AgentLabels(props: { agent: Agent; onChange: (agent: Agent) => void }) {
  const [text, setText] = createSignal("");
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);
  const rows = createMemo(() => labelRows(props.agent));

  /** `key=value` sets, `key-` removes (as `probepilot agents label` takes them); null with the error set otherwise. */
  const parse = (input: string): Record<string, string | null> | null => {
    const t = input.trim();
    if (t === "") return null;
    if (!t.includes("=") && t.endsWith("-")) {
      const key = t.slice(0, -1);
      const problem = validateLabelKey(key);
      if (problem) throw new LabelError(problem);
      if (!(key in props.agent.centralLabels)) throw new LabelError(`"${key}" is not a central label of this agent; only central labels can be removed here (host and --label labels belong to the agent)`);
      return { [key]: null };
    }
    const { key, value } = parseLabelAssignment(t);
    return { [key]: value };
  };

  const problem = createMemo(() => {
    try {
      parse(text());
      return null;
    } catch (err) {
      return err instanceof LabelError ? err.message : String(err);
    }
  });

  const send = async (changes: Record<string, string | null>) => {
    setBusy(true);
    setError(null);
    try {
      props.onChange(await api.agents.setLabels.mutate({ id: props.agent.id, labels: changes }));
      return true;
    } catch (err) {
      setError(errorMessage(err));
      return false;
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    let changes: Record<string, string | null> | null;
    try {
      changes = parse(text());
    } catch (err) {
      return setError(err instanceof Error ? err.message : String(err));
    }
    if (!changes) return setError("Type a label as key=value to set it (e.g. tier=gold), or key- to remove a central label.");
    if (await send(changes)) setText("");
  };

  const shownError = () => error() ?? (text().trim() ? problem() : null);

  return (
    <>
      <table class="label-table" aria-label="Labels">
        <tbody>
          <For each={rows()}>
            {(row) => (
              <tr>
                <td class="label-key">{row.key}</td>
                <td class="label-value">{row.value === "" ? <span class="muted">(empty)</span> : row.value}</td>
                <td
                  class="label-source"
                  title={
                    row.overrides.length
                      ? `overrides ${row.overrides.map((o) => `${o.source} ${row.key}=${o.value}`).join(", ")}; removing it brings that back`
                      : { host: "a host fact the agent detected", user: "given on the agent's command line (--label)", central: "set centrally (agents.setLabels)" }[row.source]
                  }
                >
                  {row.source}
                  {row.overrides.length ? " ↑" : ""}
                </td>
                <td class="num">
                  <Show when={row.source === "central"}>
                    <button
                      type="button"
                      class="btn btn-small btn-ghost remove-label"
                      aria-label={`Remove central label ${row.key}`}
                      title={session.canOperate() ? `Remove the central label ${row.key}` : VIEWER_TITLE}
                      disabled={busy() || !session.canOperate()}
                      onClick={() => void send({ [row.key]: null })}
                    >
                      ×
                    </button>
                  </Show>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <form class="label-form" onSubmit={submit}>
        <div class="field" classList={{ invalid: !!shownError() }}>
          <label for="label-change">Set a central label</label>
          <input
            id="label-change"
            class="mono"
            type="text"
            spellcheck={false}
            autocomplete="off"
            placeholder="tier=gold   ·   tier- removes"
            value={text()}
            disabled={!session.canOperate()}
            title={session.canOperate() ? undefined : VIEWER_TITLE}
            aria-invalid={!!shownError()}
            aria-describedby="label-change-error"
            onInput={(e) => {
              setText(e.currentTarget.value);
              setError(null);
            }}
          />
          <Show when={shownError()}>
            <div id="label-change-error" class="field-error" role="alert">
              {shownError()}
            </div>
          </Show>
        </div>
        <button type="submit" class="btn" disabled={busy() || !session.canOperate() || !!problem()} title={session.canOperate() ? undefined : VIEWER_TITLE}>
          {busy() ? "Saving…" : "Set"}
        </button>
      </form>
    </>
  );
}
