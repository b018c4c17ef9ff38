/** Inside the gradient thread (./gradient-thread.ts): a ShardWorker over a copy of the policy. */
import { parentPort, workerData } from 'node:worker_threads';
import { PolicyModel } from '../core/agents';
import { type ShardJob, ShardWorker } from '../core/shards';
import { getTask } from '../core/tasks';
import { useBackend } from './backend';
import type { GradientThreadInit, GradientThreadReply } from './gradient-thread';

const port = parentPort!;
const init = workerData as GradientThreadInit;
try {
  await useBackend(init.backend);
  const policy = PolicyModel.fromCheckpoint(
    getTask(init.task),
    init.checkpoint.manifestJson,
    init.checkpoint.blob,
  );
  const shards = new ShardWorker(policy);
  port.on('message', async (m: { id: number; weights: Float32Array; job: ShardJob }) => {
    let reply: GradientThreadReply;
    try {
      const { grad, stats } = await shards.gradient(m.weights, m.job);
      reply = { id: m.id, grad, stats };
      port.postMessage(reply, [grad.buffer as ArrayBuffer]);
    } catch (e) {
      reply = { id: m.id, error: (e as Error).message };
      port.postMessage(reply);
    }
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ error: (e as Error).message });
}
