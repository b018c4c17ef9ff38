// @ts-check
/**
 * Mutation testing of the task oracles (issue 16), the second half of `npm run mutation`: rewards,
 * step labels, the teacher, corruptions and splits of src/core/tasks, against the tasks' own tests
 * (vitest.mutation-tasks.config.ts). The RL tests also run the oracles, but an oracle's score should
 * say what the oracle tests pin down, and a task mutant would otherwise rerun most of the RL suite.
 */
import rl from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...rl,
  vitest: { configFile: 'vitest.mutation-tasks.config.ts', related: false },
  mutate: ['src/core/tasks/*.ts'],
  incrementalFile: 'reports/stryker-incremental-tasks.json',
  htmlReporter: { fileName: 'reports/mutation/tasks.html' },
  jsonReporter: { fileName: 'reports/mutation/tasks.json' },
};
