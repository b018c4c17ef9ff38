/**
 * The tests StrykerJS runs against each mutant of the RL core (`npm run mutation`,
 * stryker.config.mjs): its fast unit tests. The slow ones (the replay of recorded runs, the
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
      'tests/faults.test.ts',
      'tests/shards.test.ts',
    ],
    // A gradient thread runs the sandbox's code without Stryker's active mutant, so comparing it
    // with the mutated thread would "kill" mutants for the wrong reason; the in-process helper
    // test checks the same property with the mutant on both sides.
    testNamePattern: /^(?!.*Node gradient thread)/,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
