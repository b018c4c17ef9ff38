import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel, PrmModel } from '../src/core/agents';
import { CheckpointError } from '../src/core/checkpoint';
import { decodeStep, forwardHidden, lmHead } from '../src/core/model';
import { runSft, sftBatch } from '../src/core/pretrain';
import { Rng } from '../src/core/rng';
import { chooseToken } from '../src/core/sampling';
import { addTask, arithTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { sftLoss } from '../src/core/train';
import { useBackend } from '../src/node/backend';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Full-forward logits of one unpadded sequence, [T, V]. */
function fullLogits(policy: PolicyModel, ids: Int32Array): Float32Array {
  return tf.tidy(() => {
    const { hidden } = forwardHidden(policy.cfg, policy.params, tf.tensor2d(ids, [1, ids.length], 'int32'));
    return lmHead(policy.params, hidden).dataSync() as Float32Array;
  });
}

describe('policy sampling', () => {
  it('KV-cache decoding reproduces the full forward pass (log-probs within 1e-4)', async () => {
    const policy = PolicyModel.create(arithTask, 7);
    const rng = new Rng(1);
    // Prompts of different lengths exercise left padding and per-sequence positions.
    const problems = Array.from({ length: 6 }, () => arithTask.sample(rng, 'test'));
    const gen = await policy.generate(
      problems.map((p) => ({ prompt: p.prompt })),
      { temperature: 1, topP: 1, rng, maxNewTokens: 20 },
    );
    const V = policy.cfg.vocabSize;
    let maxDiff = 0;
    problems.forEach((p, b) => {
      const prefix = policy.encode(p.prompt);
      const ids = Int32Array.from([...prefix, ...gen.tokens[b]]);
      const logits = fullLogits(policy, ids);
      gen.tokens[b].forEach((tok, j) => {
        const row = logits.subarray((prefix.length - 1 + j) * V, (prefix.length + j) * V);
        let max = -Infinity;
        for (let i = 1; i < V; i++) max = Math.max(max, row[i]);
        let z = 0;
        for (let i = 1; i < V; i++) z += Math.exp(row[i] - max);
        const logp = row[tok] - max - Math.log(z);
        maxDiff = Math.max(maxDiff, Math.abs(logp - gen.logps[b][j]));
      });
    });
    expect(gen.tokens.every((t) => t.length > 0)).toBe(true);
    expect(maxDiff).toBeLessThan(1e-4);
    policy.dispose();
  });

  it('KV-cache decode steps give the same raw logits as the full forward pass (within 1e-4), left padding included', () => {
    const policy = PolicyModel.create(addTask, 11);
    const { cfg, params } = policy;
    const V = cfg.vocabSize;
    const rng = new Rng(3);
    const seqs = [12, 9].map((n) => Int32Array.from({ length: n }, () => rng.int(1, V - 1)));
    const prefixLens = [5, 2]; // the second prefix is left-padded by 3 in the batch
    const full = seqs.map((ids) => fullLogits(policy, ids));
    let maxDiff = 0;
    tf.tidy(() => {
      const L = Math.max(...prefixLens);
      const ids = new Int32Array(2 * L);
      const pos = new Int32Array(2 * L);
      const valid = new Float32Array(2 * L);
      seqs.forEach((s, b) => {
        const off = L - prefixLens[b];
        for (let t = 0; t < prefixLens[b]; t++) {
          ids[b * L + off + t] = s[t];
          pos[b * L + off + t] = t;
          valid[b * L + off + t] = 1;
        }
      });
      const pre = forwardHidden(cfg, params, tf.tensor2d(ids, [2, L], 'int32'), {
        posIds: tf.tensor2d(pos, [2, L], 'int32'),
        keyValid: tf.tensor2d(valid, [2, L]),
        returnCache: true,
      });
      let logits = lmHead(
        params,
        tf.reshape(tf.slice(tf.reshape(pre.hidden, [2, L, cfg.dModel]), [0, L - 1, 0], [2, 1, cfg.dModel]), [
          2,
          cfg.dModel,
        ]) as tf.Tensor2D,
      );
      let cache = pre.cache!;
      const validRows = [Array.from(valid.subarray(0, L)), Array.from(valid.subarray(L))];
      for (let step = 0; step < 7; step++) {
        const host = logits.dataSync();
        seqs.forEach((_, b) => {
          const t = prefixLens[b] - 1 + step; // position whose next-token logits these are
          for (let v = 0; v < V; v++)
            maxDiff = Math.max(maxDiff, Math.abs(host[b * V + v] - full[b][t * V + v]));
        });
        const next = seqs.map((s, b) => s[prefixLens[b] + step]);
        for (const row of validRows) row.push(1);
        const out = decodeStep(
          cfg,
          params,
          next,
          prefixLens.map((n) => n + step),
          cache,
          [...validRows[0], ...validRows[1]],
        );
        logits = out.logits;
        cache = out.cache;
      }
    });
    expect(maxDiff).toBeLessThan(1e-4);
    policy.dispose();
  });

  it('the same seed gives the same samples, another seed different ones', async () => {
    const policy = PolicyModel.create(addTask, 3);
    const prefixes = ['47+85', '1234+999', '12+34'].map((prompt) => ({ prompt }));
    const run = async (seed: number) =>
      (await policy.generate(prefixes, { temperature: 1, topP: 0.9, rng: new Rng(seed), maxNewTokens: 24 }))
        .texts;
    const a = await run(11);
    expect(await run(11)).toEqual(a);
    expect(await run(12)).not.toEqual(a);
    policy.dispose();
  });

  it('does not leak tensors while sampling', async () => {
    const policy = PolicyModel.create(addTask, 3);
    const gen = () =>
      policy.generate([{ prompt: '12+34' }, { prompt: '1+2' }], { temperature: 1, topP: 1, rng: new Rng(1) });
    await gen();
    const before = tf.memory().numTensors;
    await gen();
    expect(tf.memory().numTensors).toBe(before);
    policy.dispose();
  });

  it('chooseToken: greedy takes the argmax, top-p keeps only the nucleus, PAD is never chosen', () => {
    const logits = Float32Array.from([100, 2, 1, 0.5, -1]); // id 0 is PAD despite its huge logit
    const rng = new Rng(5);
    expect(chooseToken(logits, { temperature: 1, topP: 1, greedy: true, padId: 0 }, rng)[0]).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++)
      seen.add(chooseToken(logits, { temperature: 1, topP: 0.6, padId: 0 }, rng)[0]);
    expect([...seen]).toEqual([1]); // p(1) = 0.66 > 0.6 on its own
    for (let i = 0; i < 300; i++)
      seen.add(chooseToken(logits, { temperature: 1, topP: 1, padId: 0 }, rng)[0]);
    expect(seen.has(0)).toBe(false);
    expect(seen.size).toBe(4);
  });

  it('chooseToken: the nucleus ranks tokens by probability, ties by id, and walks them in that order', () => {
    const rng = new Rng(5);
    // Tokens 1-4 tie at the top (0.21 each), 5 and 6 share the rest; PAD (0) is excluded.
    const logits = Float32Array.from([9, 2, 2, 2, 2, 1, 1]);
    const top = Math.exp(2) / (4 * Math.exp(2) + 2 * Math.exp(1)); // each of tokens 1-4
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++)
      seen.add(chooseToken(logits, { temperature: 1, topP: 2 * top - 1e-6, padId: 0 }, rng)[0]);
    expect([...seen].sort()).toEqual([1, 2]); // of four tied tokens, the two lowest ids form the nucleus
    // Walking the ranked tokens (their mass is 1 with topP = 1): u just below p(1) picks token 1, just
    // above it token 2.
    const fixed = (u: number) => ({ float: () => u }) as unknown as Rng;
    expect(chooseToken(logits, { temperature: 1, topP: 1, padId: 0 }, fixed(top - 1e-6))[0]).toBe(1);
    expect(chooseToken(logits, { temperature: 1, topP: 1, padId: 0 }, fixed(top + 1e-6))[0]).toBe(2);
    expect(chooseToken(logits, { temperature: 1, topP: 1, padId: 0 }, fixed(0.999999))[0]).toBe(6);
  });
});

