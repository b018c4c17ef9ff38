import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { PAGE_CSP } from './src/node/csp.ts';
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

/**
 * The strict Content-Security-Policy (src/node/csp.ts) in a <meta> of every built page, so it ships
 * with the files whatever serves them. Not in development: vite's dev server injects its own client.
 */
const cspMetaTag: Plugin = {
  name: 'scope-lab-csp-meta',
  apply: 'build',
  transformIndexHtml: () => [
    {
      tag: 'meta',
      attrs: { 'http-equiv': 'Content-Security-Policy', content: PAGE_CSP },
      injectTo: 'head-prepend',
    },
  ],
};

export default defineConfig({
  publicDir: 'public',
  plugins: [cspMetaTag],
  server: { headers: isolation },
  // `vite preview` sends the policy as a header too: a <meta> policy does not reach the workers.
  preview: { headers: { ...isolation, 'Content-Security-Policy': PAGE_CSP } },
  // tfjs-backend-wasm is only ever bundled into workers (worker bundles take worker.plugins).
  worker: { format: 'es', plugins: () => [patchModules('tfjs-wasm-threads', [TFJS_WASM_THREADS_PATCH])] },
  build: { target: 'es2022', rollupOptions: { input: pages } },
});
