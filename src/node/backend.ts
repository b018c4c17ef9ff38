/** tfjs backend set-up for Node (scripts and tests): wasm by default, cpu as the reference. */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from '../core/wasm-kernels';

export const NODE_BACKENDS = ['wasm', 'cpu'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

let wasmPathsSet = false;

export async function useBackend(name: NodeBackend): Promise<string> {
  if (name !== 'wasm' && name !== 'cpu') throw new Error(`unknown backend '${name}' (expected wasm or cpu)`);
  if (name === 'wasm' && !wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    setWasmPaths(`${path.join(dir, 'dist')}${path.sep}`);
    installWasmKernels();
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
  return tf.getBackend();
}
