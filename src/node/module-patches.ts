/**
 * A Vite plugin for exact rewrites of statements inside library modules (used by vite.config.ts and
 * vite.widget.config.ts). Each patch must match exactly once in its module and every patch must be
 * applied, so a library upgrade that changes a patched statement fails the build instead of quietly
 * bringing the old problem back.
 */
import type { Plugin } from 'vite';

export interface ModulePatch {
  /** The end of the module's resolved id, e.g. '/node_modules/zod/v4/core/core.js'. */
  module: string;
  find: string | RegExp;
  replace: string;
}

/**
 * tfjs-backend-wasm hands its Emscripten factory to the pthread workers as source text
 * (`factory.toString()`), where the factory's closure is gone. The factory guards its one read of the
 * closure variable `_scriptDir` with `typeof`, but the minifier (which sees the variable declared)
 * rewrites the guard to `e !== void 0 && e`, so every pthread worker dies with "ReferenceError: e is
 * not defined". The statement is dropped: `_scriptDir` is undefined in a worker and in a module script
 * anyway (no document.currentScript), so nothing else changes.
 */
export const TFJS_WASM_THREADS_PATCH: ModulePatch = {
  module: '/node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js',
  find: 'if(typeof _scriptDir !== "undefined" && _scriptDir){scriptDirectory=_scriptDir}',
  replace: '',
};

export function patchModules(name: string, patches: readonly ModulePatch[]): Plugin {
  const applied = new Set<number>();
  return {
    name,
    transform(code, id) {
      let out = code;
      patches.forEach((p, i) => {
        if (!id.endsWith(p.module)) return;
        const n = typeof p.find === 'string' ? out.split(p.find).length - 1 : out.match(p.find) ? 1 : 0;
        if (n !== 1) this.error(`${name}: patch ${i} matched ${n} times in ${id}: update the patch list`);
        out = out.replace(p.find, p.replace);
        applied.add(i);
      });
      return out === code ? null : { code: out, map: null };
    },
    buildEnd() {
      const missing = patches.filter((_, i) => !applied.has(i)).map((p) => p.module);
      if (missing.length) this.error(`${name}: patches not applied (module not bundled?): ${missing}`);
    },
  };
}
