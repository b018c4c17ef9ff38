/**
 * The tests StrykerJS runs against each mutant of the task oracles (`npm run mutation`,
 * stryker.tasks.config.mjs): the tasks' own tests and the edge splits'.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/tasks.test.ts', 'tests/tasks-oracle*.test.ts', 'tests/edge.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
