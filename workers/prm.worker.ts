/**
 * The PRM worker: a LocalPrmService behind comlink. The PRM is frozen during RL, so after a device
 * loss it simply reloads its checkpoint on WASM.
 */
import * as Comlink from 'comlink';
import type { BackendInfo } from '../src/browser/session-api';
import type { PrmModel } from '../src/core/agents';
import { LocalPrmService, type StoredCheckpoint } from '../src/core/rl/services';
import { loadPrm } from '../src/core/rl/setup';
import { getTask } from '../src/core/tasks';
import type { Task } from '../src/core/tasks/types';
import * as tf from '../src/core/tf';
import { Accelerator } from './backend';
import {
  buffersOf,
  type PrmInit,
  type PrmWorkerApi,
  packRows,
  rendezvous,
  type WorkerEvent,
} from './protocol';

let task: Task;
let ck: StoredCheckpoint;
let prm: PrmModel;
let service: LocalPrmService;
let accel: Accelerator;

async function rebuild(): Promise<void> {
  try {
    prm.dispose();
  } catch {}
  prm = loadPrm(task, ck);
  service = new LocalPrmService(prm);
}

const api: PrmWorkerApi = {
  async init(req: PrmInit, onEvent: (e: WorkerEvent) => void): Promise<BackendInfo> {
    task = getTask(req.task);
    ck = req.checkpoint;
    accel = new Accelerator(req, onEvent, rebuild);
    const info = await accel.init();
    prm = loadPrm(task, ck);
    service = new LocalPrmService(prm);
    return info;
  },

  scoreSteps(items: { prompt: string; completion: string }[]) {
    return accel.run('scoreSteps', async () => {
      const scores = packRows(await service.scoreSteps(items));
      return Comlink.transfer(scores, buffersOf(scores.flat, scores.lengths));
    });
  },

  numTensors: async () => tf.memory().numTensors,

  loseDevice: async (during?: string) => accel.loseDevice(during),

  rendezvous: async (counter: SharedArrayBuffer, parties: number, timeoutMs: number) =>
    rendezvous(counter, parties, timeoutMs),
};

Comlink.expose(api);
