/**
 * Row shards of the RL update and the SFT step (src/core/shards.ts):
 *   - the row ranges and slices, on hand-computed cases;
 *   - a run's numbers depend on the shard count only: two shards on this thread, with an in-process
 *     helper, and with the Node gradient thread give bit-identical metrics and weights; a helper that
 *     fails is dropped without changing them;
 *   - two shards are the one-shard update up to float rounding: the summed gradient against the
 *     unsharded one on wasm and against the cpu backend's (the reference), and the statistics,
 *     whose whole-batch counts must be used by every shard;
 *   - the same for the SFT step (the pretraining's): jobs, gradient parity, a helper changes nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel } from '../src/core/agents';
import { tokenLogProbs } from '../src/core/model';
import { runSft, sftBatch } from '../src/core/pretrain';
import { parseRlConfig } from '../src/core/rl/config';
import { ROLE, type UpdateBatch } from '../src/core/rl/loss';
import { LocalPolicyService, LocalPrmService } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import {
  type GradientHelper,
  readFlatWeights,
  rlJobs,
  type ShardJob,
  ShardWorker,
  sftJobs,
  shardedStep,
  shardGradient,
  shardRanges,
  sliceRows,
  writeFlatWeights,
} from '../src/core/shards';
import { addTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { sftLoss } from '../src/core/train';
import { useBackend } from '../src/node/backend';
import { readCheckpoint } from '../src/node/files';
import { type GradientThread, startGradientThread } from '../src/node/gradient-thread';

const CK = 'public/checkpoints/add';
const pc = readCheckpoint(CK, 'policy', 'add');
const rc = readCheckpoint(CK, 'prm', 'add');

beforeAll(async () => {
  await useBackend('wasm');
});

describe('shard rows', () => {
  it('splits rows into contiguous ranges, the earlier shards taking the extra rows', () => {
    expect(shardRanges(64, 2)).toEqual([
      [0, 32],
      [32, 64],
    ]);
    expect(shardRanges(5, 2)).toEqual([
      [0, 3],
      [3, 5],
    ]);
    expect(shardRanges(7, 3)).toEqual([
      [0, 3],
      [3, 5],
      [5, 7],
    ]);
    expect(shardRanges(1, 2)).toEqual([[0, 1]]);
    expect(shardRanges(4, 1)).toEqual([[0, 4]]);
  });

  it('refuses weights of another size, naming both counts', () => {
    const policy = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    expect(() => writeFlatWeights(policy.params, new Float32Array(7))).toThrow(
      'weights: 7 values for 105280 parameters',
    );
    policy.dispose();
  });

  it('a sharded step with a helper leaves no tensors behind', async () => {
    const policy = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    const replica = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    const { batch, mask } = sftBatch(addTask, policy, new Rng('leak'), 6);
    const slot = { helper: new ShardWorker(replica), helperShards: 0 };
    const step = () => shardedStep(policy, slot, sftJobs(batch, mask, 3), { lr: 1e-4, clipNorm: 1 });
    await step();
    const before = tf.memory().numTensors;
    await step();
    expect(tf.memory().numTensors).toBe(before);
    expect(slot.helperShards).toBe(4);
    policy.dispose();
    replica.dispose();
  });

  it('slices every per-row array of a batch', () => {
    const b = randomBatch(3, 4, new Rng('slice'));
    const s = sliceRows(b, 1, 3);
    expect([s.B, s.T]).toEqual([2, 4]);
    expect([...s.ids]).toEqual([...b.ids.slice(4, 12)]);
    for (const k of ['roles', 'oldLogps', 'advantages', 'weights', 'refLogps'] as const)
      expect(Array.from(s[k] as Float32Array)).toEqual(Array.from((b[k] as Float32Array).slice(3, 9)));
  });
});

/** A batch with every role, ratios away from 1 (so some clip), references for the KL. */
function randomBatch(B: number, T: number, rng: Rng): UpdateBatch {
  const n = B * (T - 1);
  const roles = Uint8Array.from({ length: n }, (_, i) =>
    i % (T - 1) < 2 ? ROLE.masked : [ROLE.on, ROLE.on, ROLE.off, ROLE.pg][rng.int(0, 3)],
  );
  const trained = roles.reduce((a, r) => a + (r !== ROLE.masked ? 1 : 0), 0);
  return {
    B,
    T,
    ids: Int32Array.from({ length: B * T }, () => rng.int(1, 16)),
    roles,
    oldLogps: Float32Array.from({ length: n }, () => -3 * rng.float()),
    advantages: Float32Array.from({ length: n }, (_, i) => (Math.floor(i / (T - 1)) % 2 ? 1 : -0.5)),
    weights: Float32Array.from(roles, (r) => (r === ROLE.masked ? 0 : 1 / trained)),
    refLogps: Float32Array.from({ length: n }, () => -3 * rng.float()),
  };
}

