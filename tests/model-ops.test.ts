/**
 * The model's custom-gradient ops against a plain reference: the same network written with ordinary
 * tfjs ops (moments layer norm, tanh GELU, slice-and-transpose heads, tile positions, autodiff
 * everywhere). Values and every parameter's gradient must agree within 1e-5 (relative to their
 * magnitude, at least 1), on wasm and cpu.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PolicyModel } from '../src/core/agents';
import { type ModelConfig, type Params, tokenLogProbs } from '../src/core/model';
import { Rng } from '../src/core/rng';
import { arithTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { useBackend } from '../src/node/backend';

const P = (p: Params, n: string) => p.get(n)!;

function refLayerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}

function refGelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** Next-token log-probs [B, T-1] of the reference network (positions 0..T-1, causal mask). */
function refLogProbs(cfg: ModelConfig, p: Params, ids: tf.Tensor2D): tf.Tensor {
  const [B, T] = ids.shape;
  const { dModel: d, nHead: H } = cfg;
  const dh = d / H;
  const oneHot = tf.cast(tf.oneHot(tf.reshape(ids, [B * T]), cfg.vocabSize), 'float32');
  let x = tf.add(tf.matMul(oneHot, P(p, 'wte')), tf.tile(tf.slice(P(p, 'wpe'), [0, 0], [T, d]), [B, 1]));
  const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
  const heads = (qkv: tf.Tensor, part: number) =>
    tf.transpose(tf.reshape(tf.slice(qkv, [0, part * d], [B * T, d]), [B, T, H, dh]), [0, 2, 1, 3]);
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = refLayerNorm(x, P(p, `${h}ln1.g`), P(p, `${h}ln1.b`));
    const qkv = tf.add(tf.matMul(a as tf.Tensor2D, P(p, `${h}attn.wqkv`)), P(p, `${h}attn.bqkv`));
    const att = tf.softmax(
      tf.add(tf.mul(tf.matMul(heads(qkv, 0), heads(qkv, 1), false, true), 1 / Math.sqrt(dh)), causal),
    );
    const y = tf.reshape(tf.transpose(tf.matMul(att, heads(qkv, 2)), [0, 2, 1, 3]), [B * T, d]);
    x = tf.add(x, tf.add(tf.matMul(y as tf.Tensor2D, P(p, `${h}attn.wo`)), P(p, `${h}attn.bo`)));
    const m = refLayerNorm(x, P(p, `${h}ln2.g`), P(p, `${h}ln2.b`));
    const hid = refGelu(tf.add(tf.matMul(m as tf.Tensor2D, P(p, `${h}mlp.w1`)), P(p, `${h}mlp.b1`)));
    x = tf.add(x, tf.add(tf.matMul(hid as tf.Tensor2D, P(p, `${h}mlp.w2`)), P(p, `${h}mlp.b2`)));
  }
  const hidden = refLayerNorm(x, P(p, 'lnf.g'), P(p, 'lnf.b'));
  const logSm = tf.reshape(tf.logSoftmax(tf.matMul(hidden as tf.Tensor2D, P(p, 'wte'), false, true)), [
    B,
    T,
    cfg.vocabSize,
  ]);
  const targets = tf.cast(tf.oneHot(tf.slice(ids, [0, 1], [B, T - 1]), cfg.vocabSize), 'float32');
  return tf.sum(tf.mul(tf.slice(logSm, [0, 0, 0], [B, T - 1, cfg.vocabSize]), targets), -1);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

afterAll(async () => {
  await useBackend('wasm');
});

describe.each(['wasm', 'cpu'] as const)('custom-gradient model ops on %s', (backend) => {
  it('log-probs and every parameter gradient equal the plain-autodiff reference (within 1e-5)', async () => {
    await useBackend(backend);
    // Trained-looking weights: a random init scaled up so every op works away from zero.
    const policy = PolicyModel.create(arithTask, 21);
    for (const v of policy.params.values()) v.assign(tf.mul(v, 8));
    const { cfg, params } = policy;
    const rng = new Rng(4);
    const B = 3;
    const T = 19;
    const ids = tf.tensor2d(
      Int32Array.from({ length: B * T }, () => rng.int(1, cfg.vocabSize - 1)),
      [B, T],
      'int32',
    );
    // A weighted sum of the log-probs, so every position's gradient matters and differs.
    const weights = tf.tensor2d(
      Float32Array.from({ length: B * (T - 1) }, () => rng.float() - 0.5),
      [B, T - 1],
    );
    const vars = [...params.values()];
    const ours = tf.variableGrads(
      () => tf.sum(tf.mul(tokenLogProbs(cfg, params, ids).logp, weights)) as tf.Scalar,
      vars,
    );
    const ref = tf.variableGrads(
      () => tf.sum(tf.mul(refLogProbs(cfg, params, ids), weights)) as tf.Scalar,
      vars,
    );
    // Relative to the magnitude (log-probs reach ~-50 here, where a float32 ulp is ~4e-6).
    const logpDiff = tf.tidy(() => {
      const r = refLogProbs(cfg, params, ids);
      return (
        maxAbsDiff(tokenLogProbs(cfg, params, ids).logp, r) / Math.max(1, tf.max(tf.abs(r)).dataSync()[0])
      );
    });
    expect(logpDiff).toBeLessThan(1e-5);
    const [v0, r0] = [ours.value.dataSync()[0], ref.value.dataSync()[0]];
    expect(Math.abs(v0 - r0) / Math.max(1, Math.abs(r0))).toBeLessThan(1e-5);
    for (const v of vars) {
      const g = ours.grads[v.name];
      const r = ref.grads[v.name];
      const scale = Math.max(
        1,
        tf.tidy(() => tf.max(tf.abs(r)).dataSync()[0]),
      );
      expect(maxAbsDiff(g, r) / scale, v.name).toBeLessThan(1e-5);
    }
    // The gradients are not trivially zero.
    expect(
      tf.tidy(() => tf.max(tf.abs(ours.grads[P(params, 'h0.mlp.w1').name])).dataSync()[0]),
    ).toBeGreaterThan(1e-3);
    tf.dispose([
      ours.value,
      ref.value,
      ...Object.values(ours.grads),
      ...Object.values(ref.grads),
      ids,
      weights,
    ]);
    policy.dispose();
  });
});
