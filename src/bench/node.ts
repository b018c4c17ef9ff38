/** The benchmark in Node: backend set-up, checkpoints from disk, the process heap. */
import path from 'node:path';
import { PolicyModel } from '../core/agents';
import { parseRlConfig } from '../core/rl/config';
import { LocalPolicyService, LocalPrmService } from '../core/rl/services';
import { loadPrm, prepareRlPolicy } from '../core/rl/setup';
import { Trainer } from '../core/rl/trainer';
import { Rng } from '../core/rng';
import { sampleBatch } from '../core/sampling';
import { addTask } from '../core/tasks';
import { optimiseStep, sftLoss } from '../core/train';
import { type NodeBackend, useBackend } from '../node/backend';
import { readCheckpoint } from '../node/files';
import { type BenchOptions, type BenchResult, type OpTime, profileByKernel, runBench } from './measure';

const CK_DIR = path.join('public', 'checkpoints', 'add');

export async function benchNode(
  backend: NodeBackend,
  opts: Partial<BenchOptions>,
  log: (m: string) => void,
): Promise<BenchResult> {
  const name = await useBackend(backend);
  return runBench(
    {
      runtime: 'node',
      backend: name,
      threads: 1,
      policyCk: readCheckpoint(CK_DIR, 'policy'),
      prmCk: readCheckpoint(CK_DIR, 'prm'),
      heapMB: () => process.memoryUsage().heapUsed / 2 ** 20,
      log,
      now: () => performance.now(),
    },
    opts,
  );
}

function printOps(title: string, ops: OpTime[], log: (m: string) => void) {
  const total = ops.reduce((a, o) => a + o.ms, 0);
  log(`${title}: ${total.toFixed(1)} ms kernel time`);
  for (const o of ops.slice(0, 14))
    log(
      `  ${o.kernel.padEnd(22)} ${o.ms.toFixed(2).padStart(8)} ms ${((100 * o.ms) / total).toFixed(0).padStart(3)}%  ${o.calls} calls`,
    );
}

/** Kernel time by op for one SFT step, one decode and one SCOPE update (after warm-up). */
export async function profileNode(backend: NodeBackend, log: (m: string) => void): Promise<void> {
  await useBackend(backend);
  const policy = PolicyModel.create(addTask, 2);
  const rng = new Rng('bench/sft');
  const B = 32;
  const T = 32;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(1, policy.cfg.vocabSize - 1));
  const mask = new Float32Array(B * (T - 1)).fill(1);
  const sft = async () => {
    await optimiseStep(
      policy.params,
      policy.opt,
      () => sftLoss(policy.cfg, policy.params, { ids, B, T }, mask),
      1e-4,
      1,
    );
  };
  await sft();
  printOps('sft step', await profileByKernel(sft), log);

  const prefixes = Array.from({ length: 64 }, () => policy.encode('123+456'));
  const decode = async () => {
    await sampleBatch(policy.cfg, policy.params, prefixes, {
      maxNewTokens: 32,
      temperature: 1,
      topP: 1,
      rng: new Rng(1),
      stopId: policy.tok.padId,
      padId: policy.tok.padId,
    });
  };
  await decode();
  printOps('decode 64 x 32 tokens (KV cache)', await profileByKernel(decode), log);
  policy.dispose();

  const rl = parseRlConfig({});
  const rlPolicy = prepareRlPolicy(addTask, readCheckpoint(CK_DIR, 'policy'), rl);
  const prm = loadPrm(addTask, readCheckpoint(CK_DIR, 'prm'));
  const trainer = new Trainer(
    addTask,
    rl,
    new LocalPolicyService(addTask, rlPolicy),
    new LocalPrmService(prm),
  );
  await trainer.step();
  printOps(
    'scope iteration (all phases)',
    await profileByKernel(async () => void (await trainer.step())),
    log,
  );
  rlPolicy.dispose();
  prm.dispose();
}