const HYPER = { epsLow: 0.2, epsHigh: 0.2, gamma: 0.1, beta: 0.05, temperature: 1 };

/** Flat gradient and statistics of shard jobs, summed in order (as a step does). */
async function summed(policy: PolicyModel, jobs: ShardJob[]) {
  let grad: Float32Array | null = null;
  const stats = [0, 0, 0, 0];
  for (const job of jobs) {
    const part = await shardGradient(policy, job);
    const g = (await part.grad.data()) as Float32Array;
    part.grad.dispose();
    grad = grad ? grad.map((x, i) => Math.fround(x + g[i])) : g;
    part.stats.forEach((v, k) => {
      stats[k] += v;
    });
  }
  return { grad: grad!, stats };
}

/** The same bits. */
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

const relDiff = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
};

describe('two shards are the one-shard update up to rounding', () => {
  it('gradient within 1e-5 of the unsharded one (wasm) and of the cpu backend; statistics within 1e-6 (1e-5 on cpu)', async () => {
    const rng = new Rng('parity');
    const batch = randomBatch(12, 24, rng);
    const policy = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    // Behaviour log-probs near the policy's own, so ratios are near 1 and some clip (as in a run).
    const own = tf.tidy(
      () => tokenLogProbs(policy.cfg, policy.params, tf.tensor2d(batch.ids, [12, 24], 'int32')).logp,
    );
    const logp = (await own.data()) as Float32Array;
    own.dispose();
    batch.oldLogps = logp.map((v) => v + 0.6 * (rng.float() - 0.5));
    batch.refLogps = logp.map((v) => v + 0.6 * (rng.float() - 0.5));
    const one = await summed(policy, rlJobs(batch, 1, HYPER));
    const two = await summed(policy, rlJobs(batch, 2, HYPER));
    const three = await summed(policy, rlJobs(batch, 3, HYPER));
    policy.dispose();
    await useBackend('cpu');
    const ref = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    const cpu = await summed(ref, rlJobs(batch, 1, HYPER));
    ref.dispose();
    await useBackend('wasm');

    expect(relDiff(two.grad, one.grad)).toBeLessThan(1e-5);
    expect(relDiff(three.grad, one.grad)).toBeLessThan(1e-5);
    expect(relDiff(two.grad, cpu.grad)).toBeLessThan(1e-5);
    // Not identical: the rows' contributions to each weight's gradient are added in another order.
    expect(relDiff(two.grad, one.grad)).toBeGreaterThan(0);
    // [loss, clip fraction, kl, entropy]: each a whole-batch quantity, whatever the shards.
    expect(one.stats[1]).toBeGreaterThan(0);
    expect(one.stats[2]).toBeGreaterThan(0);
    const close = (s: number[], tol: number) =>
      s.forEach((v, k) => {
        expect(Math.abs(v - one.stats[k])).toBeLessThan(tol * Math.max(1, Math.abs(one.stats[k])));
      });
    close(two.stats, 1e-6);
    close(three.stats, 1e-6);
    close(cpu.stats, 1e-5);
  });
});

/** Three iterations of a run (KL reference, two inner epochs) with the given helper set-up. */
async function run(helper: 'none' | 'in-process' | 'thread' | 'failing', updateShards = 2) {
  const cfg = parseRlConfig({
    task: 'add',
    algo: 'scope',
    promptsPerIter: 4,
    groupSize: 4,
    lr: 5e-5,
    warmupIters: 0,
    beta: 0.05,
    innerEpochs: 2,
    updateShards,
    seed: 3,
  });
  const policy = prepareRlPolicy(addTask, pc, cfg);
  const service = new LocalPolicyService(addTask, policy, () =>
    PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob),
  );
  let thread: GradientThread | null = null;
  let replica: PolicyModel | null = null;
  let calls = 0;
  if (helper === 'in-process') {
    replica = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    const inner = new ShardWorker(replica);
    service.helper = {
      gradient: (...a) => {
        calls++;
        return inner.gradient(...a);
      },
    };
  } else if (helper === 'thread') {
    thread = await startGradientThread({ backend: 'wasm', task: 'add', checkpoint: pc });
    const t = thread;
    service.helper = {
      gradient: (...a) => {
        calls++;
        return t.gradient(...a);
      },
    } satisfies GradientHelper;
  } else if (helper === 'failing')
    service.helper = {
      gradient: async () => {
        calls++;
        throw new Error('helper lost');
      },
    };
  const prm = loadPrm(addTask, rc);
  const trainer = new Trainer(addTask, cfg, service, new LocalPrmService(prm));
  const metrics = [];
  for (let i = 0; i < 3; i++) {
    const { metrics: m } = await trainer.step();
    const { timeMs: _t, ...rest } = m;
    metrics.push(rest);
  }
  const weights = await readFlatWeights(policy.params);
  const helperLeft = service.helper !== null;
  const helperShards = service.helperShards;
  await thread?.close();
  replica?.dispose();
  policy.dispose();
  prm.dispose();
  return { metrics, weights, calls, helperLeft, helperShards };
}

