/**
 * The gradient helper in Node (src/core/shards.ts): a worker thread with its own tfjs, on the
 * caller's backend, and a copy of the policy. `train`, `pretrain` and the bench give it the shards
 * of their steps but the first, so that a second core computes them; the numbers are the same
 * without it.
 */
import { Worker } from 'node:worker_threads';
import type { StoredCheckpoint } from '../core/rl/services';
import type { GradientHelper, ShardJob, ShardResult } from '../core/shards';
import type { TaskName } from '../core/tasks/types';
import type { NodeBackend } from './backend';

/** What the thread starts from (./gradient-thread-main.ts). */
export interface GradientThreadInit {
  backend: NodeBackend;
  task: TaskName;
  /** The policy's checkpoint: its configuration and parameter names (the weights come with each shard). */
  checkpoint: StoredCheckpoint;
}

export type GradientThreadReply =
  | { id: number; grad: Float32Array; stats: Float32Array }
  | { id: number; error: string };

/** The thread runs TypeScript: tsx's loader is registered inside it first (as `npm run` does outside). */
const TSX_API = import.meta.resolve('tsx/esm/api');
const MAIN = new URL('./gradient-thread-main.ts', import.meta.url).href;
const BOOT = `const { register } = await import(${JSON.stringify(TSX_API)}); register(); await import(${JSON.stringify(MAIN)});`;

export interface GradientThread extends GradientHelper {
  close(): Promise<void>;
}

/** Start the thread; resolves once its model is loaded (~1 s: the loader, tfjs and the model). */
export function startGradientThread(init: GradientThreadInit): Promise<GradientThread> {
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(BOOT)}`), {
    workerData: init,
  });
  // A thread left running must not keep the process alive (an interrupted run exits as before).
  worker.unref();
  const pending = new Map<
    number,
    { resolve: (r: ShardResult<Float32Array>) => void; reject: (e: Error) => void }
  >();
  let nextId = 0;
  let failed: Error | null = null;
  const fail = (e: Error) => {
    failed ??= e;
    for (const p of pending.values()) p.reject(failed);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the gradient thread exited (code ${code})`)));
  const helper: GradientThread = {
    gradient(weights: Float32Array, job: ShardJob) {
      if (failed) return Promise.reject(failed);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, weights, job });
      });
    },
    async close() {
      fail(new Error('the gradient thread was closed'));
      await worker.terminate();
    },
  };
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { ready: true } | { error: string }) => {
      if ('error' in m) {
        void worker.terminate();
        return reject(new Error(`gradient thread: ${m.error}`));
      }
      worker.on('message', (r: GradientThreadReply) => {
        const p = pending.get(r.id);
        pending.delete(r.id);
        if ('error' in r) p?.reject(new Error(`gradient thread: ${r.error}`));
        else p?.resolve({ grad: r.grad, stats: r.stats });
      });
      resolve(helper);
    });
    worker.once('error', reject);
  });
}
