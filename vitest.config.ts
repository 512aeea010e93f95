import { defineConfig } from "vitest/config";

/**
 * Four projects: `unit` (pure, fast), `integration` (`*.integration.test.ts`:
 * real Postgres with a fresh database per suite, a real `nats-server -js` per
 * suite, real processes), `kernel` (`*.kernel.test.ts`: eBPF probes loaded
 * into the running kernel, as root, one file at a time so that one test's
 * generated load does not show up in another's measurements) and `browser`
 * (`*.browser.test.ts` under web/test/e2e: the built web app in Debian's Chromium,
 * driven by playwright-core, against a real control plane, agent and simulated
 * fleet). `npm test` runs all four.
 */
export default defineConfig({
  test: {
    reporters: ["default", "./scripts/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["{shared,control-plane,agent,web}/test/**/*.test.ts"],
          exclude: ["**/*.integration.test.ts", "**/*.kernel.test.ts", "**/*.browser.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "integration",
          globalSetup: ["./scripts/test-global-setup.ts"],
          // Unit tests run first; projects with different worker limits need distinct groups.
          sequence: { groupOrder: 1 },
          include: ["{shared,control-plane,agent,web}/test/**/*.integration.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // 2 cores: suites each start their own nats-server and database; keep it to two at a time.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
      {
        test: {
          name: "kernel",
          globalSetup: ["./scripts/test-global-setup.ts", "./scripts/kernel-test-setup.ts"],
          sequence: { groupOrder: 2 },
          include: ["{agent,control-plane}/test/**/*.kernel.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "browser",
          // Builds the web app once into a temp dir (never a stale web/dist) and checks for Chromium.
          globalSetup: ["./scripts/test-global-setup.ts", "./scripts/browser-test-setup.ts"],
          // Last: a browser, a control plane, an agent and a fleet at once are the heaviest load,
          // and must not be measured by the kernel suites' overhead checks.
          sequence: { groupOrder: 3 },
          include: ["web/test/e2e/**/*.browser.test.ts"],
          // A shared 2-core machine: Chromium's first paint and a staged rollout take seconds, not ms.
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
