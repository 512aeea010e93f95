import { defineConfig } from "vitest/config";

/**
 * Two projects: `unit` (pure, fast) and `integration` (`*.integration.test.ts`:
 * real Postgres with a fresh database per suite, a real `nats-server -js` per
 * suite, real processes). `npm test` runs both.
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
          exclude: ["**/*.integration.test.ts", "**/node_modules/**"],
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
    ],
  },
});
