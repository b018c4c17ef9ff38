/**
 * A/B of the update's shards (src/core/shards.ts) in Node: the default SCOPE iteration's update
 * with 1 shard, 2 shards on this thread, and 2 shards with a gradient thread, alternated.
 * usage: npx tsx bench/dp/shards-ab.ts [--iters N]
 */
import { parseArgs } from 'node:util';
import { parseRlConfig } from '../../src/core/rl/config';
import { LocalPolicyService, LocalPrmService } from '../../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../../src/core/rl/setup';
import { Trainer } from '../../src/core/rl/trainer';
import { addTask } from '../../src/core/tasks';
import { useBackend } from '../../src/node/backend';
import { readCheckpoint } from '../../src/node/files';
import { startGradientThread } from '../../src/node/gradient-thread';

const { values } = parseArgs({ options: { iters: { type: 'string', default: '20' } } });
await useBackend('wasm');
const pc = readCheckpoint('public/checkpoints/add', 'policy', 'add');
const rc = readCheckpoint('public/checkpoints/add', 'prm', 'add');
const arms = [
  { name: '1 shard', shards: 1, thread: false },
  { name: '2 shards, 1 thread', shards: 2, thread: false },
  { name: '2 shards, gradient thread', shards: 2, thread: true },
];
const runs = await Promise.all(
  arms.map(async (a) => {
    const cfg = parseRlConfig({ updateShards: a.shards });
    const policy = prepareRlPolicy(addTask, pc, cfg);
    const service = new LocalPolicyService(addTask, policy);
    if (a.thread)
      service.helper = await startGradientThread({ backend: 'wasm', task: 'add', checkpoint: pc });
    return {
      ...a,
      service,
      trainer: new Trainer(addTask, cfg, service, new LocalPrmService(loadPrm(addTask, rc))),
      update: [] as number[],
      total: [] as number[],
    };
  }),
);
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
for (let i = 0; i < 3 + Number(values.iters); i++)
  for (const r of runs) {
    const { metrics } = await r.trainer.step();
    if (i >= 3) {
      r.update.push(metrics.timeMs.update);
      r.total.push(metrics.timeMs.total);
    }
  }
for (const r of runs)
  console.log(
    `${r.name}: update median ${med(r.update).toFixed(1)} ms, iteration ${med(r.total).toFixed(1)} ms`,
  );
for (const r of runs) await (r.service.helper as { close?: () => Promise<void> } | null)?.close?.();
