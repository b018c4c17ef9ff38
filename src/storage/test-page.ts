/**
 * storage-test.html's script: the storage layer and the few core pieces needed to build test
 * checkpoints, on `window.scopeStorageTest`, for e2e/storage.spec.ts to drive in real Chromium.
 */
import { openDB } from 'idb';
import { crc32, packCheckpointFile, serializeCheckpoint } from '../core/checkpoint';
import { type ModelConfig, paramShapes } from '../core/model';
import { parseRlConfig } from '../core/rl/config';
import { getTask } from '../core/tasks';
import { tokenizerFor } from '../core/tokenizer';
import * as storage from './index';

/** A valid policy checkpoint of task 'add' whose weights depend on `iter`; `dModel` sets its size. */
function makeCheckpoint(iter: number, dModel = 8) {
  const config = parseRlConfig({ task: 'add', algo: 'scope', seed: 7, iters: 1000 });
  const cfg: ModelConfig = {
    vocabSize: tokenizerFor(getTask('add')).vocabSize,
    blockSize: 16,
    nLayer: 1,
    nHead: 2,
    dModel,
    dMlp: 2 * dModel,
    kind: 'policy',
  };
  let seed = iter * 7919 + 1;
  const tensors = paramShapes(cfg).map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 16807) % 2147483647;
      data[i] = seed / 2147483647 - 0.5;
    }
    return { name, shape, data };
  });
  const { manifestJson, blob } = serializeCheckpoint({
    kind: 'policy',
    task: 'add',
    step: iter,
    config: { ...cfg },
    rng: [1, 2, 3, iter],
    optimizer: { name: 'adam', iterations: iter, hyper: { beta1: 0.9 } },
    meta: { config, iter },
    tensors,
  });
  return { manifestJson, blob };
}

const api = { storage, openDB, crc32, packCheckpointFile, makeCheckpoint, parseRlConfig };
declare global {
  interface Window {
    scopeStorageTest: typeof api;
  }
}
window.scopeStorageTest = api;
document.body.dataset.ready = '1';
