// @ts-check
/**
 * Mutation testing of the wasm kernels' installer (src/core/wasm-kernels.ts: which calls our kernels
 * take, their shapes and offsets, the fallbacks to tfjs), against tests/wasm-kernels.test.ts. The C
 * kernels themselves are checked by that test's bit-for-bit comparisons (docs/performance.md,
 * Session 8, has the C mutants tried by hand). Part of `npm run mutation`; docs/testing.md has the score.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import base from './stryker.config.mjs';

export default {
  ...base,
  vitest: { configFile: 'vitest.mutation-kernels.config.ts', related: false },
  mutate: ['src/core/wasm-kernels.ts'],
  // Stryker marks sandboxed sources @ts-nocheck by default; the generated binary module must stay
  // byte for byte what scripts/build-kernels.sh writes (the test checks it).
  disableTypeChecks: 'src/core/wasm-kernels.ts',
  incrementalFile: 'reports/stryker-incremental-kernels.json',
  htmlReporter: { fileName: 'reports/mutation/kernels.html' },
  jsonReporter: { fileName: 'reports/mutation/kernels.json' },
};
