/** The tests StrykerJS runs against each mutant of src/core/wasm-kernels.ts (stryker.kernels.config.mjs). */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/wasm-kernels.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