describe('training', () => {
  it('a short SFT run lowers the loss on a fixed batch', async () => {
    const policy = PolicyModel.create(addTask, 1);
    const rng = new Rng(2);
    const probe = sftBatch(addTask, policy, new Rng(99), 32);
    const loss = () =>
      tf.tidy(() => sftLoss(policy.cfg, policy.params, probe.batch, probe.mask).dataSync()[0]);
    const before = loss();
    await runSft(
      addTask,
      policy,
      { steps: 30, batchSize: 32, lr: 3e-3, minLr: 3e-3, warmup: 1, clipNorm: 1 },
      rng,
    );
    const after = loss();
    expect(after).toBeLessThan(before - 0.5);
    policy.dispose();
  });
});

describe('checkpoints of models', () => {
  it('round-trip weights, optimizer state, RNG and step bit-exactly', async () => {
    const policy = PolicyModel.create(addTask, 4);
    await runSft(
      addTask,
      policy,
      { steps: 2, batchSize: 8, lr: 1e-3, minLr: 1e-3, warmup: 1, clipNorm: 1 },
      new Rng(1),
    );
    policy.rng.float();
    const ck = await policy.toCheckpoint({ note: 'x' });
    const back = PolicyModel.fromCheckpoint(addTask, ck.manifestJson, ck.blob);
    const again = await back.toCheckpoint({ note: 'x' });
    expect(again.manifestJson).toBe(ck.manifestJson);
    expect(Buffer.from(again.blob).equals(Buffer.from(ck.blob))).toBe(true);
    expect(back.step).toBe(2);
    expect(back.rng.getState()).toEqual(policy.rng.getState());
    policy.dispose();
    back.dispose();
  });

  it('rejects a checkpoint of another task or kind, and a corrupted blob', async () => {
    const policy = PolicyModel.create(addTask, 4);
    const ck = await policy.toCheckpoint();
    expect(() => PolicyModel.fromCheckpoint(arithTask, ck.manifestJson, ck.blob)).toThrow(
      /task 'add', not 'arith'/,
    );
    expect(() => PrmModel.fromCheckpoint(addTask, ck.manifestJson, ck.blob)).toThrow(
      /holds a policy, not a prm/,
    );
    const bad = ck.blob.slice();
    bad[100] ^= 0xff;
    expect(() => PolicyModel.fromCheckpoint(addTask, ck.manifestJson, bad)).toThrow(CheckpointError);
    expect(() =>
      PolicyModel.fromCheckpoint(addTask, ck.manifestJson.replace('"version": 1', '"version": 9'), ck.blob),
    ).toThrow(/newer than this scope-lab supports/);
    policy.dispose();
  });

  it('PRM scores one probability per terminated step', async () => {
    const policy = PolicyModel.create(addTask, 4);
    const prm = PrmModel.fromPolicy(policy, 1);
    const scores = await prm.scoreSteps([
      { prompt: '47+85', completion: '7+5+0=12;4+8+1=13;>132.' },
      { prompt: '47+85', completion: '7+5+0=12;4+8' },
      { prompt: '47+85', completion: '' },
    ]);
    expect(scores.map((s) => s.length)).toEqual([3, 1, 0]);
    // Step scores are running minima of per-token verdicts: in (0, 1) and never increasing.
    for (const row of scores)
      for (const [i, s] of row.entries()) expect(s > 0 && s < 1 && (i === 0 || s <= row[i - 1])).toBe(true);
    // The same prefix gets the same score whatever follows it (the PRM is causal).
    expect(scores[1][0]).toBeCloseTo(scores[0][0], 5);
    policy.dispose();
    prm.dispose();
  });
});

