/**
 * The gradient helper in the browser (src/core/shards.ts): a copy of the policy on single-threaded
 * WASM that computes shards of a step at the weights it is sent, so that a second core shares the
 * updates. Started by the policy worker (./gradient-helper.ts) and the bench's worker.
 */
import * as Comlink from 'comlink';
import { PolicyModel } from '../src/core/agents';
import type { StoredCheckpoint } from '../src/core/rl/services';
import { type ShardJob, ShardWorker } from '../src/core/shards';
import { getTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { type KernelMode, setKernelMode } from '../src/core/wasm-kernels';
import { useSingleThreadWasm } from './backend';

let shards: ShardWorker | null = null;

const api = {
  /** The caller's task, checkpoint (configuration and parameter order) and WASM kernels. */
  async init(task: string, checkpoint: StoredCheckpoint, kernels: KernelMode): Promise<void> {
    useSingleThreadWasm();
    setKernelMode(kernels);
    if (!(await tf.setBackend('wasm'))) throw new Error('the WASM backend failed to initialise');
    await tf.ready();
    shards = new ShardWorker(
      PolicyModel.fromCheckpoint(getTask(task), checkpoint.manifestJson, checkpoint.blob),
    );
  },

  async gradient(weights: Float32Array, job: ShardJob) {
    if (!shards) throw new Error('the gradient worker is not initialised');
    const r = await shards.gradient(weights, job);
    return Comlink.transfer(r, [r.grad.buffer as ArrayBuffer]);
  },
};

export type GradientWorkerApi = typeof api;

Comlink.expose(api);
