/**
 * `pnpm bench:ui` — 32 live charts × 4 series × 3,600 points updating at 1 Hz in
 * headless Chromium: the app's ChartGroup/TimeChart (fed by a synthetic source)
 * against bare uPlot doing the same `setData` calls, in the same run. See
 * web/bench/README.md for what is measured and how.
 *
 * Env: UI_BENCH_SECONDS (measured seconds per page, default 60), UI_BENCH_ROUNDS
 * (segments the seconds are split into, pages alternating, default 3),
 * UI_BENCH_WARMUP (seconds discarded per segment, default 5), UI_BENCH_TRACE
 * (a path: trace each page's first segment with profiling categories into
 * <path>-app.json and <path>-bare.json, for Perfetto or chrome://tracing; those
 * segments are slowed by the profiler and left out of the figures),
 * UI_BENCH_FRAME_BUDGET (the chart group's drawing budget per frame in ms,
 * default the app's 8; "Infinity" draws all 32 charts in one task, as the bare
 * page does), CHROMIUM (browser binary, default /usr/bin/chromium).
 *
 * Last line: `ui: <n> charts, p95 frame <a> ms, bare uPlot <b> ms, ratio <r>`.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { chromium, type Browser, type Page } from "playwright-core";
import { TICK_MARK, type RunResult } from "./harness.ts";
import { workPerTick, type TraceEvent, type UpdateWork } from "./trace-analysis.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const SECONDS = positive("UI_BENCH_SECONDS", 60);
const ROUNDS = positive("UI_BENCH_ROUNDS", 3);
const WARMUP = positive("UI_BENCH_WARMUP", 5);
const TRACE = process.env.UI_BENCH_TRACE;
const BUDGET = process.env.UI_BENCH_FRAME_BUDGET;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TARGET_P95_MS = 16;
const TARGET_RATIO = 1.3;

const log = (msg: string) => process.stdout.write(`${msg}\n`);
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1 (got "${raw}")`);
  return n;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest-rank: the smallest value with at least q of the values at or below it.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** One update: its main-thread work (from the trace) and its worst frame interval (in the page). */
type Sample = UpdateWork & { intervalMs: number };

function summary(samples: Sample[]) {
  const sorted = (pick: (s: Sample) => number) => samples.map(pick).sort((a, b) => a - b);
  const frame = sorted((s) => s.frameMs);
  return {
    p50: quantile(frame, 0.5),
    p95: quantile(frame, 0.95),
    max: frame.at(-1) ?? NaN,
    costP50: quantile(sorted((s) => s.costMs), 0.5),
    costP95: quantile(sorted((s) => s.costMs), 0.95),
    intervalP95: quantile(sorted((s) => s.intervalMs), 0.95),
  };
}

/** Trace categories: top-level tasks and the tick marks (light enough to leave on while measuring). */
const CATEGORIES = ["toplevel", "blink.user_timing"];
/** With UI_BENCH_TRACE: enough to read the trace in Perfetto (slower: not for the figures). */
const PROFILE_CATEGORIES = [...CATEGORIES, "devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", ...(process.env.UI_BENCH_TRACE_CPU === "0" ? [] : ["disabled-by-default-v8.cpu_profiler"])];

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".map": "application/json" };

/** A static server for the built pages (file:// would not load module scripts). */
function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("the static server has no port"));
      resolve({ server, url: `http://127.0.0.1:${address.port}` });
    });
  });
}