describe('pretraining is deterministic', () => {
  it('the same seed gives bit-identical policy and PRM checkpoints', async () => {
    const { prmRolloutPool, runPrmTraining } = await import('../src/core/pretrain');
    const once = async () => {
      const policy = PolicyModel.create(arithTask, 8, { nLayer: 1, dModel: 32, nHead: 2, dMlp: 64 });
      const rng = new Rng('pretrain-test');
      await runSft(
        arithTask,
        policy,
        { steps: 3, batchSize: 8, lr: 1e-3, minLr: 1e-4, warmup: 1, clipNorm: 1 },
        rng.fork('sft'),
      );
      const prm = PrmModel.fromPolicy(policy, 8);
      const pool = await prmRolloutPool(arithTask, policy, prm, 16, rng.fork('pool'));
      await runPrmTraining(
        arithTask,
        prm,
        pool,
        {
          steps: 2,
          batchSize: 8,
          lr: 1e-3,
          minLr: 1e-4,
          warmup: 1,
          clipNorm: 1,
          rollouts: 16,
          syntheticFraction: 0.5,
          invalidWeight: 4,
        },
        rng.fork('prm'),
      );
      const out = [await policy.toCheckpoint(), await prm.toCheckpoint()];
      policy.dispose();
      prm.dispose();
      return out;
    };
    const [a, b] = [await once(), await once()];
    for (let i = 0; i < 2; i++) {
      expect(b[i].manifestJson).toBe(a[i].manifestJson);
      expect(Buffer.from(b[i].blob).equals(Buffer.from(a[i].blob))).toBe(true);
    }
  });
});
