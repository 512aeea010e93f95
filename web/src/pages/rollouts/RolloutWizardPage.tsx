import { A, useNavigate, useSearchParams } from "@solidjs/router";
import { For, Show, createEffect, createMemo, createResource, createSignal, on, onCleanup } from "solid-js";
import { formatPercent, newId, tryParseSelector, type RolloutPreview } from "@probepilot/shared";
import { api, errorCode, errorMessage } from "../../api/client.ts";
import { session } from "../../api/session.ts";
import { Page, Panel } from "../../components/Page.tsx";
import { SelectorInput } from "../../components/SelectorInput.tsx";
import { ErrorState } from "../../components/StateViews.tsx";
import { useUrlParam } from "../../lib/url-state.ts";
import { SchemaForm } from "../probes/SchemaForm.tsx";
import { shortHash } from "../probes/probe-text.ts";
import { initialValues, serverFieldErrors, type FormErrors, type FormValues } from "../probes/schema-form.ts";
import { CanaryTable } from "./CanaryTable.tsx";
import { DEFAULT_WAVES_TEXT, STRATEGY_HELP, STRATEGY_LABELS, STRATEGY_URL_PARAMS, readStrategy, readWaves, strategyFields } from "./rollout-model.ts";
import "../probes/probes.css";
import "./rollouts.css";

/** The preview waits for typing to settle this long before asking the control plane. */
const PREVIEW_DEBOUNCE_MS = 300;

/**
 * The rollout wizard: a probe version, a selector and a strategy, with a live
 * preview (agents matching, per wave, canary strata) as they are typed. The
 * rollout id is made here, once, and given to every preview and to `create`
 * (as the CLI does with its preview's id): wave membership hashes the rollout
 * id, so the waves created are exactly the ones previewed. Probe, version,
 * selector, waves and strategy are in the URL, so a wizard can be linked to.
 */
