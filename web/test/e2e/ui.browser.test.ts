import { afterAll, beforeAll, expect, it } from "vitest";
import { parseWaves } from "@probepilot/shared";
import { Ui, builtWebDir, describeInBrowser, installUiHooks } from "./support/browser.ts";
import { FLEET_SELECTOR, LOCAL_AGENT_SELECTOR, PROFILING, startE2eStack, type E2eStack } from "./support/e2e-stack.ts";
import { waitFor } from "@probepilot/testkit/poll";

/**
 * The web app as an operator uses it, in Debian's Chromium: the app built for this
 * run, served by a real control plane (fresh database, its own nats-server), with a
 * real `probepilot-agent` on this host and a simulated fleet of 20 agents. Every
 * page visited leaves a screenshot in test-artifacts/screenshots/.
 */
let stack: E2eStack;
let ui: Ui;

/** The rollout the wizard test creates; the later pages show it. */
let rolloutId: string | undefined;

describeInBrowser("the web UI in a real browser", () => {
  beforeAll(async () => {
    stack = await startE2eStack({ webDir: builtWebDir(), fleetSize: 20 });
    ui = await Ui.open(stack.url);
  });

  afterAll(async () => {
    await ui?.close();
    await stack?.stop();
  });

  installUiHooks(() => ui);

  const page = () => ui.page;
  const text = async (testId: string) => ((await page().getByTestId(testId).textContent()) ?? "").trim();

  it("signs in: a wrong token shows the server's error on the sign-in page, the admin token opens the page asked for", async () => {
    // A deep link before signing in goes to the sign-in page, which remembers where to go.
    await ui.goto("/agents");
    await page().getByLabel("Access token").waitFor();
    expect(ui.path()).toBe(`/sign-in?next=${encodeURIComponent("/agents")}`);

    await page().getByLabel("Access token").fill("ppt_not_a_real_token");
    await page().getByRole("button", { name: "Sign in" }).click();
    const error = page().getByRole("alert");
    await error.waitFor();
    expect((await error.textContent())?.trim()).toMatch(/token/i); // the server's words ("invalid API token: …"), not an empty box
    expect(ui.path()).toMatch(/^\/sign-in/);
    await ui.screenshot("sign-in-wrong-token");

    await page().getByLabel("Access token").fill(stack.adminToken);
    await page().getByRole("button", { name: "Sign in" }).click();
    await waitFor(() => ui.path().startsWith("/agents"), { what: "the app to open /agents after signing in", debug: () => ui.logText() });

    // Signed in, the root is Mission Control.
    await ui.goto("/");
    await page().getByRole("navigation", { name: "Main" }).waitFor();
    await page().getByRole("heading", { level: 1 }).first().waitFor();
    await settle();
    await ui.screenshot("mission-control");
  });

  it("lists the real local agent on /agents, its hostname linking to its page", async () => {
    await ui.goto("/agents");
    const table = page().getByRole("table", { name: "Agents" });
    const link = table.getByRole("link", { name: stack.localAgent.hostname, exact: true });
    await link.waitFor();
    expect(await link.getAttribute("href")).toBe(`/agents/${stack.localAgent.id}`);
    // The fleet is there too: every agent of the control plane is listed (21 fit one page).
    await waitFor(async () => (await table.locator("tbody tr").count()) === stack.fleetSize + 1, { what: "all 21 agents in the table", debug: () => ui.logText() });
    await settle();
    await ui.screenshot("agents");
  });

  it("shows an invalid selector's error right under the field it was typed in, keeps the table, and filters by a valid one", async () => {
    await ui.goto("/agents");
    const table = page().getByRole("table", { name: "Agents" });
    await table.getByRole("link", { name: stack.localAgent.hostname, exact: true }).waitFor();
    const input = page().getByLabel("Selector", { exact: true });

    await input.fill("env in staging");
    const field = page().locator(".field", { has: input });
    const alert = field.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/expected/);
    // Right under the field: below the input, and close to it.
    const inputBox = (await input.boundingBox())!;
    const alertBox = (await alert.boundingBox())!;
    expect(alertBox.y).toBeGreaterThanOrEqual(inputBox.y + inputBox.height - 1);
    expect(alertBox.y - (inputBox.y + inputBox.height)).toBeLessThan(80);
    // The table is not replaced by an error: the last valid result stays.
    expect(await table.isVisible()).toBe(true);
    expect(await table.getByRole("link", { name: stack.localAgent.hostname, exact: true }).isVisible()).toBe(true);
    await ui.screenshot("agents-invalid-selector");

    // A valid selector clears the error and filters: only the real agent has env=e2e.
    await input.fill(LOCAL_AGENT_SELECTOR);
    await alert.waitFor({ state: "detached" });
    await waitFor(async () => (await table.locator("tbody tr").count()) === 1, { what: "the table filtered to the one env=e2e agent", debug: () => ui.logText() });
    expect(await table.getByRole("link", { name: stack.localAgent.hostname, exact: true }).isVisible()).toBe(true);
  });

  it("opens the agent's page, whose live CPU chart receives new points", async () => {
    await ui.goto("/agents");
    await page().getByRole("table", { name: "Agents" }).getByRole("link", { name: stack.localAgent.hostname, exact: true }).click();
    await waitFor(() => ui.path().startsWith(`/agents/${stack.localAgent.id}`), { what: "the agent's page" });
    const h1 = page().getByRole("heading", { level: 1 });
    await waitFor(async () => (await h1.first().textContent())?.trim() === stack.localAgent.hostname, { what: "the agent's hostname as the page title", debug: () => ui.logText() });

    const chart = page().locator('figure[data-chart="CPU utilization"]');
    await chart.waitFor();
    const points = async () => Number(await chart.getAttribute("data-points"));
    const lastTs = async () => Number(await chart.getAttribute("data-last-ts"));
    // The backfill first (the agent has reported since the suite started), then live points, one a
    // second: the newest timestamp on the chart moves on. (The point count alone would stop growing
    // once the window is full.)
    await waitFor(async () => ((await points()) > 0 ? true : undefined), { what: "the CPU chart's first points", timeoutMs: 30_000, debug: () => ui.logText() });
    const first = await lastTs();
    const later = await waitFor(async () => ((await lastTs()) > first ? lastTs() : undefined), { what: `a point newer than ${first} on the CPU chart (live updates)`, timeoutMs: 20_000, debug: () => ui.logText() });
    expect(later).toBeGreaterThan(first);
    expect(await points()).toBeGreaterThan(1);
    await ui.screenshot("agent-detail");
  });

  it("shows the probe catalog and a probe's page", async () => {
    await ui.goto("/probes");
    const link = page().getByRole("link", { name: "tcp_flows", exact: true }).first();
    await link.waitFor();
    await settle();
    await ui.screenshot("probes");
    await link.click();
    await waitFor(() => ui.path().startsWith("/probes/tcp_flows"), { what: "the tcp_flows page" });
    await page().getByRole("heading", { level: 1 }).first().waitFor();
    await settle();
    await ui.screenshot("probe-detail");
  });

  it("creates a rollout through the wizard (the preview matches the API and the fleet), which progresses, pauses, resumes and completes", async () => {
    const api = stack.h.client();
    const wavesText = "1, 50%, 100%";
    const version = 1; // the catalog's first version of every built-in probe
    const apiPreview = await api.rollouts.preview.query({ probe: "tcp_flows", version, selector: FLEET_SELECTOR, waves: parseWaves(wavesText) });
    const matching = (await api.agents.list.query({ selector: FLEET_SELECTOR, limit: 1000 })).total;
    expect(matching).toBe(stack.fleetSize);
    expect(apiPreview.matching).toBe(matching);

    await ui.goto("/rollouts/new");
    await page().getByLabel("Probe", { exact: true }).selectOption("tcp_flows");
    const versionSelect = page().getByLabel("Version", { exact: true });
    await waitFor(async () => (await versionSelect.locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).includes(String(version)), { what: "version 1 offered" });
    await versionSelect.selectOption(String(version));
    await page().getByLabel("Selector", { exact: true }).fill(FLEET_SELECTOR);
    await page().getByLabel("Waves", { exact: true }).fill(wavesText);
    // Long enough to pause while it runs; short enough to complete within the test.
    await page().getByLabel("Bake (seconds)", { exact: true }).fill("8");
    await page().getByLabel("On failure", { exact: true }).selectOption("pause");

    await waitFor(async () => (await text("preview-total")) === String(apiPreview.matching), { what: `the live preview to show ${apiPreview.matching} matching agents`, debug: () => ui.logText() });
    // The per-wave preview: one row per wave. Which agents fall in which wave depends on the
    // rollout id (a stable hash of agent and rollout), which the wizard picks: its counts are
    // checked below against the API's preview for the rollout it created.
    const wavesTable = page().getByRole("table", { name: "Per-wave preview" });
    const previewRows = await waitFor(async () => {
        const rows = await wavesTable.locator("tbody tr").all();
        if (rows.length !== apiPreview.waves.length) return undefined;
        return Promise.all(rows.map(async (row) => (await row.locator("td, th").allTextContents()).map((c) => c.trim())));
      }, { what: `a per-wave preview of ${apiPreview.waves.length} waves`, debug: () => ui.logText() });
    await ui.screenshot("rollout-wizard");

    await page().getByRole("button", { name: "Start rollout" }).click();
    rolloutId = await waitFor(() => /^\/rollouts\/(rol_[A-Za-z0-9_-]+)/.exec(ui.path())?.[1], { what: "the new rollout's page", debug: () => ui.logText() });
    const created = await api.rollouts.get.query({ id: rolloutId });
    expect(created).toMatchObject({ probe: { name: "tcp_flows", version }, selector: FLEET_SELECTOR, strategy: { bakeSeconds: 8, onFailure: "pause", waves: parseWaves(wavesText) } });
    // What the wizard previewed is what was created: its rows show the API's per-wave and
    // cumulative counts for this rollout, which are the waves' planned sizes.
    const samePreview = await api.rollouts.preview.query({ probe: "tcp_flows", version, selector: FLEET_SELECTOR, waves: parseWaves(wavesText), rolloutId });
    expect(created.waves.map((w) => w.planned)).toEqual(samePreview.waves.map((w) => w.count));
    for (const [i, w] of samePreview.waves.entries()) expect(previewRows[i], `wave ${i + 1} of the wizard's preview`).toEqual(expect.arrayContaining([String(w.count), String(w.cumulative)]));

    const state = () => text("rollout-state");
    await waitFor(async () => (await state()) === "running", { what: "the rollout running", debug: () => ui.logText() });
    await page().getByTestId("wave-1").waitFor();
    await page().getByRole("table", { name: "Rollout agents" }).waitFor();
    // Every operator action is there (those that do not apply now are disabled, saying why).
    for (const name of ["Pause", "Resume", "Promote", "Abort", "Roll back"]) await page().getByRole("button", { name, exact: true }).waitFor();
    await settle();
    await ui.screenshot("rollout-detail");

    await page().getByRole("button", { name: "Pause", exact: true }).click();
    await waitFor(async () => (await state()) === "paused", { what: "the rollout paused (page)", debug: () => ui.logText() });
    expect((await api.rollouts.get.query({ id: rolloutId })).state).toBe("paused");
    await ui.screenshot("rollout-detail-paused");

    // While it waits for an operator, Mission Control lists it among the active rollouts.
    await ui.goto("/");
    await page().locator(`a[href="/rollouts/${rolloutId}"]`).first().waitFor();
    await settle();
    await ui.screenshot("mission-control-active-rollout");
    await ui.goto(`/rollouts/${rolloutId}`);
    await waitFor(async () => (await state()) === "paused", { what: "the rollout still paused (page)", debug: () => ui.logText() });

    await page().getByRole("button", { name: "Resume", exact: true }).click();
    await waitFor(async () => (await state()) !== "paused", { what: "the rollout running again (page)", debug: () => ui.logText() });
    expect(["running", "completed"]).toContain(await state());

    // It goes on by itself (the page follows the live watch): every wave, every matching agent.
    await waitFor(async () => (await state()) === "completed", { what: "the rollout completed (page)", timeoutMs: 90_000, debug: () => ui.logText() });
    const done = await api.rollouts.get.query({ id: rolloutId });
    expect(done.state).toBe("completed");
    await page().getByTestId(`wave-${apiPreview.waves.length}`).waitFor();
    const agentsTable = page().getByRole("table", { name: "Rollout agents" });
    await waitFor(async () => (await agentsTable.locator("tbody tr").count()) === matching, { what: `${matching} agents in the rollout's agent table`, debug: () => ui.logText() });
    await ui.screenshot("rollout-detail-completed");
  });

  it("lists the rollout on /rollouts", async () => {
    expect(rolloutId, "the wizard test created a rollout").toBeDefined();
    await ui.goto("/rollouts");
    await page().getByRole("table", { name: "Rollouts" }).locator(`a[href="/rollouts/${rolloutId}"]`).first().waitFor();
    await settle();
    await ui.screenshot("rollouts");
  });

  it("shows Explore, and each of its tabs", async () => {
    await ui.goto("/explore");
    await page().getByRole("heading", { level: 1 }).first().waitFor();
    await settle();
    await ui.screenshot("explore");
    const tabs = page().getByRole("tab");
    const names = (await tabs.allTextContents()).map((t) => t.trim()).filter(Boolean);
    for (const name of names) {
      await page().getByRole("tab", { name, exact: true }).click();
      await settle();
      await ui.screenshot(`explore-${name}`);
    }
  });

  it.skipIf(!PROFILING)(
    PROFILING ? "reads the real agent's CPU flamegraph (cpu_profile on this kernel)" : "SKIPPED (PROBEPILOT_SKIP_KERNEL_TESTS=1: no eBPF, so no cpu_profile): the flamegraph",
    async () => {
      await ui.goto(`/explore?tab=profile&agent=${stack.localAgent.id}&range=5m`);
      // cpu_profile sends a profile every 10 s; the tab loads once per input, so refresh until one is there.
      const flame = page().getByRole("img", { name: /samples\. Click a frame to zoom in/ });
      const samples = await waitFor(async () => {
          if (await flame.count()) {
            const label = (await flame.first().getAttribute("aria-label")) ?? "";
            const n = Number(/: ([\d.]+)[kM]? samples/.exec(label)?.[1] ?? 0);
            if (n > 0) return label;
          }
          await page().getByRole("button", { name: "Refresh" }).click();
          await new Promise((r) => setTimeout(r, 2000));
          return undefined;
        }, { what: "a flamegraph with samples from the real agent", timeoutMs: 60_000, debug: () => ui.logText() });
      expect(samples).toMatch(/samples/);
      await settle();
      await ui.screenshot("explore-profile-flamegraph");
    },
  );

  it("shows Mission Control with the fleet and the rollout", async () => {
    await ui.goto("/");
    await page().getByRole("heading", { level: 1 }).first().waitFor();
    await settle();
    await ui.screenshot("mission-control-after-rollout");
  });

  it("revokes a simulated agent from its page (admin): confirm step, then the agent shows revoked", async () => {
    // After the rollouts: one agent fewer in the fleet changes nothing the earlier tests counted.
    const { items } = await stack.h.client().agents.list.query({ selector: "env=sim", limit: 1 });
    const victim = items[0]!;
    await ui.goto(`/agents/${victim.id}`);
    await page().getByRole("heading", { level: 1, name: victim.hostname }).waitFor();
    await page().getByRole("button", { name: "Revoke", exact: true }).click();
    const confirm = page().getByRole("alertdialog", { name: "Confirm revoke" });
    expect(await confirm.textContent()).toMatch(/NATS disconnects it at once and refuses its key/);
    await confirm.getByRole("button", { name: "Revoke the agent" }).click();
    await page().locator('.agent-subtitle .badge[data-state="revoked"]').waitFor({ timeout: 10_000 });
    await page().getByText(/This agent was revoked/).waitFor();
    expect(await page().getByRole("button", { name: "Revoke", exact: true }).isDisabled()).toBe(true);
    const after = await stack.h.client().agents.get.query({ id: victim.id });
    expect(after.status).toBe("revoked");
    await ui.screenshot("agent-revoked");
  });

  it("ends the session when its token is revoked under a live chart: the sign-in page says why, and the page stops asking", async () => {
    // Last: it signs the browser out.
    const { id, token } = await stack.h.client().tokens.create.mutate({ role: "viewer", name: "e2e-revoked" });
    await page().evaluate((t) => localStorage.setItem("probepilot.token", t), token);
    await ui.goto(`/agents/${stack.localAgent.id}`);
    const chart = page().locator('figure[data-chart="CPU utilization"]');
    await waitFor(async () => Number(await chart.getAttribute("data-points")) > 0, { what: "the CPU chart's live points", timeoutMs: 30_000, debug: () => ui.logText() });

    const revokedAt = Date.now();
    await stack.h.client().tokens.revoke.mutate({ id });
    const notice = page().getByTestId("session-ended");
    await notice.waitFor({ timeout: 10_000 });
    const signedOutAfterMs = Date.now() - revokedAt;
    expect(ui.path()).toMatch(/^\/sign-in/);
    expect((await notice.textContent())?.trim()).toMatch(/^Your session ended: API token "e2e-revoked" \(tok_\w+\) was revoked at \S+: this live stream has ended; sign in with a valid token$/);
    // The server ends the stream within 5 s; the page reacts at once.
    expect(signedOutAfterMs).toBeLessThan(6000);
    await ui.screenshot("session-ended-token-revoked");

    // Nothing keeps knocking with the dead token.
    const apiRequests: string[] = [];
    page().on("request", (r) => void (r.url().includes("/trpc/") && apiRequests.push(r.url())));
    await new Promise((r) => setTimeout(r, 3000));
    expect(apiRequests).toEqual([]);
  });
});

/** Let live data and charts draw before a screenshot (no network idle to wait for: the live streams stay open). */
async function settle(ms = 1500): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
