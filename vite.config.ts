import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { patchModules, TFJS_WASM_THREADS_PATCH } from './src/node/module-patches.ts';

// Every HTML page at the top level is an entry (the app, the headless runner, test pages).
const pages = Object.fromEntries(
  readdirSync(import.meta.dirname)
    .filter((f) => f.endsWith('.html'))
    .map((f) => [f.replace(/\.html$/, ''), resolve(import.meta.dirname, f)]),
);

// Cross-origin isolation headers let tfjs use threaded WASM where it helps; the widget must keep
// working without them (see platform notes).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  publicDir: 'public',
  server: { headers: isolation },
  preview: { headers: isolation },
  // tfjs-backend-wasm is only ever bundled into workers (worker bundles take worker.plugins).
  worker: { format: 'es', plugins: () => [patchModules('tfjs-wasm-threads', [TFJS_WASM_THREADS_PATCH])] },
  build: { target: 'es2022', rollupOptions: { input: pages } },
});