export default function RolloutWizardPage() {
  const navigate = useNavigate();
  const [searchParams, setSearchParams] = useSearchParams<Record<string, string>>();
  const [probeName, setProbeName] = useUrlParam("probe");
  const [versionText, setVersionText] = useUrlParam("version");
  const [selector, setSelector] = useUrlParam("selector");
  // A text with a non-empty default is held here while typed: an emptied field must stay empty, not snap back to the URL's default.
  const [wavesText, setWavesTextState] = createSignal(searchParams.waves ?? DEFAULT_WAVES_TEXT);
  const setWavesText = (text: string) => {
    setWavesTextState(text);
    setSearchParams({ waves: text === DEFAULT_WAVES_TEXT ? undefined : text }, { replace: true });
  };

  const fields = strategyFields();
  const defaults = initialValues(fields);
  const [values, setValues] = createSignal<FormValues>({
    ...defaults,
    ...Object.fromEntries(Object.entries(STRATEGY_URL_PARAMS).flatMap(([key, param]) => (searchParams[param] !== undefined ? [[key, searchParams[param]!]] : []))),
  });
  const [serverErrors, setServerErrors] = createSignal<FormErrors>({});
  const onStrategyChange = (key: string, value: string | boolean) => {
    setValues({ ...values(), [key]: value });
    const param = STRATEGY_URL_PARAMS[key];
    if (param) setSearchParams({ [param]: value === defaults[key] ? undefined : String(value) }, { replace: true });
    if (serverErrors()[key]) setServerErrors(Object.fromEntries(Object.entries(serverErrors()).filter(([k]) => k !== key)));
  };

  const rolloutId = newId("rollout");

  const [probes] = createResource(() => api.probes.list.query());
  const [probe] = createResource(
    () => probeName() || undefined,
    (name) => api.probes.get.query({ probe: name }),
  );
  // Errored resources throw when read: the form reads them through these.
  const probeData = () => (probe.error ? undefined : probe.latest);
  const probesData = () => (probes.error ? undefined : probes.latest);
  const latestVersion = () => probeData()?.versions[0]?.version;
  const version = () => (versionText() ? Number(versionText()) : undefined);

  const selectorOk = () => tryParseSelector(selector()).ok;
  const waves = createMemo(() => readWaves(wavesText()));
  const strategy = createMemo(() => readStrategy(wavesText(), fields, values(), STRATEGY_LABELS));
  const [tried, setTried] = createSignal(false);
  const strategyErrors = createMemo((): FormErrors => {
    // A wrong value shows at once; a missing required one only after "Start rollout".
    const client = Object.fromEntries(Object.entries(strategy().errors).filter(([k]) => k !== "waves" && (tried() || (values()[k] ?? "") !== "")));
    return { ...client, ...serverErrors() };
  });

  // ---- live preview
  const previewInput = createMemo(
    () => {
      const name = probeName();
      const w = waves();
      if (!name || !selectorOk() || "error" in w) return null;
      return { probe: name, selector: selector(), waves: w.waves, rolloutId, ...(version() ? { version: version()! } : {}) };
    },
    null,
    { equals: (a, b) => JSON.stringify(a) === JSON.stringify(b) },
  );
  const [preview, setPreview] = createSignal<RolloutPreview | null>(null);
  // The input the shown preview answered: while the fields differ from it, the preview is dimmed as stale.
  const [previewKey, setPreviewKey] = createSignal("");
  const [previewError, setPreviewError] = createSignal<unknown>(null);
  const [previewing, setPreviewing] = createSignal(false);
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const runPreview = async (input: NonNullable<ReturnType<typeof previewInput>>): Promise<RolloutPreview | null> => {
    const mine = ++seq;
    setPreviewing(true);
    try {
      const p = await api.rollouts.preview.query(input);
      if (mine !== seq) return null; // a newer preview is on its way: this one is stale
      setPreview(p);
      setPreviewKey(JSON.stringify(input));
      setPreviewError(null);
      return p;
    } catch (err) {
      if (mine === seq) setPreviewError(err);
      throw err;
    } finally {
      if (mine === seq) setPreviewing(false);
    }
  };
  createEffect(
    on(previewInput, (input) => {
      clearTimeout(timer);
      if (!input) {
        seq++; // drop any answer still coming for the previous input
        setPreviewing(false);
        return;
      }
      setPreviewing(true);
      timer = setTimeout(() => void runPreview(input).catch(() => {}), PREVIEW_DEBOUNCE_MS);
    }),
  );
  onCleanup(() => clearTimeout(timer));
  const previewCurrent = () => !!preview() && previewKey() === JSON.stringify(previewInput());

  // ---- submit
  const [busy, setBusy] = createSignal(false);
  const [submitError, setSubmitError] = createSignal<string | null>(null);
  const [blockedBy, setBlockedBy] = createSignal<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setTried(true);
    setSubmitError(null);
    setBlockedBy(null);
    const input = previewInput();
    const s = strategy();
    if (!probeName()) return setSubmitError("Choose a probe to roll out.");
    if (!selectorOk()) return setSubmitError("Fix the selector first: its error is under the field.");
    if (!s.strategy || !input) return setSubmitError(`Fix the strategy first: ${Object.values(s.errors)[0] ?? "see the fields marked above"}`);
    setBusy(true);
    try {
      // Preview again with the same rollout id (as the CLI does): the version pinned is the one shown, and an active rollout of the kind is caught before creating.
      clearTimeout(timer);
      const fresh = await runPreview(input);
      if (!fresh) return;
      if (fresh.blockedBy) {
        setBlockedBy(fresh.blockedBy);
        return setSubmitError(`Not started: ${fresh.probe.kind} is already being rolled out by ${fresh.blockedBy}; one rollout per probe kind at a time. Let it finish, or abort or roll it back first.`);
      }
      const view = await api.rollouts.create.mutate({ probe: input.probe, version: fresh.probe.version, selector: input.selector, rolloutId, strategy: s.strategy });
      navigate(`/rollouts/${view.id}`);
    } catch (err) {
      if (errorCode(err) === "BAD_REQUEST") {
        const split = serverFieldErrors(errorMessage(err), fields, ["strategy."]);
        setServerErrors(split.fields);
        setSubmitError(split.rest.length ? split.rest.join("; ") : "The control plane refused the strategy: see the fields marked above.");
      } else {
        setSubmitError(errorMessage(err));
        const active = /rollout (rol_[0-9a-z]{26})/.exec(errorMessage(err));
        if (errorCode(err) === "CONFLICT" && active) setBlockedBy(active[1]!);
      }
    } finally {
      setBusy(false);
    }
  };

  const canOperate = () => session.canOperate();
  const probeError = () => (probe.error ? errorMessage(probe.error) : null);
  const versionMissing = () => !!version() && !!probeData() && !probeData()!.versions.some((v) => v.version === version());

  return (
    <Page title="New rollout" subtitle="Stage a probe version on the agents a selector matches, wave by wave. Nothing changes until you start it.">
      <form class="wizard" onSubmit={submit} novalidate aria-label="New rollout">
        <div class="wizard-form">
          <Panel title="What and where">
            <div class="wizard-fields">
              <div class="field" classList={{ invalid: !!probeError() }}>
                <label for="wizard-probe">Probe</label>
                <select
                  id="wizard-probe"
                  value={probeName()}
                  aria-invalid={!!probeError()}
                  aria-describedby="wizard-probe-help"
                  onChange={(e) => {
                    setProbeName(e.currentTarget.value);
                    setVersionText(""); // another probe: its latest version
                  }}
                >
                  <option value="" disabled>
                    {probes.loading ? "Loading the catalog…" : "Choose a probe…"}
                  </option>
                  <For each={probesData() ?? []}>
                    {(p) => (
                      // `selected` on the option (not only the select's value): the options arrive after the URL's probe is set.
                      <option value={p.name} selected={p.name === probeName()}>
                        {p.name}
                        {p.latest ? ` (latest v${p.latest.version})` : " (no versions)"}
                      </option>
                    )}
                  </For>
                  <Show when={probeName() && probesData() && !probesData()!.some((p) => p.name === probeName())}>
                    <option value={probeName()} selected>
                      {probeName()}
                    </option>
                  </Show>
                </select>
                <div id="wizard-probe-help" class="field-help">
                  <Show when={probeData()} fallback="The probe to stage; its versions are on the Probes page.">
                    {(p) => (
                      <>
                        {p().description} <A href={`/probes/${encodeURIComponent(p().name)}`}>Versions and specs</A>
                      </>
                    )}
                  </Show>
                </div>
                <Show when={probeError() || probes.error}>
                  <div class="field-error" role="alert">
                    {probeError() ?? errorMessage(probes.error)}
                  </div>
                </Show>
              </div>

              <div class="field" classList={{ invalid: versionMissing() }}>
                <label for="wizard-version">Version</label>
                <select id="wizard-version" value={versionText() || String(latestVersion() ?? "")} disabled={!probeData()} aria-invalid={versionMissing()} onChange={(e) => setVersionText(e.currentTarget.value === String(latestVersion()) ? "" : e.currentTarget.value)}>
                  <Show when={!probeData()}>
                    <option value="">{probeName() ? "…" : "choose a probe first"}</option>
                  </Show>
                  <For each={probeData()?.versions ?? []}>
                    {(v, i) => (
                      <option value={String(v.version)} selected={String(v.version) === (versionText() || String(latestVersion()))}>
                        v{v.version}
                        {i() === 0 ? " (latest)" : ""} · {shortHash(v.specHash)}
                      </option>
                    )}
                  </For>
                  <Show when={versionMissing()}>
                    <option value={versionText()} selected>
                      v{versionText()} (does not exist)
                    </option>
                  </Show>
                </select>
                <div class="field-help">Versions are immutable: the rollout pins this one.</div>
                <Show when={versionMissing()}>
                  <div class="field-error" role="alert">
                    {probeName()} has no version {versionText()}; pick one of v1–v{latestVersion()}.
                  </div>
                </Show>
              </div>

              <div class="wizard-selector">
                <SelectorInput label="Selector" value={selector()} onInput={setSelector} search placeholder="env=staging, region in (eu, us), !canary  (empty: every agent)" />
                <div class="field-help">Kubernetes label-selector syntax; empty matches every agent of the tenant.</div>
              </div>
            </div>
          </Panel>

          <Panel title="Strategy">
            <div class="field wizard-waves" classList={{ invalid: "error" in waves() }}>
              <label for="wizard-waves">Waves</label>
              <input
                id="wizard-waves"
                type="text"
                class="mono"
                spellcheck={false}
                autocomplete="off"
                value={wavesText()}
                aria-invalid={"error" in waves()}
                aria-describedby="wizard-waves-help wizard-waves-error"
                onInput={(e) => setWavesText(e.currentTarget.value)}
              />
              <div id="wizard-waves-help" class="field-help">
                Comma-separated, growing: shares of the matching agents (<code>10%</code>) or numbers of agents (<code>25</code>). The first wave is the canary.
              </div>
              <Show when={"error" in waves() && waves()}>
                {(w) => (
                  <div id="wizard-waves-error" class="field-error" role="alert">
                    {(w() as { error: string }).error}
                  </div>
                )}
              </Show>
            </div>
            <SchemaForm fields={fields} values={values()} onChange={onStrategyChange} errors={strategyErrors()} labels={STRATEGY_LABELS} help={STRATEGY_HELP} disabled={busy()} />
          </Panel>
        </div>

        <div class="wizard-side">
          <Panel title="Preview" actions={<Show when={previewing()}><span class="spinner" aria-label="Updating the preview" /></Show>}>
            <PreviewView preview={preview()} current={previewCurrent()} error={previewError()} hasInput={!!previewInput()} probeChosen={!!probeName()} />
          </Panel>

          <Panel class="wizard-submit">
            <Show when={preview()}>
              {(p) => (
                <p class="muted submit-summary">
                  Stages <span class="mono">{p().probe.name}@v{p().probe.version}</span> on {p().matching} agent{p().matching === 1 ? "" : "s"} in {p().waves.length} wave{p().waves.length === 1 ? "" : "s"}
                  {p().matching === 0 ? ": no agent matches now, so the rollout would have nothing to do." : "."}
                </p>
              )}
            </Show>
            <button type="submit" class="btn btn-primary" disabled={busy() || !canOperate()} title={canOperate() ? "Create the rollout and start its first wave" : "Starting a rollout needs an operator token; yours is a viewer token"}>
              {busy() ? "Starting…" : "Start rollout"}
            </button>
            <Show when={!canOperate() && session.principal()}>
              <div class="field-help">Your token is a viewer token: you can preview, but starting a rollout needs an operator token.</div>
            </Show>
            <Show when={submitError()}>
              <div class="field-error submit-error" role="alert">
                {submitError()}
                <Show when={blockedBy()}>
                  {(id) => (
                    <>
                      {" "}
                      <A href={`/rollouts/${id()}`}>Open {id()}</A>
                    </>
                  )}
                </Show>
              </div>
            </Show>
            <div class="field-help mono rollout-id" title="Previews and the rollout use this id: wave membership hashes it, so the waves started are the ones previewed">
              rollout id {rolloutId}
            </div>
          </Panel>
        </div>
      </form>
    </Page>
  );
}

