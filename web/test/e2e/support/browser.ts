import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, inject, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type {} from "../../../../scripts/browser-test-setup.ts"; // the provide/inject keys' types
import { SCREENSHOTS_DIR, slug } from "./artifacts.ts";
import { waitFor } from "@probepilot/testkit/poll";

/** Flags for a headless Chromium on a shared CI box: no sandbox (root in a container), no GPU, nothing phoning home. */
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

/** Why this run skips the browser tests (PROBEPILOT_SKIP_BROWSER_TESTS=1), or null; see scripts/browser-test-setup.ts. */
const SKIP_REASON = inject("e2eSkipReason");
/** Why the browser tests cannot run (no Chromium, a broken build), or null. */
const SETUP_ERROR = inject("e2eSetupError");

/**
 * `describe` for a browser suite. When the run skips browser tests the name carries
 * the reason into the report and a line says so, as the kernel suites do; when they
 * cannot run (no Chromium, the build failed) the suite is one failing test saying
 * why and what to do, so the run's totals count it as a failure, not as skipped.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (SKIP_REASON) {
    process.stdout.write(`[tests] SKIPPED (${SKIP_REASON}): ${name}\n`);
    describe.skip(`${name} [skipped: ${SKIP_REASON}; these drive the web app in Chromium]`, body);
  } else if (SETUP_ERROR) {
    describe(name, () => {
      it("has Chromium and a build of the web app to drive", () => {
        throw new Error(`the browser tests cannot run: ${SETUP_ERROR}`);
      });
    });
  } else describe(name, body);
}

/** The web app built for this run by the browser project's globalSetup. */
export function builtWebDir(): string {
  const dir = inject("e2eWebDir");
  if (!dir) throw new Error("no web build was provided: run the browser tests through vitest's `browser` project (npx vitest run --project browser), whose globalSetup builds the app");
  return dir;
}

/** How the init script reports what the Content-Security-Policy blocked (a console error). */
const CSP_VIOLATION = "CSP violation";

/** One line of what the browser said: console messages, uncaught errors, failed requests. */
type LogLine = { at: number; kind: string; text: string };

/**
 * A Chromium with one fresh context (its own storage: each test file signs in
 * itself) and one page, recording everything the page logs. Uncaught page
 * errors fail the test they happen in (see {@link installUiHooks}).
 */
export class Ui {
  readonly log: LogLine[] = [];
  readonly pageErrors: { at: number; error: Error }[] = [];
  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly baseURL: string,
  ) {}

  /** Launch Chromium (the binary checked by the globalSetup) with a context whose relative URLs go to `baseURL`. */
  static async open(baseURL: string): Promise<Ui> {
    const browser = await chromium.launch({ executablePath: inject("e2eChromium"), headless: true, args: CHROMIUM_ARGS });
    try {
      const context = await browser.newContext({ baseURL, viewport: { width: 1440, height: 900 }, colorScheme: "dark" });
      // The control plane serves the app with a strict Content-Security-Policy: anything it blocks is logged
      // (and fails the test it happens in, see installUiHooks), even what the page catches and works around.
      await context.addInitScript(
        (tag) =>
          document.addEventListener("securitypolicyviolation", (e) => console.error(`${tag}: ${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}`)),
        CSP_VIOLATION,
      );
      // The UI's own waits (polling, SSE reconnects) are what is tested; a locator waits at most this long.
      context.setDefaultTimeout(20_000);
      const page = await context.newPage();
      const ui = new Ui(browser, context, page, baseURL);
      ui.record();
      return ui;
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  private record(): void {
    const add = (kind: string, text: string) => this.log.push({ at: Date.now(), kind, text });
    this.page.on("console", (m) => {
      const where = m.location();
      add(`console.${m.type()}`, `${m.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ""}`);
    });
    this.page.on("pageerror", (error) => {
      this.pageErrors.push({ at: Date.now(), error });
      add("pageerror", error.stack ?? error.message);
    });
    this.page.on("requestfailed", (r) => {
      // A live stream cut by navigation is normal: only note it.
      add("requestfailed", `${r.method()} ${r.url()}: ${r.failure()?.errorText ?? "failed"}`);
    });
    this.page.on("response", (r) => {
      if (r.status() >= 400) add("http", `${r.status()} ${r.request().method()} ${r.url()}`);
    });
    this.page.on("dialog", (d) => {
      // A confirm() before a destructive action is accepted, as the operator would.
      add("dialog", `${d.type()}: ${d.message()} (accepted)`);
      void d.accept();
    });
  }

  /** Go to an app path (`/agents`) and wait for the document; the SPA renders after. */
  async goto(pathname: string): Promise<void> {
    await this.page.goto(pathname, { waitUntil: "domcontentloaded" });
  }

  /** The current path and query, e.g. `/rollouts/rol_…`. */
  path(): string {
    const u = new URL(this.page.url());
    return u.pathname + u.search;
  }

  /** Sign in through the sign-in page, as a person would, and wait until the app has left it. */
  async signIn(token: string): Promise<void> {
    await this.goto("/sign-in");
    await this.page.getByLabel("Access token").fill(token);
    await this.page.getByRole("button", { name: "Sign in" }).click();
    await waitFor(() => !this.path().startsWith("/sign-in"), { what: "the app to leave /sign-in after signing in", debug: () => this.logText() });
  }

  /** Save a full-page screenshot as test-artifacts/screenshots/<name>.png (kept as a test artifact). */
  async screenshot(name: string): Promise<string> {
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
    const file = path.join(SCREENSHOTS_DIR, `${slug(name)}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }

  /** The recorded log as text, one line per entry, with times relative to the first. */
  logText(since = 0): string {
    const lines = this.log.filter((l) => l.at >= since);
    const t0 = this.log[0]?.at ?? 0;
    return lines.map((l) => `+${((l.at - t0) / 1000).toFixed(3)}s ${l.kind}: ${l.text}`).join("\n");
  }

  /** After a failed test: its screenshot and the browser's log, next to the page screenshots. */
  async saveFailure(testName: string): Promise<void> {
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
    const name = path.join(SCREENSHOTS_DIR, slug(testName));
    await this.page.screenshot({ path: `${name}.failed.png`, fullPage: true }).catch(() => {});
    await writeFile(`${name}.console.log`, `${this.page.url()}\n\n${this.logText()}\n`);
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    await this.browser.close();
  }
}

/**
 * Per test: on failure, save a screenshot and the console log (test-artifacts/screenshots/
 * <test>.failed.png and <test>.console.log); after it, fail it if the page threw an
 * uncaught error meanwhile (a crash the UI papered over is still a crash).
 */
export function installUiHooks(ui: () => Ui | undefined): void {
  let startedAt = 0;
  beforeEach((ctx) => {
    startedAt = Date.now();
    ctx.onTestFailed(async () => {
      await ui()?.saveFailure(ctx.task.name);
    });
  });
  afterEach(() => {
    const errors = ui()?.pageErrors.filter((e) => e.at >= startedAt) ?? [];
    if (errors.length > 0) {
      throw new Error(`the page threw ${errors.length} uncaught error(s) during this test:\n${errors.map((e) => e.error.stack ?? e.error.message).join("\n\n")}`);
    }
    const blocked = ui()?.log.filter((l) => l.at >= startedAt && l.text.includes(CSP_VIOLATION)) ?? [];
    if (blocked.length > 0) {
      throw new Error(`the Content-Security-Policy blocked ${blocked.length} thing(s) during this test:\n${blocked.map((l) => l.text).join("\n")}`);
    }
  });
}
