import { Show, type Accessor, type JSX, type Resource } from "solid-js";
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

/** True for a call that never reached the control plane (the browser's "Failed to fetch"). */
export function isNetworkError(err: unknown): boolean {
  return errorMessage(err).toLowerCase().includes("fetch");
}

/** An API error as the server worded it, with a hint and a retry button. */
export function ErrorState(props: { error: unknown; retry?: () => void; what?: string }) {
  const code = () => errorCode(props.error);
  const isNetwork = () => isNetworkError(props.error);
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

/**
 * A panel's loading, error and loaded states in one place: the children once
 * `data` is there (kept through a failed refresh, as a poll keeps it), else the
 * error with a Retry button, else a spinner. `what` names the data in the error
 * ("the probe catalog"), `loading` in the spinner when it reads better shorter.
 */
export function Loaded<T>(props: {
  data: T | null | undefined | false;
  error: unknown;
  retry?: () => void;
  what: string;
  loading?: string;
  children: JSX.Element | ((data: Accessor<NonNullable<T>>) => JSX.Element);
}) {
  return (
    <Show when={props.data} fallback={<LoadingOrError error={props.error} retry={props.retry} what={props.what} loading={props.loading} />}>
      {props.children}
    </Show>
  );
}

/** What stands in for data not there yet: the last attempt's error (with Retry), else a spinner. */
export function LoadingOrError(props: { error: unknown; retry?: () => void; what: string; loading?: string }) {
  return (
    <Show when={props.error} fallback={<Loading what={props.loading ?? props.what} />}>
      <ErrorState error={props.error} retry={props.retry} what={props.what} />
    </Show>
  );
}

/**
 * {@link Loaded} for a `createResource`: a failed fetch shows its error in place
 * of the data (a resource that failed has no value to keep); a refetch keeps the
 * previous value on screen until the new one arrives.
 */
export function ResourceLoaded<T>(props: {
  resource: Resource<T>;
  retry: () => void;
  what: string;
  loading?: string;
  children: JSX.Element | ((data: Accessor<NonNullable<T>>) => JSX.Element);
}) {
  // `latest` throws a resource's error: read it only when there is none.
  return (
    <Loaded data={props.resource.error ? undefined : props.resource.latest} error={props.resource.error} retry={props.retry} what={props.what} loading={props.loading}>
      {props.children}
    </Loaded>
  );
}
