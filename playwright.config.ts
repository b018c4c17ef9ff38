import { defineConfig } from '@playwright/test';
import { hashString } from './src/core/rng';
import { CHROMIUM_ARGS, chromiumPath } from './src/node/chromium';

// e2e tests run against the built pages (vite build + preview, which sends COOP/COEP). Each checkout
// gets its own port (E2E_PORT overrides), so two worktrees never test each other's build.
const PORT = Number(process.env.E2E_PORT) || 4200 + (hashString(import.meta.dirname) % 700);

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  timeout: 180_000,
  workers: 1,
  reporter: process.env.CI ? 'line' : 'list',
  use: {
    baseURL: `http://localhost:${PORT}`,
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
  },
  webServer: {
    command: `npm run build && npx vite preview --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: !process.env.CI,
    timeout: 180_000,
  },
});
