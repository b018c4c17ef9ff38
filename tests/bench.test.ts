import { beforeAll, describe, expect, it } from 'vitest';
import { sampleNoCache } from '../src/bench/measure';
import { quantileSorted, spreadOf } from '../src/bench/stats';
import { PolicyModel } from '../src/core/agents';
import { Rng } from '../src/core/rng';
import { sampleBatch } from '../src/core/sampling';
import { addTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('bench statistics', () => {
  it('median, quartiles and range of a sample', () => {
    const s = spreadOf([5, 1, 4, 2, 3]);
    expect(s).toEqual({ median: 3, min: 1, max: 5, q1: 2, q3: 4, n: 5 });
    expect(spreadOf([1, 2, 3, 4]).median).toBe(2.5);
    expect(quantileSorted([0, 10], 0.25)).toBe(2.5);
    expect(() => spreadOf([])).toThrow(/no samples/);
  });
});

describe('no-cache reference decoder', () => {
  it('samples what the KV-cache decoder samples from the same RNG (log-probs within 1e-4)', async () => {
    const policy = PolicyModel.create(addTask, 5);
    const rng = new Rng(2);
    // Different prompt lengths (left padding), EOS allowed so sequences stop at different steps.
    const prefixes = Array.from({ length: 5 }, () => policy.encode(addTask.sample(rng, 'train').prompt));
    const opts = (seed: number) => ({
      maxNewTokens: 24,
      temperature: 1,
      topP: 0.9,
      rng: new Rng(seed),
      stopId: policy.tok.eosId,
      padId: policy.tok.padId,
    });
    const kv = await sampleBatch(policy.cfg, policy.params, prefixes, opts(9));
    const nc = await sampleNoCache(policy.cfg, policy.params, prefixes, opts(9));
    expect(nc.tokens.map((t) => Array.from(t))).toEqual(kv.tokens.map((t) => Array.from(t)));
    expect(nc.finished).toEqual(kv.finished);
    let maxDiff = 0;
    kv.logps.forEach((l, b) => {
      l.forEach((x, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(x - nc.logps[b][j]));
      });
    });
    expect(maxDiff).toBeLessThan(1e-4);
    expect(new Set(kv.tokens.map((t) => t.length)).size).toBeGreaterThan(1);
    policy.dispose();
  });
});
