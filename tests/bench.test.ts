import { beforeAll, describe, expect, it } from 'vitest';
import { runBench, sampleNoCache } from '../src/bench/measure';
import { formatReport } from '../src/bench/report';
import { quantileSorted, spreadOf } from '../src/bench/stats';
import { PolicyModel } from '../src/core/agents';
import { DEFAULT_MODEL } from '../src/core/model';
import { configFromManifest, MODEL_PRESETS } from '../src/core/model-shape';
import { Rng } from '../src/core/rng';
import { sampleBatch } from '../src/core/sampling';
import { addTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { sftLoss } from '../src/core/train';
import { setKernelMode } from '../src/core/wasm-kernels';
import { useBackend } from '../src/node/backend';
import { readCheckpoint } from '../src/node/files';

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

/** The bench's Node environment on wasm, from the shipped add checkpoints (heap not read). */
function nodeWasmEnv() {
  return {
    runtime: 'node' as const,
    backend: 'wasm',
    threads: 1,
    policyCk: readCheckpoint('public/checkpoints/add', 'policy'),
    prmCk: readCheckpoint('public/checkpoints/add', 'prm'),
    heapMB: () => null,
    log: () => {},
    now: () => performance.now(),
  };
}

describe('model presets', () => {
  it('default is the shipped checkpoints architecture; large is d=256, 4 layers', () => {
    for (const name of ['policy', 'prm'] as const) {
      const manifest = JSON.parse(readCheckpoint('public/checkpoints/add', name).manifestJson) as {
        config: Record<string, number>;
      };
      const { vocabSize: _v, ...arch } = configFromManifest(
        manifest as unknown as Parameters<typeof configFromManifest>[0],
        name,
      );
      expect({ ...arch, kind: undefined }).toEqual({ ...MODEL_PRESETS.default, kind: undefined });
    }
    expect(DEFAULT_MODEL).toEqual(MODEL_PRESETS.default);
    expect(MODEL_PRESETS.large).toMatchObject({ nLayer: 4, dModel: 256 });
  });

  it('the bench builds the chosen size (a large SFT step)', async () => {
    const env = nodeWasmEnv();
    const before = tf.memory().numTensors;
    const r = await runBench(env, {
      model: 'large',
      parts: ['sft'],
      sftRuns: 1,
      sftWarmup: 0,
      sftBatch: 2,
      sftSeqLen: 8,
    });
    expect(r.model).toMatchObject({ preset: 'large', nLayer: 4, dModel: 256, nHead: 8, dMlp: 1024 });
    // 4 * (12 d^2 + 13 d) + vocab * d + block * d + 2 d (tied head, no PRM head)
    const d = 256;
    expect(r.model.params).toBe(4 * (12 * d * d + 13 * d) + 17 * d + 64 * d + 2 * d);
    expect(r.sftStepMs).toBeGreaterThan(0);
    expect(formatReport(r)).toMatch(/model \(large\): 4 layers, d=256/);
    expect(tf.memory().numTensors - before).toBeLessThan(100); // the model is disposed (tf.variable's initial values are not: ~3 per parameter)
  }, 120_000);

  it('runs on the chosen wasm kernels and reports which served the calls', async () => {
    await useBackend('wasm');
    const env = nodeWasmEnv();
    const small = { parts: ['sft'] as const, sftRuns: 1, sftWarmup: 0, sftBatch: 2, sftSeqLen: 8 };
    try {
      const off = await runBench(env, { ...small, kernels: 'off' });
      expect(off.kernels).toMatchObject({ mode: 'off', ours: 0 });
      expect(off.kernels!.tfjs).toBeGreaterThan(10);
      const ours = await runBench(env, small);
      expect(ours.kernels!.mode).toBe('exact');
      // Every product and the attention convolution run on ours; only 3-way concats stay with tfjs.
      expect(ours.kernels!.ours).toBeGreaterThan(ours.kernels!.tfjs);
      expect(ours.kernels!.ours + ours.kernels!.tfjs).toBe(off.kernels!.tfjs);
      expect(formatReport(ours)).toMatch(/wasm kernels: exact \(calls served: ours \d+, tfjs's \d+\)/);
    } finally {
      setKernelMode('exact');
    }
  }, 60_000);

  it('the report gives our decode over the peer', () => {
    const r = {
      runtime: 'node',
      backend: 'wasm',
      threads: 1,
      crossOriginIsolated: null,
      model: {
        preset: 'default',
        vocabSize: 17,
        blockSize: 64,
        nLayer: 2,
        nHead: 4,
        dModel: 64,
        dMlp: 256,
        params: 1,
      },
      sizes: { promptsPerIter: 8, groupSize: 8, sftBatch: 32, sftSeqLen: 32 },
      decodeTokensPerSec: { kvCache: 20_000, noCache: null, speedup: null },
      peakHeapMB: null,
      peakTensorMB: 0,
      peakWasmMemoryMB: null,
      runs: 1,
      warmup: 0,
      sftRuns: 1,
      sftWarmup: 0,
      peer: {
        sftStepMs: 10,
        threads: 1,
        torch: '1.13',
        blas: 'openblas',
        decodeTokensPerSec: { kvCache: 40_000, noCache: 1 },
        decodeThreads: 2,
      },
    };
    expect(formatReport(r)).toMatch(
      /peer decode \(best at 2 thread\(s\)\): KV cache 40000 tok\/s.*ours\/peer with KV cache 0\.50x/,
    );
  });
});

describe('data-parallel SFT gradient (bench/dp)', () => {
  it('two half-batch gradients, each scaled by its share of the tokens, sum to the full batch gradient (wasm vs cpu)', async () => {
    const B = 8;
    const T = 12;
    const rng = new Rng('dp-test');
    const policy0 = PolicyModel.create(addTask, 2);
    const ids = Int32Array.from({ length: B * T }, () => rng.int(1, policy0.cfg.vocabSize - 1));
    const mask = new Float32Array(B * (T - 1)).fill(1);
    const half = (i: number) => ids.slice((i * B * T) / 2, ((i + 1) * B * T) / 2);
    const grad = async (p: PolicyModel, rows: Int32Array, n: number, scale: number) => {
      const names = [...p.params.keys()];
      const { value, grads } = tf.variableGrads(
        () => tf.mul(sftLoss(p.cfg, p.params, { ids: rows, B: n, T }, mask.slice(0, n * (T - 1))), scale),
        names.map((k) => p.params.get(k)!),
      );
      const flat = p.opt.flatten(new Map(names.map((k) => [k, grads[p.params.get(k)!.name]])));
      const out = (await flat.data()) as Float32Array;
      tf.dispose([value, flat, ...Object.values(grads)]);
      return out;
    };
    const onWasm = async () => {
      const a = await grad(policy0, half(0), B / 2, 0.5);
      const b = await grad(policy0, half(1), B / 2, 0.5);
      return a.map((x, k) => x + b[k]);
    };
    const dp = await onWasm();
    await useBackend('cpu');
    const ck = await policy0.toCheckpoint({});
    const ref = PolicyModel.fromCheckpoint(addTask, ck.manifestJson, ck.blob);
    const full = await grad(ref, ids, B, 1);
    ref.dispose();
    await useBackend('wasm');
    policy0.dispose();
    let diff = 0;
    let scale = 0;
    for (let k = 0; k < full.length; k++) {
      diff = Math.max(diff, Math.abs(dp[k] - full[k]));
      scale = Math.max(scale, Math.abs(full[k]));
    }
    expect(scale).toBeGreaterThan(0);
    expect(diff / scale).toBeLessThan(1e-5);
    // A wrong share (no 1/2 scaling) is far outside the tolerance: the check can fail.
    expect(Math.max(...dp.map((x, k) => Math.abs(2 * x - full[k])))).toBeGreaterThan(1e-3 * scale);
  });
});
