import { For, Match, Show, Switch, createUniqueId } from "solid-js";
import { describeRange, type FormErrors, type FormField, type FormValues } from "./schema-form.ts";

/**
 * The inputs of a form generated from JSON Schema (see `schema-form.ts`): one
 * labelled field per parameter with its description, bounds and default as help,
 * and its error (the client's check, or the server's words) right under it.
 * Groups (objects one level deep) are fieldsets. The caller owns the values and
 * decides when to check them.
 */
export function SchemaForm(props: {
  fields: readonly FormField[];
  values: FormValues;
  onChange: (key: string, value: string | boolean) => void;
  errors?: FormErrors;
  /** Labels by field key, instead of the property name (the wizard's "Bake (seconds)"). */
  labels?: Record<string, string>;
  /** Help by field key, instead of the schema's description. */
  help?: Record<string, string>;
  disabled?: boolean;
}) {
  const prefix = createUniqueId();
  return (
    <div class="schema-form">
      <For each={props.fields}>{(field) => <FieldView field={field} prefix={prefix} form={props} />}</For>
    </div>
  );
}

type FormProps = Parameters<typeof SchemaForm>[0];

/** Text whose `backticked` parts are code, as the schema's descriptions are written. */
export function DescriptionText(props: { text: string }) {
  return <For each={props.text.split("`")}>{(part, i) => (i() % 2 === 1 ? <code>{part}</code> : part)}</For>;
}

/** "integer from 100 to 60000 · default 1000": the constraints, for the help line. */
function constraints(field: FormField): string {
  const parts: string[] = [];
  if (field.kind === "integer" || field.kind === "number") parts.push(describeRange(field));
  if (field.kind === "string") {
    if (field.maxLength !== undefined) parts.push(`at most ${field.maxLength} characters`);
  }
  if (field.kind === "list") parts.push(`comma-separated ${field.item === "string" ? "text" : field.item === "integer" ? "whole numbers" : "numbers"}`);
  if (field.kind === "json") parts.push("JSON");
  if (field.default !== undefined && field.kind !== "group") parts.push(`default ${Array.isArray(field.default) ? field.default.join(", ") : typeof field.default === "object" ? JSON.stringify(field.default) : String(field.default)}`);
  else if (!field.required && field.kind !== "group" && field.kind !== "boolean") parts.push("optional");
  return parts.join(" · ");
}

function FieldView(props: { field: FormField; prefix: string; form: FormProps }) {
  const f = () => props.field;
  const id = () => `${props.prefix}-${props.field.key.replaceAll(".", "-")}`;
  const label = () => props.form.labels?.[f().key] ?? f().name;
  const error = () => props.form.errors?.[f().key];
  const help = () => props.form.help?.[f().key] ?? f().description;
  const text = () => {
    const v = props.form.values[f().key];
    return typeof v === "string" ? v : "";
  };
  const describedBy = () => `${id()}-help${error() ? ` ${id()}-error` : ""}`;
  const set = (value: string | boolean) => props.form.onChange(f().key, value);

  const errorLine = () => (
    <Show when={error()}>
      <div id={`${id()}-error`} class="field-error" role="alert">
        {error()}
      </div>
    </Show>
  );
  const helpLine = () => (
    <div id={`${id()}-help`} class="field-help">
      <Show when={help()}>
        <span>
          <DescriptionText text={help()!} />
        </span>{" "}
      </Show>
      <span class="field-constraints">{constraints(f())}</span>
    </div>
  );

  return (
    <Switch
      fallback={
        <div class="field" classList={{ invalid: !!error() }} data-field={f().key}>
          <label for={id()}>{label()}</label>
          <input
            id={id()}
            type="text"
            class="mono"
            inputmode={f().kind === "integer" ? "numeric" : f().kind === "number" ? "decimal" : undefined}
            spellcheck={false}
            autocomplete="off"
            value={text()}
            placeholder={f().default === undefined ? (f().kind === "list" ? "a, b, c" : "not set") : undefined}
            disabled={props.form.disabled}
            aria-invalid={!!error()}
            aria-describedby={describedBy()}
            onInput={(e) => set(e.currentTarget.value)}
          />
          {helpLine()}
          {errorLine()}
        </div>
      }
    >
      <Match when={f().kind === "group"}>
        <fieldset class="field-group" data-field={f().key}>
          <legend>{label()}</legend>
          <Show when={help()}>
            <div class="field-help">
              <DescriptionText text={help()!} />
            </div>
          </Show>
          <div class="schema-form">
            <For each={f().fields ?? []}>{(child) => <FieldView field={child} prefix={props.prefix} form={props.form} />}</For>
          </div>
          {errorLine()}
        </fieldset>
      </Match>
      <Match when={f().kind === "boolean"}>
        <div class="field field-checkbox" classList={{ invalid: !!error() }} data-field={f().key}>
          <label for={id()}>
            <input
              id={id()}
              type="checkbox"
              checked={props.form.values[f().key] === true}
              disabled={props.form.disabled}
              aria-describedby={describedBy()}
              onChange={(e) => set(e.currentTarget.checked)}
            />{" "}
            {label()}
          </label>
          {helpLine()}
          {errorLine()}
        </div>
      </Match>
      <Match when={f().kind === "enum"}>
        <div class="field" classList={{ invalid: !!error() }} data-field={f().key}>
          <label for={id()}>{label()}</label>
          <select id={id()} value={text()} disabled={props.form.disabled} aria-invalid={!!error()} aria-describedby={describedBy()} onChange={(e) => set(e.currentTarget.value)}>
            <Show when={!f().required && f().default === undefined}>
              <option value="">not set</option>
            </Show>
            <For each={f().options ?? []}>
              {(o) => (
                <option value={String(o)} selected={String(o) === text()}>
                  {String(o)}
                </option>
              )}
            </For>
          </select>
          {helpLine()}
          {errorLine()}
        </div>
      </Match>
      <Match when={f().kind === "json"}>
        <div class="field" classList={{ invalid: !!error() }} data-field={f().key}>
          <label for={id()}>{label()}</label>
          <textarea
            id={id()}
            class="mono"
            rows={3}
            spellcheck={false}
            value={text()}
            disabled={props.form.disabled}
            aria-invalid={!!error()}
            aria-describedby={describedBy()}
            onInput={(e) => set(e.currentTarget.value)}
          />
          {helpLine()}
          {errorLine()}
        </div>
      </Match>
    </Switch>
  );
}
