/**
 * The policy worker: a LocalPolicyService (the same class Node uses) behind comlink. It keeps a host
 * copy of the weights and optimizer state after every update on WebGPU, so a lost device costs
 * nothing but a switch to WASM.
 */
import * as Comlink from 'comlink';
import type { BackendInfo } from '../src/browser/session-api';
import { PolicyModel } from '../src/core/agents';
import type { CheckpointManifest } from '../src/core/checkpoint';
import type { EvalOptions } from '../src/core/evaluate';
import { configFromManifest } from '../src/core/model-shape';
import type { UpdateBatch } from '../src/core/rl/loss';
import {
  type GenerateRequest,
  LocalPolicyService,
  type StoredCheckpoint,
  type UpdateOptions,
} from '../src/core/rl/services';
import { prepareRlPolicy } from '../src/core/rl/setup';
import type { RngState } from '../src/core/rng';
import { getTask } from '../src/core/tasks';
import type { Task } from '../src/core/tasks/types';
import * as tf from '../src/core/tf';
import { Accelerator } from './backend';
import { type GradientWorker, startGradientWorker } from './gradient-helper';
import { policyProbe } from './measure-backend';
import {
  buffersOf,
  type PolicyInit,
  type PolicyWorkerApi,
  packRows,
  rendezvous,
  type WorkerEvent,
} from './protocol';

let task: Task;
let start: StoredCheckpoint;
let service: LocalPolicyService;
let accel: Accelerator;
/** Weights + optimizer + RNG + step after the latest update (kept only while on WebGPU). */
let host: StoredCheckpoint | null = null;
/** The sampling RNG before the running operation: a rerun after a device loss starts from it. */
let rngBefore: RngState;

/** Shares the updates on WASM (src/core/shards.ts); null until started, or where it cannot run. */
let gradient: GradientWorker | null = null;

function serviceFor(policy: PolicyModel): LocalPolicyService {
  const s = new LocalPolicyService(task, policy, () =>
    PolicyModel.fromCheckpoint(task, start.manifestJson, start.blob),
  );
  if (accel.info.backend === 'wasm') s.helper = gradient;
  return s;
}

/**
 * Start the gradient worker beside a WASM policy when the run shards its updates and there is a
 * second core; it joins the service once up (between two calls: the numbers do not change).
 */
function startGradient(req: PolicyInit): void {
  const wanted = (req.rl?.updateShards ?? 1) > 1 && req.rl?.gradientWorker !== false;
  if (!wanted || accel.info.backend !== 'wasm' || navigator.hardwareConcurrency < 2) return;
  startGradientWorker(req.task, start).then(
    (g) => {
      gradient = g;
      if (accel.info.backend !== 'wasm') return;
      service.helper = g;
      accel.amend({ gradientWorker: true });
    },
    (e: Error) => console.warn(`policy worker: no gradient worker (${e.message}); updates run here`),
  );
}

async function saveHostCopy(): Promise<void> {
  host = accel.info.backend === 'webgpu' ? await service.policy.toCheckpoint({}) : null;
}

/** After a device loss: the same policy on the new backend, at the state before the running op. */
async function rebuild(): Promise<void> {
  if (!host) throw new Error('device lost before the policy had a host copy');
  try {
    service.policy.dispose();
  } catch {}
  const policy = PolicyModel.fromCheckpoint(task, host.manifestJson, host.blob);
  policy.rng.setState(rngBefore);
  service = serviceFor(policy);
  host = null;
}

/** Every model call: remember the RNG, run under the accelerator (error scopes, loss rerun). */
function op<T>(label: string, fn: () => Promise<T>): Promise<T> {
  return accel.run(label, () => {
    rngBefore = service.policy.rng.getState();
    return fn();
  });
}

const api: PolicyWorkerApi = {
  async init(req: PolicyInit, onEvent: (e: WorkerEvent) => void): Promise<BackendInfo> {
    task = getTask(req.task);
    start = req.checkpoint;
    accel = new Accelerator(req, onEvent, rebuild, {
      model: configFromManifest(JSON.parse(start.manifestJson) as CheckpointManifest, 'policy'),
      probe: (w) => policyProbe(task, start, w),
    });
    const info = await accel.init();
    const policy = req.rl
      ? prepareRlPolicy(task, start, req.rl)
      : PolicyModel.fromCheckpoint(task, start.manifestJson, start.blob);
    service = serviceFor(policy);
    rngBefore = policy.rng.getState();
    await saveHostCopy();
    startGradient(req);
    return info;
  },

  describe: () => service.describe(),

  generate(requests: GenerateRequest[], opts: { temperature: number; topP: number; greedy?: boolean }) {
    return op('generate', async () => {
      const gen = await service.generate(requests, opts);
      const logps = packRows(gen.logps);
      return Comlink.transfer({ texts: gen.texts, logps }, buffersOf(logps.flat, logps.lengths));
    });
  },

  update(batch: UpdateBatch, opts: UpdateOptions) {
    return op('update', async () => {
      const stats = await service.update(batch, opts);
      await saveHostCopy();
      return stats;
    });
  },

  evaluate: (opts: Partial<EvalOptions>) => op('evaluate', () => service.evaluate(opts)),

  checkpoint(meta: Record<string, unknown>) {
    return op('checkpoint', async () => {
      const ck = await service.checkpoint(meta);
      return Comlink.transfer(ck, buffersOf(ck.blob));
    });
  },

  load(ck: StoredCheckpoint) {
    return op('load', async () => {
      await service.load(ck);
      await saveHostCopy();
    });
  },

  numTensors: async () => tf.memory().numTensors,

  loseDevice: async (during?: string) => accel.loseDevice(during),

  rendezvous: async (counter: SharedArrayBuffer, parties: number, timeoutMs: number) =>
    rendezvous(counter, parties, timeoutMs),
};

Comlink.expose(api);