/** The live preview: matching agents, per-wave sizes, canary strata, and whether an active rollout of the kind would block it. */
function PreviewView(props: { preview: RolloutPreview | null; current: boolean; error: unknown; hasInput: boolean; probeChosen: boolean }) {
  return (
    <Show
      when={props.hasInput}
      fallback={
        <p class="muted">{props.probeChosen ? "Fix the selector or the waves: the preview shows once they parse." : "Choose a probe: the preview shows how many agents the selector matches and what each wave takes."}</p>
      }
    >
      <Show when={!props.error} fallback={<ErrorState error={props.error} what="the preview" />}>
        <Show when={props.preview} fallback={<p class="muted">Counting the matching agents…</p>}>
          {(p) => (
            <div class="preview" classList={{ stale: !props.current }}>
              <div class="preview-total-line">
                <span class="stat-value" data-testid="preview-total">
                  {p().matching}
                </span>
                <span class="stat-label">
                  agent{p().matching === 1 ? "" : "s"} match <span class="mono">{p().selector || "(all agents)"}</span>
                </span>
              </div>
              <Show when={p().blockedBy}>
                {(id) => (
                  <p class="notice">
                    {p().probe.kind} is already being rolled out by <A href={`/rollouts/${id()}`}>{id()}</A>: starting this one would be refused until it ends.
                  </p>
                )}
              </Show>
              <table aria-label="Per-wave preview" class="preview-waves">
                <thead>
                  <tr>
                    <th>Wave</th>
                    <th>Target</th>
                    <th class="num">Agents</th>
                    <th class="num">Cumulative</th>
                    <th class="num">Share</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={p().waves}>
                    {(w) => (
                      <tr data-testid={`preview-wave-${w.index + 1}`}>
                        <td>
                          Wave {w.index + 1}
                          {w.index === 0 ? <span class="muted"> (canary)</span> : ""}
                        </td>
                        <td class="mono">{w.target}</td>
                        <td class="num">{w.count}</td>
                        <td class="num">{w.cumulative}</td>
                        <td class="num muted">{p().matching ? formatPercent((w.cumulative / p().matching) * 100) : "—"}</td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
              <Show when={p().canary.length > 0}>
                <h3 class="subhead">Canary strata</h3>
                <CanaryTable canary={p().canary} />
              </Show>
            </div>
          )}
        </Show>
      </Show>
    </Show>
  );
}
