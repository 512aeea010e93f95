import { Show, type JSX } from "solid-js";

/** A page's title bar (with optional actions on the right) and its body. */
export function Page(props: { title: string; subtitle?: JSX.Element; actions?: JSX.Element; children: JSX.Element }) {
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-header">
        <div>
          <h1 id="page-title">{props.title}</h1>
          <Show when={props.subtitle}>
            <div class="page-subtitle">{props.subtitle}</div>
          </Show>
        </div>
        <div class="page-actions">{props.actions}</div>
      </header>
      <div class="page-body">{props.children}</div>
    </section>
  );
}

/** A titled panel on a page. */
export function Panel(props: { title?: string; actions?: JSX.Element; class?: string; children: JSX.Element }) {
  return (
    <section class={`panel ${props.class ?? ""}`}>
      <Show when={props.title || props.actions}>
        <header class="panel-header">
          <h2>{props.title}</h2>
          <div class="panel-actions">{props.actions}</div>
        </header>
      </Show>
      {props.children}
    </section>
  );
}
