import { defineConfig } from 'vitest/config'

/**
 * Two projects, told apart by the file name alone: `*.unit.test.ts` is a unit test (no
 * network), every other `*.test.ts` an integration test. `unit` needs no network; `integration` talks to the real stack, which
 * test/global-setup.ts brings up (or reuses). Integration files run one at a time: they
 * share one broker and two database servers on a small machine, and timing-sensitive
 * tests (consumer groups, batching) get flaky when several fight for two cores.
 */
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.unit.test.ts'],
          environment: 'node'
        }
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts', '**/node_modules/**'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false
        }
      }
    ]
  }
})
