import { defineConfig } from 'vite';

// The app and its workers. Cross-origin isolation headers let tfjs use threaded WASM where it helps;
// the widget must keep working without them (see platform notes).
export default defineConfig({
  publicDir: 'public',
  server: {
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
  preview: {
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
  worker: { format: 'es' },
});
