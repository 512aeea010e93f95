import { Show, type JSX } from "solid-js";
import { errorCode, errorMessage } from "../api/client.ts";

/** A spinner line for a panel whose data is on its way. */
export function Loading(props: { what?: string }) {
  return (
    <div class="state state-loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {props.what ?? ""}…
    </div>
  );
}

/** Nothing to show, and what to do about it. */
export function Empty(props: { title: string; children?: JSX.Element }) {
  return (
    <div class="state state-empty">
      <strong>{props.title}</strong>
      <Show when={props.children}>
        <div class="state-hint">{props.children}</div>
      </Show>
    </div>
  );
}

const HINTS: Record<string, string> = {
  UNAUTHORIZED: "Your token was refused: sign in again with a valid token.",
  FORBIDDEN: "Your token's role does not allow this; ask an admin for an operator token.",
  NOT_FOUND: "It may have been deleted, or the link is wrong.",
  BAD_REQUEST: "Fix the input as the message says and try again.",
  INTERNAL_SERVER_ERROR: "The control plane failed; its log has the details. Try again.",
};

/** An API error as the server worded it, with a hint and a retry button. */
export function ErrorState(props: { error: unknown; retry?: () => void; what?: string }) {
  const code = () => errorCode(props.error);
  const isNetwork = () => errorMessage(props.error).toLowerCase().includes("fetch");
  return (
    <div class="state state-error" role="alert">
      <strong>Could not load {props.what ?? "this"}</strong>
      <div class="state-message">{errorMessage(props.error)}</div>
      <div class="state-hint">{isNetwork() ? "The control plane is not reachable: is `npm start` still running?" : (HINTS[code() ?? ""] ?? "")}</div>
      <Show when={props.retry}>
        <button type="button" class="btn" onClick={() => props.retry?.()}>
          Retry
        </button>
      </Show>
    </div>
  );
}
