import { A, useParams } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createResource, createSignal, on } from "solid-js";
import { PROBE_KIND_SUMMARIES, type ProbeKind, type ProbeVersionView } from "@probepilot/shared";
import { api, errorCode, errorMessage, type RouterOutputs } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { StateBadge } from "../../components/Badges.tsx";
import { Page, Panel } from "../../components/Page.tsx";
import { Empty, LoadingOrError, ResourceLoaded } from "../../components/StateViews.tsx";
import { formatAgo, formatTime, shortActor } from "../../lib/format.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { DescriptionText, SchemaForm } from "./SchemaForm.tsx";
import { paramText, shortHash } from "./probe-text.ts";
import { canonicalSpecText, changedParams, fieldsFromSchema, initialValues, leafFields, readForm, serverFieldErrors, type FormErrors, type FormField, type FormValues, type JsonSchema } from "./schema-form.ts";
import "./probes.css";

type ProbeDetail = RouterOutputs["probes"]["get"];

/**
 * One probe: its versions, the spec of the selected one (`?version=N`, the latest
 * by default), a form generated from the kind's parameter schema to create the
 * next version, and a link to roll the selected version out.
 */
export default function ProbeDetailPage() {
  const params = useParams<{ name: string }>();
  const [versionParam, setVersionParam] = useUrlParam("version");
  const [probe, { refetch }] = createResource(
    () => params.name,
    (name) => api.probes.get.query({ probe: name }),
  );
  // An errored resource throws when read: everything outside the error view reads it through this.
  const probeData = () => (probe.error ? undefined : probe.latest);
  const [schema] = createResource(
    () => probeData()?.kind,
    (kind) => api.probes.paramsSchema.query({ kind }),
  );
  const fields = createMemo(() => (!schema.error && schema() ? fieldsFromSchema(schema() as JsonSchema) : []));

  const wanted = () => (versionParam() ? Number(versionParam()) : undefined);
  const selected = createMemo((): ProbeVersionView | undefined => {
    const p = probeData();
    if (!p) return undefined;
    return p.versions.find((v) => v.version === wanted()) ?? p.versions[0];
  });
  const missingVersion = () => wanted() !== undefined && probeData() && selected()?.version !== wanted();

  return (
    <Show when={probeData()} fallback={<Page title={params.name}><LoadingOrError error={probe.error} retry={refetch} what={`probe ${params.name}`} /></Page>}>
      {(p) => (
        <Page
          title={p().name}
          subtitle={
            <>
              <span class="mono">{p().kind}</span> · {p().description || PROBE_KIND_SUMMARIES[p().kind as ProbeKind]} · {p().default ? "runs by default on every agent" : "opt-in: runs where a rollout puts it"}
            </>
          }
          actions={
            <Show when={selected()}>
              {(v) => (
                <A class="btn btn-primary" href={`/rollouts/new?probe=${encodeURIComponent(p().name)}&version=${v().version}`}>
                  Roll out this version
                </A>
              )}
            </Show>
          }
        >
          <Show when={missingVersion()}>
            <p class="notice">
              {p().name} has no version {versionParam()}; showing the latest, v{p().versions[0]?.version}.
            </p>
          </Show>
          <div class="grid probe-detail-grid">
            <Panel title="Versions" class="probe-versions">
              <Show when={p().versions.length > 0} fallback={<Empty title="No versions yet">Create the first one with the form below.</Empty>}>
                <VersionsTable probe={p()} selected={selected()?.version} />
              </Show>
            </Panel>
            <Show when={selected()}>{(v) => <SpecPanel version={v()} fields={fields()} />}</Show>
          </div>
          <CreateVersionPanel
            probe={p()}
            base={selected()}
            fields={fields()}
            schemaError={schema.error}
            onVersion={(n) => {
              setVersionParam(String(n));
              void refetch();
            }}
          />
          <ProbeRollouts name={p().name} />
        </Page>
      )}
    </Show>
  );
}