async function open(browser: Browser, url: string, name: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 2400 }, deviceScaleFactor: 1 });
  page.on("pageerror", (err) => log(`  [${name}] page error: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") log(`  [${name}] console ${m.type()}: ${m.text()}`);
  });
  const t = performance.now();
  await page.goto(url);
  await page.waitForFunction(() => window.__bench?.ready() === true, undefined, { timeout: 120_000, polling: 100 });
  log(`${name} page ready in ${((performance.now() - t) / 1000).toFixed(1)} s (${url})`);
  return page;
}

async function main(): Promise<string> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM to a Chromium binary`);
  const out = mkdtempSync(join(tmpdir(), "probepilot-ui-bench-"));
  let server: Server | undefined;
  let browser: Browser | undefined;
  try {
    log(`building the benchmark pages into ${out} …`);
    process.env.UI_BENCH_OUT = out;
    await build({ configFile: join(HERE, "vite.config.ts"), mode: "production" });
    const served = await serve(out);
    server = served.server;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    log(`chromium ${browser.version()}, viewport 1600×2400, ${SECONDS} s per page in ${ROUNDS} segments (+${WARMUP} s warm-up each), pages alternating`);
    const pages = { app: await open(browser, `${served.url}/app.html${BUDGET ? `?budget=${BUDGET}` : ""}`, "app"), bare: await open(browser, `${served.url}/bare.html`, "bare") };
    const samples: Record<keyof typeof pages, Sample[]> = { app: [], bare: [] };
    const info: Record<string, Record<string, unknown>> = {};
    const perRound = Math.ceil(SECONDS / ROUNDS);
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which page goes first: a slow spell of the shared machine hits both alike.
      const order: (keyof typeof pages)[] = round % 2 === 1 ? ["app", "bare"] : ["bare", "app"];
      for (const name of order) {
        const page = pages[name];
        await page.bringToFront();
        const profiling = TRACE && round === 1;
        await browser.startTracing(page, { screenshots: false, categories: profiling ? PROFILE_CATEGORIES : CATEGORIES });
        log(`segment ${round}/${ROUNDS}: ${name} page, ${perRound} s + ${WARMUP} s warm-up …`);
        const result = (await page.evaluate(([s, w]) => window.__bench!.run(s, w), [perRound, WARMUP] as const)) as RunResult;
        const trace = await browser.stopTracing();
        if (profiling) {
          const path = `${TRACE.replace(/\.json$/, "")}-${name}.json`;
          writeFileSync(path, trace);
          log(`  trace written to ${path} (profiling categories: these figures are slower than the others)`);
        }
        const events = (JSON.parse(trace.toString("utf8")) as { traceEvents: TraceEvent[] }).traceEvents;
        const work = workPerTick(events, TICK_MARK);
        if (work.length !== result.intervals.length) throw new Error(`the trace has ${work.length} tick marks for ${result.intervals.length} updates: was the page's main thread traced?`);
        const segment = work.map((w, i) => ({ ...w, intervalMs: result.intervals[i]! }));
        if (!profiling) samples[name].push(...segment);
        info[name] = result.info;
        const s = summary(segment);
        log(
          `  ${name}: frame p50 ${ms(s.p50)} ms, p95 ${ms(s.p95)} ms, max ${ms(s.max)} ms; main-thread work p50 ${ms(s.costP50)} ms, p95 ${ms(s.costP95)} ms; ` +
            `rAF interval p95 ${ms(s.intervalP95)} ms; ${JSON.stringify(result.info)}`,
        );
      }
    }

    const app = summary(samples.app);
    const bare = summary(samples.bare);
    for (const [name, s, n] of [["app", app, samples.app.length], ["bare uPlot", bare, samples.bare.length]] as const) {
      log(
        `${name}: ${n} updates; frame p50 ${ms(s.p50)} ms, p95 ${ms(s.p95)} ms, max ${ms(s.max)} ms; ` +
          `main-thread work per update p50 ${ms(s.costP50)} ms, p95 ${ms(s.costP95)} ms; rAF interval p95 ${ms(s.intervalP95)} ms`,
      );
    }
    log(`main-thread work per update, app / bare: p50 ${(app.costP50 / bare.costP50).toFixed(2)}, p95 ${(app.costP95 / bare.costP95).toFixed(2)}`);
    const ratio = app.p95 / bare.p95;
    const verdict = [
      app.p95 <= TARGET_P95_MS ? `p95 ≤ ${TARGET_P95_MS} ms: met` : `p95 ≤ ${TARGET_P95_MS} ms: MISSED`,
      ratio <= TARGET_RATIO ? `ratio ≤ ${TARGET_RATIO}: met` : `ratio ≤ ${TARGET_RATIO}: MISSED`,
    ];
    log(`targets: ${verdict.join("; ")}`);
    const charts = Number(info.app?.charts ?? 0);
    return `ui: ${charts} charts, p95 frame ${app.p95.toFixed(2)} ms, bare uPlot ${bare.p95.toFixed(2)} ms, ratio ${ratio.toFixed(2)}`;
  } finally {
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(out, { recursive: true, force: true });
  }
}

main().then(
  (lastLine) => {
    log(lastLine);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`ui-bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
