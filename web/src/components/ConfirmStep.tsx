import { Show, type JSX } from "solid-js";

/**
 * The confirm step of a destructive action (abort or roll back a rollout, revoke an
 * agent): what will happen, then Confirm and Cancel. Esc cancels. `children` go
 * before the buttons (a reason field, which then takes the focus); without them the
 * step itself takes the focus, so the keyboard lands on it.
 */
export function ConfirmStep(props: { label: string; text: JSX.Element; confirmLabel: string; busy: boolean; disabled?: boolean; onConfirm: () => void; onCancel: () => void; children?: JSX.Element }) {
  return (
    <div
      class="confirm"
      role="alertdialog"
      aria-label={props.label}
      tabindex="-1"
      ref={(el) => queueMicrotask(() => el.contains(document.activeElement) || el.focus())}
      onKeyDown={(e) => {
        if (e.key === "Escape") props.onCancel();
      }}
    >
      <p>{props.text}</p>
      <div class="confirm-row">
        {props.children}
        <button type="button" class="btn btn-danger" disabled={props.busy || props.disabled} onClick={() => props.onConfirm()}>
          {props.busy ? "Working…" : props.confirmLabel}
        </button>
        <button type="button" class="btn btn-ghost" onClick={() => props.onCancel()}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** What went wrong with an action, under it. */
export function ActionError(props: { error: string | null }) {
  return (
    <Show when={props.error}>
      <div class="notice action-error" role="alert">
        {props.error}
      </div>
    </Show>
  );
}
