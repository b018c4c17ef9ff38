/**
 * The tests StrykerJS runs against each mutant (`npm run mutation`, stryker.config.mjs): the fast
 * unit tests of the RL core and the task oracles. The slow ones (the replay of recorded runs, the
 * CLI, the browser) stay in `npm test`; a mutant they alone would kill shows up as a survivor here.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'tests/rl-math.test.ts',
      'tests/rl.test.ts',
      'tests/rl-trainer-*.test.ts',
      'tests/scope-sft-control.test.ts',
      'tests/tasks.test.ts',
      'tests/tasks-oracle*.test.ts',
      'tests/edge.test.ts',
      'tests/faults.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
