// @ts-check
/**
 * Mutation testing of the RL core (issue 16): `npm run mutation` runs this config, then
 * stryker.tasks.config.mjs (the task oracles, against their own tests). Not part of `npm test`
 * (minutes on two cores); docs/testing.md has the scores and the survivors.
 *
 * Each mutant runs only the tests that cover it (perTest coverage), from the fast unit tests named
 * in vitest.mutation.config.ts. Incremental: results are kept in reports/ (not in git: they are
 * specific to the tree they were measured on), so a rerun after a small change tests only the
 * changed mutants and those whose tests changed.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/core/rl/math.ts',
    'src/core/rl/loss.ts',
    'src/core/rl/batch.ts',
    'src/core/rl/trainer.ts',
    'src/core/rl/config.ts',
    'src/core/rl/services.ts',
    'src/core/shards.ts',
    'src/core/rl/algos/*.ts',
  ],
  // Module-level code (the zod schema's descriptions, DEFAULT_RL, ROLE) runs once at import, so its
  // mutants would need every test to run; they are left out (counted as ignored, not in the score).
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental-rl.json',
  concurrency: 2,
  // A mutant that loops forever (the oracles' rejection-sampling loops) is cut off after
  // 1.5 x its tests' time + 10 s and counted as killed (Timeout).
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/rl.html' },
  jsonReporter: { fileName: 'reports/mutation/rl.json' },
  thresholds: { high: 85, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  // Stryker rewrites tsconfig.json's relative paths for the sandbox through TypeScript's JS API,
  // which TypeScript 7 (the native compiler) no longer has; this tsconfig has nothing to rewrite,
  // so the step is skipped by naming a file that does not exist.
  tsconfigFile: 'no-tsconfig-rewrite.json',
  ignorePatterns: [
    'dist',
    'runs',
    // Results stay out but the one table tests/edge.test.ts checks the page's quotes against.
    'results/*',
    '!results/edge',
    'results/edge/*',
    '!results/edge/table.json',
    'e2e',
    'test-results',
    'playwright-report',
    'reports',
    'bench',
    'docs',
    // (public/checkpoints stays: tests/shards.test.ts trains from the shipped add policy; 5 MB.)
  ],
};
