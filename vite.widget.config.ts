/**
 * The <scope-trainer> library build: `vite build -c vite.widget.config.ts` -> dist/widget/
 *
 *   scope-trainer.js          the ES module a page loads (defines the element)
 *   *.worker-<hash>.js        the policy and PRM worker entries
 *   <name>-<hash>.js          shared chunks (tfjs lives in one, used by both workers)
 *   *.wasm                    tfjs WASM binaries
 *   checkpoints/<task>/...    the shipped checkpoints (the default `assets` base)
 *
 * Every file is in one flat directory and every URL is resolved against `import.meta.url` (base
 * './'), so the directory can be served from any origin and path. Differences from the app build:
 * - The workers are chunks of this one build instead of separate worker bundles, so the two
 *   share one copy of tfjs (two bundles would ship it twice and break the 1 MB gzip budget).
 * - Libraries that register themselves on `globalThis` (Lit's version lists and property
 *   metadata, zod's global config and registry) are patched to keep that state module-local:
 *   the widget adds no properties to the host page's `window`.
 */
import { cpSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { type ModulePatch, patchModules, TFJS_WASM_THREADS_PATCH } from './src/node/module-patches.ts';

const root = import.meta.dirname;
export const WIDGET_OUT_DIR = resolve(root, 'dist/widget');

const WORKER_URL_QUERY = '?worker&url';
const WORKER_CHUNK = '\0scope-trainer-worker-chunk:';

/** `import url from './x.worker.ts?worker&url'` -> the URL of an entry chunk of this build. */
function workersAsChunks(): Plugin {
  return {
    name: 'scope-trainer:workers-as-chunks',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (!source.endsWith(WORKER_URL_QUERY)) return null;
      const file = await this.resolve(source.slice(0, -WORKER_URL_QUERY.length), importer);
      if (!file) this.error(`cannot resolve worker ${source} from ${importer}`);
      return WORKER_CHUNK + file.id;
    },
    load(id) {
      if (!id.startsWith(WORKER_CHUNK)) return null;
      const file = id.slice(WORKER_CHUNK.length);
      const ref = this.emitFile({ type: 'chunk', id: file, name: basename(file, '.ts') });
      return `export default import.meta.ROLLUP_FILE_URL_${ref};`;
    },
  };
}

/**
 * Exact rewrites of the statements that create globals, per module. Each must match exactly once,
 * so a library upgrade that changes them fails the build instead of leaking again (the e2e test
 * also compares `Object.keys(window)` before and after).
 */
const GLOBAL_PATCHES: ModulePatch[] = [
  // Lit's "which versions are loaded" lists (only read by Lit's dev-mode warning).
  {
    module: '/node_modules/lit-html/lit-html.js',
    find: /\(\w+\.litHtmlVersions\?\?=\[\]\)\.push\("[^"]*"\)/,
    replace: 'void 0',
  },
  {
    module: '/node_modules/lit-element/lit-element.js',
    find: /\(\w+\.litElementVersions\?\?=\[\]\)\.push\("[^"]*"\)/,
    replace: 'void 0',
  },
  {
    module: '/node_modules/@lit/reactive-element/reactive-element.js',
    find: /\(\w+\.reactiveElementVersions\?\?=\[\]\)\.push\("[^"]*"\)/,
    replace: 'void 0',
  },
  // Lit's property metadata map: a module-level constant shadows the global name in this module.
  {
    module: '/node_modules/@lit/reactive-element/reactive-element.js',
    find: /,\w+\.litPropertyMetadata\?\?=new WeakMap/,
    replace: '',
  },
  {
    module: '/node_modules/@lit/reactive-element/reactive-element.js',
    find: /^/,
    replace: 'const litPropertyMetadata=globalThis.litPropertyMetadata??new WeakMap;',
  },
  // zod's global config and schema registry: a host page's zod (if any) is read, never created.
  {
    module: '/node_modules/zod/v4/core/core.js',
    find: '(_a = globalThis).__zod_globalConfig ?? (_a.__zod_globalConfig = {});\nexport const globalConfig = globalThis.__zod_globalConfig;',
    replace: 'export const globalConfig = globalThis.__zod_globalConfig ?? {};',
  },
  {
    module: '/node_modules/zod/v4/core/registries.js',
    find: '(_a = globalThis).__zod_globalRegistry ?? (_a.__zod_globalRegistry = registry());\nexport const globalRegistry = globalThis.__zod_globalRegistry;',
    replace: 'export const globalRegistry = globalThis.__zod_globalRegistry ?? registry();',
  },
];

/** Lit must not use its global property metadata anywhere but in the patched module. */
function litMetadataGuard(): Plugin {
  return {
    name: 'scope-trainer:lit-metadata-guard',
    enforce: 'post',
    transform(code, id) {
      if (!/node_modules\/(lit|lit-html|lit-element|@lit\/reactive-element)\//.test(id)) return null;
      if (!id.endsWith('reactive-element.js') && /litPropertyMetadata/.test(code))
        this.error(`${id} uses Lit's global property metadata (decorators?): patch it in GLOBAL_PATCHES`);
      return null;
    },
  };
}

/** The shipped checkpoints next to the module: the default `assets` base is the module's directory. */
function copyCheckpoints(): Plugin {
  return {
    name: 'scope-trainer:checkpoints',
    apply: 'build',
    closeBundle() {
      cpSync(resolve(root, 'public/checkpoints'), resolve(WIDGET_OUT_DIR, 'checkpoints'), {
        recursive: true,
      });
    },
  };
}

export default defineConfig({
  base: './',
  publicDir: false,
  plugins: [
    workersAsChunks(),
    patchModules('scope-trainer:no-globals', [...GLOBAL_PATCHES, TFJS_WASM_THREADS_PATCH]),
    litMetadataGuard(),
    copyCheckpoints(),
  ],
  build: {
    target: 'es2022',
    outDir: WIDGET_OUT_DIR,
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: { 'scope-trainer': resolve(root, 'src/widget/index.ts') },
      preserveEntrySignatures: 'exports-only',
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
        assetFileNames: '[name]-[hash][extname]',
        // tfjs in a chunk of its own, named: only the workers import it (the e2e checks the page
        // never loads it), and the size report shows what it costs.
        codeSplitting: { groups: [{ name: 'tfjs', test: /node_modules[\\/]@tensorflow[\\/]/ }] },
      },
    },
  },
});