function VersionsTable(props: { probe: ProbeDetail; selected: number | undefined }) {
  return (
    <div class="scroll versions-scroll">
      <table aria-label="Versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>Spec hash</th>
            <th>Created</th>
            <th>By</th>
          </tr>
        </thead>
        <tbody>
          <For each={props.probe.versions}>
            {(v, i) => (
              <tr aria-selected={v.version === props.selected}>
                <td class="nowrap">
                  <A href={`/probes/${encodeURIComponent(props.probe.name)}?version=${v.version}`} class="mono strong">
                    v{v.version}
                  </A>
                  <Show when={i() === 0}>
                    {" "}
                    <span class="badge">latest</span>
                  </Show>
                </td>
                <td class="mono muted" title={v.specHash}>
                  {shortHash(v.specHash)}
                </td>
                <td class="nowrap" title={formatTime(Date.parse(v.createdAt))}>
                  {formatAgo(Date.parse(v.createdAt))}
                </td>
                <td class="muted" title={v.createdBy}>
                  {shortActor(v.createdBy)}
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
    </div>
  );
}

/** The selected version's parameters, readable (with the schema's words), then the canonical spec its hash is computed from. */
function SpecPanel(props: { version: ProbeVersionView; fields: readonly FormField[] }) {
  const leaves = createMemo(() => leafFields(props.fields));
  const rows = createMemo(() => {
    const known = new Set(leaves().map((f) => f.key));
    const extra = Object.keys(props.version.params).filter((k) => !known.has(k));
    return [
      ...leaves().map((f) => ({ key: f.key, value: lookup(props.version.params, f.key), field: f as FormField | undefined })),
      ...extra.map((k) => ({ key: k, value: props.version.params[k], field: undefined })),
    ];
  });
  return (
    <Panel title={`Spec of v${props.version.version}`} class="probe-spec">
      <div class="muted spec-meta">
        created {formatTime(Date.parse(props.version.createdAt))} by <span title={props.version.createdBy}>{shortActor(props.version.createdBy)}</span> · <span class="mono" title="sha256 of the canonical spec below">{props.version.specHash}</span>
      </div>
      <table aria-label="Parameters" class="params-table">
        <thead>
          <tr>
            <th>Parameter</th>
            <th>Value</th>
            <th>Meaning</th>
          </tr>
        </thead>
        <tbody>
          <For each={rows()}>
            {(r) => (
              <tr>
                <td class="mono">{r.key}</td>
                <td class="mono param-value">
                  <span classList={{ muted: r.value === undefined }}>{paramText(r.value)}</span>
                  <Show when={r.field?.default !== undefined && JSON.stringify(r.field?.default) === JSON.stringify(r.value)}>
                    {" "}
                    <span class="badge" title="The kind's default value">default</span>
                  </Show>
                </td>
                <td class="muted param-meaning">
                  <DescriptionText text={r.field?.description ?? ""} />
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <details class="canonical-spec">
        <summary>Canonical spec (JSON)</summary>
        <pre class="mono">{canonicalSpecText({ kind: props.version.kind, params: props.version.params })}</pre>
      </details>
    </Panel>
  );
}

function lookup(params: Record<string, unknown>, key: string): unknown {
  return key.split(".").reduce<unknown>((cur, part) => (cur && typeof cur === "object" ? (cur as Record<string, unknown>)[part] : undefined), params);
}

type Outcome = { tone: "ok" | "info"; text: string };

/**
 * "Create version": the kind's parameters as a generated form, pre-filled from
 * the selected version. Client-side checks come from the schema; the server's
 * 400 message goes under the fields it names. The same spec again is not a new
 * version: the server answers with the existing one, and the form says so.
 */
function CreateVersionPanel(props: { probe: ProbeDetail; base: ProbeVersionView | undefined; fields: readonly FormField[]; schemaError: unknown; onVersion: (version: number) => void }) {
  const [values, setValues] = createSignal<FormValues>({});
  const [serverErrors, setServerErrors] = createSignal<FormErrors>({});
  const [formError, setFormError] = createSignal<string | null>(null);
  const [outcome, setOutcome] = createSignal<Outcome | null>(null);
  const [busy, setBusy] = createSignal(false);
  const [tried, setTried] = createSignal(false);

  const reset = () => {
    setValues(initialValues(props.fields, props.base?.params));
    setServerErrors({});
    setFormError(null);
    setTried(false);
  };
  // A new base version (or the schema arriving) starts the form again from that version's parameters.
  createEffect(on([() => props.fields, () => props.base?.version], reset));

  const read = createMemo(() => readForm(props.fields, values()));
  const changes = createMemo(() => changedParams(props.base?.params ?? {}, read().params));
  // Required-but-empty is only an error once the operator tried to submit; a wrong value shows at once.
  const errors = createMemo((): FormErrors => {
    const client = Object.fromEntries(Object.entries(read().errors).filter(([k]) => tried() || (values()[k] ?? "") !== ""));
    return { ...client, ...serverErrors() };
  });

  const onChange = (key: string, value: string | boolean) => {
    setValues({ ...values(), [key]: value });
    setOutcome(null);
    if (serverErrors()[key]) {
      const { [key]: _gone, ...rest } = serverErrors();
      setServerErrors(rest);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    // Kept now: an event's currentTarget is gone once the handler awaits.
    const form = e.currentTarget as HTMLElement;
    setTried(true);
    setFormError(null);
    setOutcome(null);
    if (Object.keys(read().errors).length > 0) {
      focusField(form, Object.keys(read().errors)[0]!);
      return;
    }
    setBusy(true);
    try {
      const created = await api.probes.createVersion.mutate({ probe: props.probe.name, params: read().params });
      setOutcome(
        created.created
          ? { tone: "ok", text: `Created v${created.version} (spec ${shortHash(created.specHash)}).` }
          : { tone: "info", text: `Same spec as v${created.version}: versions are immutable and named by their spec hash, so nothing new was created. Showing v${created.version}.` },
      );
      setTried(false);
      props.onVersion(created.version);
    } catch (err) {
      if (errorCode(err) === "BAD_REQUEST") {
        const split = serverFieldErrors(errorMessage(err), props.fields);
        setServerErrors(split.fields);
        setFormError(split.rest.length ? split.rest.join("; ") : Object.keys(split.fields).length ? "The server refused some parameters: see the fields marked above." : errorMessage(err));
        const first = Object.keys(split.fields)[0];
        if (first) focusField(form, first);
      } else setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const canOperate = () => session.canOperate();

  return (
    <Panel title={`Create version${props.base ? ` (from v${props.base.version})` : ""}`} class="create-version">
      <Show when={!props.schemaError && props.fields.length > 0} fallback={<LoadingOrError error={props.schemaError} what={`the ${props.probe.kind} parameter schema`} loading="the parameter schema" />}>
        <form onSubmit={submit} novalidate aria-label="Create version">
          <SchemaForm fields={props.fields} values={values()} onChange={onChange} errors={errors()} disabled={busy()} />
          <div class="form-footer">
            <div class="changes" aria-live="polite">
              <Show when={changes().length > 0} fallback={<span class="muted">No changes from v{props.base?.version ?? "—"} yet: edit a parameter above.</span>}>
                <span class="muted">Changes from v{props.base?.version}:</span>{" "}
                <For each={changes()}>
                  {(c) => (
                    <span class="change mono">
                      {c.key} {paramText(c.before)} → {c.after === undefined ? "default" : paramText(c.after)}
                    </span>
                  )}
                </For>
              </Show>
            </div>
            <div class="form-actions">
              <button type="button" class="btn" onClick={() => (reset(), setOutcome(null))} disabled={busy()}>
                Reset
              </button>
              <button type="submit" class="btn btn-primary" disabled={busy() || !canOperate()} title={canOperate() ? "Create the next version of this probe with these parameters" : "Creating versions needs an operator token; yours is a viewer token"}>
                {busy() ? "Creating…" : "Create version"}
              </button>
            </div>
          </div>
          <Show when={formError()}>
            <div class="field-error form-error" role="alert">
              {formError()}
            </div>
          </Show>
          <Show when={outcome()}>
            {(o) => (
              <div class="outcome" data-tone={o().tone} role="status">
                {o().text}
              </div>
            )}
          </Show>
        </form>
      </Show>
    </Panel>
  );
}

/** Moves focus to a field's input so that the operator lands on what to fix. */
function focusField(form: HTMLElement, key: string) {
  form.querySelector<HTMLElement>(`[data-field="${CSS.escape(key)}"] input, [data-field="${CSS.escape(key)}"] select, [data-field="${CSS.escape(key)}"] textarea`)?.focus();
}

/** The latest rollouts of this probe (any version), so that the probe page says where its versions went. */
function ProbeRollouts(props: { name: string }) {
  const [rollouts, { refetch }] = createResource(
    () => props.name,
    async (name) => (await api.rollouts.list.query({ limit: 200 })).filter((r) => r.probe.name === name).slice(0, 10),
  );
  return (
    <Panel title="Rollouts of this probe">
      <ResourceLoaded resource={rollouts} retry={refetch} what="rollouts">
        {(list) => (
          <Show when={list().length > 0} fallback={<Empty title="Never rolled out">Pick a version above and use "Roll out this version".</Empty>}>
            <table aria-label="Rollouts of this probe">
              <thead>
                <tr>
                  <th>Rollout</th>
                  <th>Version</th>
                  <th>Selector</th>
                  <th>State</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                <For each={list()}>
                  {(r) => (
                    <tr>
                      <td>
                        <A href={`/rollouts/${r.id}`} class="mono">
                          {r.id}
                        </A>
                      </td>
                      <td class="mono">v{r.probe.version}</td>
                      <td class="mono">{r.selector || <span class="muted">(all agents)</span>}</td>
                      <td>
                        <StateBadge state={r.state} />
                      </td>
                      <td title={formatTime(Date.parse(r.createdAt))}>{formatAgo(Date.parse(r.createdAt))}</td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </Show>
        )}
      </ResourceLoaded>
    </Panel>
  );
}
