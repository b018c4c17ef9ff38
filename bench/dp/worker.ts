/**
 * One replica of the data-parallel SFT prototype (bench/dp/dp-sft.ts): a worker thread with its own
 * tfjs-wasm and an identical copy of the policy. Messages:
 * - {type:'grad', ids, B, T, mask, scale}: the flat gradient of scale * sftLoss on its shard
 *   (returned as a transferred Float32Array, with the scaled loss);
 * - {type:'apply', grad, lr, gradScale}: Adam on the given (summed) flat gradient;
 * - {type:'step', ids, B, T, mask}: the whole step alone (optimiseStep), the baseline;
 * - {type:'weights'}: the flattened weights.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PolicyModel } from '../../src/core/agents';
import { addTask } from '../../src/core/tasks';
import * as tf from '../../src/core/tf';
import { optimiseStep, sftLoss } from '../../src/core/train';
import { useBackend } from '../../src/node/backend';

type Msg =
  | { type: 'grad'; ids: Int32Array; B: number; T: number; mask: Float32Array; scale: number }
  | { type: 'apply'; grad: Float32Array; lr: number; gradScale: number }
  | { type: 'step'; ids: Int32Array; B: number; T: number; mask: Float32Array; lr: number }
  | { type: 'weights' };

await useBackend(workerData.backend as 'wasm' | 'cpu');
const policy = PolicyModel.create(addTask, 2);
const names = [...policy.params.keys()];

parentPort!.on('message', async (m: Msg) => {
  if (m.type === 'grad') {
    const { value, grads } = tf.variableGrads(
      () => tf.mul(sftLoss(policy.cfg, policy.params, { ids: m.ids, B: m.B, T: m.T }, m.mask), m.scale),
      names.map((n) => policy.params.get(n)!),
    );
    const map = new Map(names.map((n) => [n, grads[policy.params.get(n)!.name]]));
    const flat = policy.opt.flatten(map);
    tf.dispose([...map.values()]);
    const g = (await flat.data()) as Float32Array;
    const loss = (await value.data())[0];
    tf.dispose([flat, value]);
    parentPort!.postMessage({ grad: g, loss }, [g.buffer as ArrayBuffer]);
  } else if (m.type === 'apply') {
    const g = tf.tensor1d(m.grad);
    policy.opt.applyFlat(g, m.lr, m.gradScale);
    g.dispose();
    parentPort!.postMessage({ ok: true });
  } else if (m.type === 'step') {
    const r = await optimiseStep(
      policy.params,
      policy.opt,
      () => sftLoss(policy.cfg, policy.params, { ids: m.ids, B: m.B, T: m.T }, m.mask),
      m.lr,
      1,
    );
    parentPort!.postMessage(r);
  } else {
    const flat = tf.concat(names.map((n) => tf.reshape(policy.params.get(n)!, [-1])));
    const w = (await flat.data()) as Float32Array;
    flat.dispose();
    parentPort!.postMessage({ weights: w }, [w.buffer as ArrayBuffer]);
  }
});
parentPort!.postMessage({ ready: true, backend: tf.getBackend() });