describe("a run's numbers do not depend on where its shards run", () => {
  let alone: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    alone = await run('none');
  });

  it('an in-process helper: identical metrics and weights', async () => {
    const got = await run('in-process');
    expect(got.calls).toBe(6); // 3 iterations x 2 epochs, one shard each
    expect(got.helperShards).toBe(6);
    expect(got.metrics).toEqual(alone.metrics);
    expect(sameBits(got.weights, alone.weights)).toBe(true);
  });

  it('the Node gradient thread: identical metrics and weights', async () => {
    const got = await run('thread');
    expect(got.calls).toBe(6);
    expect(got.metrics).toEqual(alone.metrics);
    expect(sameBits(got.weights, alone.weights)).toBe(true);
  }, 60_000);

  it('a helper that fails is dropped after its first call; the numbers stay the same', async () => {
    const got = await run('failing');
    expect(got.calls).toBe(1);
    expect(got.helperLeft).toBe(false);
    expect(got.helperShards).toBe(0);
    expect(got.metrics).toEqual(alone.metrics);
    expect(sameBits(got.weights, alone.weights)).toBe(true);
  });

  it("the one-shard run's first iteration: the same samples, statistics equal up to rounding", async () => {
    const one = await run('none', 1);
    const [a, b] = [alone.metrics[0], one.metrics[0]];
    expect(a.rewardMean).toBe(b.rewardMean);
    expect(a.trainedTokens).toBe(b.trainedTokens);
    for (const k of ['loss', 'gradNorm', 'kl', 'clipFraction', 'entropy'] as const)
      expect(a[k]).toBeCloseTo(b[k], 5);
  });
});

describe('the SFT step in shards', () => {
  it('cuts rows and mask, each shard dividing by the whole batch token count', () => {
    const batch = { B: 3, T: 3, ids: Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) };
    const mask = Float32Array.of(0, 1, 1, 1, 0, 0);
    const jobs = sftJobs(batch, mask, 2);
    expect(jobs.map((j) => j.kind)).toEqual(['sft', 'sft']);
    const [a, b] = jobs as Extract<ShardJob, { kind: 'sft' }>[];
    expect([a.rows.B, Array.from(a.rows.ids), Array.from(a.mask), a.tokens]).toEqual([
      2,
      [1, 2, 3, 4, 5, 6],
      [0, 1, 1, 1],
      3,
    ]);
    expect([b.rows.B, Array.from(b.rows.ids), Array.from(b.mask), b.tokens]).toEqual([
      1,
      [7, 8, 9],
      [0, 0],
      3,
    ]);
  });

  it('two shards: loss within 1e-6 and gradient within 1e-5 of one shard', async () => {
    const policy = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
    const { batch, mask } = sftBatch(addTask, policy, new Rng('sft-shards'), 10);
    const [one, two] = [
      await summed(policy, sftJobs(batch, mask, 1)),
      await summed(policy, sftJobs(batch, mask, 2)),
    ];
    const whole = tf.tidy(() => sftLoss(policy.cfg, policy.params, batch, mask).dataSync()[0]);
    policy.dispose();
    expect(one.stats[0]).toBe(whole);
    expect(Math.abs(two.stats[0] - one.stats[0])).toBeLessThan(1e-6 * one.stats[0]);
    expect(relDiff(two.grad, one.grad)).toBeLessThan(1e-5);
    expect(relDiff(two.grad, one.grad)).toBeGreaterThan(0);
  });

  it('runSft in two shards: an in-process helper gives the same weights, bit for bit', async () => {
    const schedule = { steps: 3, batchSize: 8, lr: 1e-3, minLr: 1e-3, warmup: 1, clipNorm: 1, shards: 2 };
    const train = async (withHelper: boolean) => {
      const policy = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
      const replica = PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob);
      const slot = { helper: withHelper ? new ShardWorker(replica) : null, helperShards: 0 };
      const last = await runSft(addTask, policy, schedule, new Rng('sft-run'), undefined, slot);
      const weights = await readFlatWeights(policy.params);
      policy.dispose();
      replica.dispose();
      return { last, weights, helperShards: slot.helperShards };
    };
    const [alone, shared] = [await train(false), await train(true)];
    expect(shared.helperShards).toBe(3);
    expect(alone.helperShards).toBe(0);
    expect(shared.last).toEqual(alone.last);
    expect(sameBits(shared.weights, alone.weights)).toBe(true);
  });
});
