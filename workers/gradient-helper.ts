/// <reference types="vite/client" />
/**
 * Starting the gradient worker (./gradient.worker.ts) from a worker that runs the policy on WASM.
 * The numbers of a run are the same with or without it (src/core/shards.ts), so any failure
 * only costs the second core.
 */
import * as Comlink from 'comlink';
import { callGuard, startModuleWorker } from '../src/browser/trampoline';
import type { StoredCheckpoint } from '../src/core/rl/services';
import type { GradientHelper } from '../src/core/shards';
import { kernelMode } from '../src/core/wasm-kernels';
import type { GradientWorkerApi } from './gradient.worker';
import gradientWorkerUrl from './gradient.worker.ts?worker&url';

export interface GradientWorker extends GradientHelper {
  close(): void;
}

/** Start and initialise the worker (with this worker's kernel mode); rejects if it cannot. */
export async function startGradientWorker(
  task: string,
  checkpoint: StoredCheckpoint,
): Promise<GradientWorker> {
  const worker = startModuleWorker(gradientWorkerUrl, 'gradient');
  const remote = Comlink.wrap<GradientWorkerApi>(worker);
  const guard = callGuard();
  worker.addEventListener('error', (e) =>
    guard.fail(new Error(`the gradient worker crashed: ${e.message || 'its script did not load'}`)),
  );
  const close = () => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  };
  try {
    await guard.call(remote.init(task, checkpoint, kernelMode()));
  } catch (e) {
    close();
    throw e;
  }
  return {
    gradient: (weights, job) => guard.call(remote.gradient(weights, job)),
    close,
  };
}
