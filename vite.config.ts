import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

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
 * Lets tfjs-backend-wasm's threaded binary start from a minified bundle. tfjs hands its Emscripten
 * factory to the pthread workers as source text (`factory.toString()`), where the factory's closure
 * is gone. The factory guards its one read of the closure variable `_scriptDir` with `typeof`, but
 * the minifier (which sees the variable declared) rewrites the guard to `e !== void 0 && e`, so every
 * pthread worker dies with "ReferenceError: e is not defined" (an uncaught error in the worker).
 * The statement is dropped: `_scriptDir` is undefined in a worker and in a module script anyway
 * (no document.currentScript), so nothing else changes.
 */
function tfjsWasmThreads(): Plugin {
  const guard = 'if(typeof _scriptDir !== "undefined" && _scriptDir){scriptDirectory=_scriptDir}';
  return {
    name: 'tfjs-wasm-threads',
    transform(code, id) {
      if (!id.includes('tfjs-backend-wasm-threaded-simd.js')) return null;
      if (!code.includes(guard)) {
        this.warn('the _scriptDir guard to patch was not found (tfjs-backend-wasm changed?)');
        return null;
      }
      return { code: code.replace(guard, ''), map: null };
    },
  };
}

export default defineConfig({
  publicDir: 'public',
  server: { headers: isolation },
  preview: { headers: isolation },
  plugins: [tfjsWasmThreads()],
  worker: { format: 'es', plugins: () => [tfjsWasmThreads()] },
  build: { target: 'es2022', rollupOptions: { input: pages } },
});
