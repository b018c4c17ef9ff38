/**
 * npm run pretrain -- --task <add|arith> [--seed N] [--out DIR] [--force] [--sft-steps N] [--sft-lr X] [--sft-batch N] [--prm-steps N]
 * Trains the SFT policy and the PRM deterministically on the wasm backend and writes them to
 * public/checkpoints/<task>/ (policy.json/.bin, prm.json/.bin, eval.json).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PolicyModel, PrmModel } from '../src/core/agents';
import { evaluatePolicy } from '../src/core/evaluate';
import {
  type PrmSchedule,
  prmRolloutPool,
  runPrmTraining,
  runSft,
  type SftSchedule,
} from '../src/core/pretrain';
import { Rng } from '../src/core/rng';
import type { HelperSlot } from '../src/core/shards';
import { getTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { cliMain } from '../src/node/cli';
import { writeCheckpoint } from '../src/node/files';
import { startGradientThread } from '../src/node/gradient-thread';
import { PRETRAIN_HELP, parsePretrainArgs } from '../src/node/options';
import { Progress } from '../src/node/progress';

// Chosen by measurement (docs in README): add passes a sharp transition between ~1,100 steps (70%
// greedy, 7% sampled) and ~1,500 (98% greedy); 1,250 lands in the "largely correct with missteps"
// window. arith at 2,500 steps: ~83% greedy, ~72% sampled. Both end fully decayed (settled).
// Two row shards per step, the second on a gradient thread (src/core/shards.ts); the shipped
// checkpoints were made before, with one.
const SFT: Record<string, SftSchedule> = {
  add: { steps: 1250, batchSize: 32, lr: 2e-3, minLr: 1e-5, warmup: 50, clipNorm: 1, shards: 2 },
  arith: { steps: 2500, batchSize: 32, lr: 2e-3, minLr: 1e-5, warmup: 50, clipNorm: 1, shards: 2 },
};
const PRM_BASE: PrmSchedule = {
  steps: 800,
  batchSize: 64,
  lr: 1e-3,
  minLr: 1e-5,
  warmup: 30,
  clipNorm: 1,
  rollouts: 4096,
  syntheticFraction: 0.25,
  invalidWeight: 4,
};
// arith's verdicts drift more lenient (several legal next steps make single tokens less surprising),
// so its invalid tokens weigh more.
const PRM: Record<string, PrmSchedule> = { add: PRM_BASE, arith: { ...PRM_BASE, invalidWeight: 8 } };

await cliMain(PRETRAIN_HELP, async () => {
  const args = parsePretrainArgs(process.argv.slice(2));
  if (!args) return console.log(PRETRAIN_HELP);
  const { seed, out } = args;
  const task = getTask(args.task);
  const base = SFT[task.name];
  const sft: SftSchedule = {
    ...base,
    steps: args.sftSteps ?? base.steps,
    lr: args.sftLr ?? base.lr,
    batchSize: args.sftBatch ?? base.batchSize,
  };
  const prmSchedule = { ...PRM[task.name], steps: args.prmSteps ?? PRM[task.name].steps };
  if (!args.force && existsSync(path.join(out, 'policy.json')))
    throw new Error(
      `'${out}' already holds checkpoints; pass --force to replace them (the shipped ones rebuild byte for byte only at the commit that made them: README, "Shipped checkpoints")`,
    );
  mkdirSync(out, { recursive: true }); // an unusable --out fails now, not after the training
  const backend = await useBackend('wasm');
  const t0 = Date.now();
  console.log(`pretrain ${task.name} seed=${seed} backend=${backend} -> ${out}`);

  const rng = new Rng(`pretrain/${task.name}/${seed}`);
  const policy = PolicyModel.create(task, seed);
  // The same numbers without the thread (it only lends the second core).
  const thread = await startGradientThread({
    backend: 'wasm',
    task: task.name,
    checkpoint: await policy.toCheckpoint({}),
  }).catch((e: Error) => {
    console.log(`note: ${e.message}; every shard runs on this thread`);
    return null;
  });
  const slot: HelperSlot = { helper: thread, helperShards: 0 };
  const sftBar = new Progress('sft', sft.steps);
  await runSft(
    task,
    policy,
    sft,
    rng.fork('sft'),
    (i, _n, r) => sftBar.update(i, `loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(1)}`),
    slot,
  );

  console.log('sampling policy rollouts for the PRM…');
  const prm = PrmModel.fromPolicy(policy, seed);
  const pool = await prmRolloutPool(task, policy, prm, prmSchedule.rollouts, rng.fork('prm-pool'));
  const prmBar = new Progress('prm', prmSchedule.steps);
  await runPrmTraining(task, prm, pool, prmSchedule, rng.fork('prm'), (i, _n, r) =>
    prmBar.update(i, `bce ${r.loss.toFixed(4)}`),
  );

  console.log('evaluating…');
  const evalResult = await evaluatePolicy(task, policy, prm);
  const meta = { seed, sft, prm: prmSchedule, eval: evalResult };
  const policyCk = await policy.toCheckpoint(meta);
  writeCheckpoint(out, 'policy', policyCk);
  writeCheckpoint(out, 'prm', await prm.toCheckpoint(meta));
  const trainSeconds = (Date.now() - t0) / 1000;
  console.log(JSON.stringify(evalResult));

  // Is the checkpoint settled? 100 more SFT steps at lr 1e-4 on the same data should barely move it
  // (algorithms.md section 8: a mid-training snapshot lets any method "gain" from a learning-rate drop).
  console.log('settledness probe: 100 more SFT steps at lr 1e-4…');
  const probe = PolicyModel.fromCheckpoint(task, policyCk.manifestJson, policyCk.blob);
  await runSft(
    task,
    probe,
    { ...sft, steps: 100, lr: 1e-4, minLr: 1e-4, warmup: 1 },
    rng.fork('settle'),
    undefined,
    slot,
  );
  await thread?.close();
  const after = await evaluatePolicy(task, probe, null);
  const settle = {
    steps: 100,
    lr: 1e-4,
    testAccBefore: evalResult.testAcc,
    testAccAfter: after.testAcc,
    testAccDelta: after.testAcc - evalResult.testAcc,
    testAccSampledAfter: after.testAccSampled,
  };
  writeFileSync(
    path.join(out, 'eval.json'),
    `${JSON.stringify({ ...evalResult, settle }, null, 2)}\n`, // no timings: the files reproduce byte for byte
  );
  console.log(`settle: ${JSON.stringify(settle)}`);
  console.log(
    `done: checkpoints in ${trainSeconds.toFixed(0)}s, probe included ${((Date.now() - t0) / 1000).toFixed(0)}s`,
  );
});
