import { defineConfig } from "vitest/config";

/**
 * Three projects: `unit` (pure, fast), `integration` (`*.integration.test.ts`:
 * real Postgres with a fresh database per suite, a real `nats-server -js` per
 * suite, real processes) and `kernel` (`*.kernel.test.ts`: eBPF probes loaded
 * into the running kernel, as root, one file at a time so that one test's
 * generated load does not show up in another's measurements). `npm test` runs all three.
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
          exclude: ["**/*.integration.test.ts", "**/*.kernel.test.ts", "**/node_modules/**"],
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
    ],
  },
});
