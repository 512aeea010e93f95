import type { Reporter, TestModule } from "vitest/node";

/**
 * Ends a test run with one plain line, `tests: N passed, N failed, N skipped`,
 * that CI and people can read without parsing vitest's colored summary.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      let failedTests = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") counts.passed++;
        else if (state === "failed") (counts.failed++, failedTests++);
        else counts.skipped++;
      }
      // A file that failed to load, or whose beforeAll failed (its tests then count as
      // skipped), has no failed test of its own but must still fail the run.
      if (module.state() === "failed" && failedTests === 0) counts.failed++;
    }
    counts.failed += unhandledErrors.length;
    process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
