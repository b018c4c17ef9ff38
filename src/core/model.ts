/**
 * The tiny GPT used for both the policy and the PRM, in tfjs-core ops only, so the same code trains on
 * the cpu, wasm and webgpu backends:
 * - embeddings are one-hot x matmul (wasm has no gather gradient);
 * - attention keeps tensors at rank <= 4 (webgpu miscompiles rank-5 pad/slice);
 * - every matmul goes through `matmul` below, whose gradient uses explicit transposes: tfjs-wasm's
 *   transposed-operand matmul is ~8-10x slower than transpose + plain matmul.
 *
 * Policy: pre-LN blocks, causal attention, learned absolute positions, output head tied to the token
 * embedding. PRM: the same backbone plus a scalar head read at step terminators, sigmoid -> P(valid).
 */

import { type ModelConfig, paramShapes } from './model-shape';
import type { Rng } from './rng';
import * as tf from './tf';

/** Defined in ./model-shape (no tensors there: the page checks checkpoint shapes without tfjs). */
export { type ModelConfig, paramShapes };

export const DEFAULT_MODEL: Omit<ModelConfig, 'vocabSize' | 'kind'> = {
  blockSize: 64,
  nLayer: 2,
  nHead: 4,
  dModel: 64,
  dMlp: 256,
};

export type Params = Map<string, tf.Variable>;

/** GPT-2 initialisation from our seeded RNG (not tf.random*, so every backend gets identical weights). */
export function initParamValues(cfg: ModelConfig, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const residualStd = 0.02 / Math.sqrt(2 * cfg.nLayer);
  for (const [name, shape] of paramShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('.g')) data.fill(1);
    else if (/\.b[a-z0-9]*$/.test(name))
      data.fill(0); // every bias: b, bqkv, bo, b1, b2
    else {
      const std = name.endsWith('attn.wo') || name.endsWith('mlp.w2') ? residualStd : 0.02;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    }
    out.set(name, data);
  }
  return out;
}

export function createParams(cfg: ModelConfig, values: Map<string, Float32Array>): Params {
  const params: Params = new Map();
  for (const [name, shape] of paramShapes(cfg)) {
    const v = values.get(name);
    if (!v) throw new Error(`missing parameter '${name}'`);
    if (v.length !== shape.reduce((a, b) => a * b, 1))
      throw new Error(`parameter '${name}' has ${v.length} values, expected shape [${shape}]`);
    params.set(name, tf.variable(tf.tensor(v, shape, 'float32'), true, `${cfg.kind}/${name}/${uniqueId()}`));
  }
  return params;
}

let idCounter = 0;
function uniqueId(): number {
  return idCounter++;
}

export async function readParamValues(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of params) out.set(name, (await v.data()) as Float32Array);
  return out;
}

export function assignParamValues(params: Params, values: Map<string, Float32Array>): void {
  for (const [name, v] of params) {
    const data = values.get(name);
    if (!data) throw new Error(`missing parameter '${name}'`);
    v.assign(tf.tensor(data, v.shape, 'float32'));
  }
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}

// ---------------------------------------------------------------------------------------------------
// Ops

function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/** a @ b (rank 2, or rank 3/4 batched with equal batch dims) with a transpose-flag-free gradient. */
export const matmul = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [
        tf.matMul(dy as tf.Tensor2D, swapLast(sb) as tf.Tensor2D),
        tf.matMul(swapLast(sa) as tf.Tensor2D, dy as tf.Tensor2D),
      ];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor2D;
}

/** GELU, tanh approximation (as GPT-2). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

const NEG = -1e9;

/** Additive attention bias [B, 1, Tq, Tk]: causal, plus masked (padding) keys. Finite, so no NaN rows. */
function attentionBias(keyValid: tf.Tensor2D | null, B: number, T: number): tf.Tensor {
  const causal = tf.reshape(tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), NEG), [1, 1, T, T]);
  if (!keyValid) return causal;
  const pad = tf.reshape(tf.mul(tf.sub(1, keyValid), NEG), [B, 1, 1, T]);
  return tf.add(causal, pad);
}

export interface ForwardOptions {
  /** [B, T] position of each token (left-padded prompts start later); default 0..T-1. */
  posIds?: tf.Tensor2D;
  /** [B, T] 1 for real tokens, 0 for padding keys; default all real. */
  keyValid?: tf.Tensor2D;
  /** Return each layer's keys (transposed, [B, H, dh, T]) and values ([B, H, T, dh]) for the KV cache. */
  returnCache?: boolean;
}

export interface KvCache {
  /** Per layer, keys transposed: [B, H, dh, t]. */
  k: tf.Tensor4D[];
  /** Per layer, values: [B, H, t, dh]. */
  v: tf.Tensor4D[];
}

function params1(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (!v) throw new Error(`missing parameter '${name}'`);
  return v;
}

/** Embeddings of ids [B, T] at positions, as [B*T, d]. */
function embed(cfg: ModelConfig, p: Params, ids: tf.Tensor2D, posIds?: tf.Tensor2D): tf.Tensor2D {
  const [B, T] = ids.shape;
  const tok = matmul(
    tf.cast(tf.oneHot(tf.reshape(ids, [B * T]), cfg.vocabSize), 'float32'),
    params1(p, 'wte'),
  );
  const pos = posIds
    ? matmul(tf.cast(tf.oneHot(tf.reshape(posIds, [B * T]), cfg.blockSize), 'float32'), params1(p, 'wpe'))
    : tf.tile(tf.slice(params1(p, 'wpe'), [0, 0], [T, cfg.dModel]), [B, 1]);
  return tf.add(tok, pos) as tf.Tensor2D;
}

/** Split a [B*T, 3d] projection into q, k, v heads [B, H, T, dh] (rank 4 throughout). */
function heads(x: tf.Tensor2D, part: number, cfg: ModelConfig, B: number, T: number): tf.Tensor4D {
  const d = cfg.dModel;
  const dh = d / cfg.nHead;
  const s = tf.slice(x, [0, part * d], [B * T, d]);
  return tf.transpose(tf.reshape(s, [B, T, cfg.nHead, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/**
 * Full forward pass over ids [B, T]. Returns the final hidden states [B*T, d] (after the last LN)
 * and, when asked, the KV cache.
 */
export function forwardHidden(
  cfg: ModelConfig,
  p: Params,
  ids: tf.Tensor2D,
  opts: ForwardOptions = {},
): { hidden: tf.Tensor2D; cache?: KvCache } {
  const [B, T] = ids.shape;
  if (T > cfg.blockSize) throw new Error(`sequence length ${T} exceeds blockSize ${cfg.blockSize}`);
  const d = cfg.dModel;
  const dh = d / cfg.nHead;
  const scale = 1 / Math.sqrt(dh);
  let x = embed(cfg, p, ids, opts.posIds);
  const bias = attentionBias(opts.keyValid ?? null, B, T);
  const cache: KvCache | undefined = opts.returnCache ? { k: [], v: [] } : undefined;
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = layerNorm(x, params1(p, h + 'ln1.g'), params1(p, h + 'ln1.b'));
    const qkv = tf.add(matmul(a, params1(p, h + 'attn.wqkv')), params1(p, h + 'attn.bqkv')) as tf.Tensor2D;
    const q = heads(qkv, 0, cfg, B, T);
    const kT = swapLast(heads(qkv, 1, cfg, B, T)) as tf.Tensor4D;
    const v = heads(qkv, 2, cfg, B, T);
    if (cache) {
      cache.k.push(kT);
      cache.v.push(v);
    }
    const att = tf.softmax(tf.add(tf.mul(matmul(q, kT), scale), bias));
    const y = tf.reshape(tf.transpose(matmul(att, v), [0, 2, 1, 3]), [B * T, d]);
    x = tf.add(x, tf.add(matmul(y, params1(p, h + 'attn.wo')), params1(p, h + 'attn.bo'))) as tf.Tensor2D;
    const m = layerNorm(x, params1(p, h + 'ln2.g'), params1(p, h + 'ln2.b'));
    const hid = gelu(tf.add(matmul(m, params1(p, h + 'mlp.w1')), params1(p, h + 'mlp.b1')));
    x = tf.add(x, tf.add(matmul(hid, params1(p, h + 'mlp.w2')), params1(p, h + 'mlp.b2'))) as tf.Tensor2D;
  }
  return { hidden: layerNorm(x, params1(p, 'lnf.g'), params1(p, 'lnf.b')), cache };
}

/** LM logits from hidden states [N, d] -> [N, V] through the tied embedding. */
export function lmHead(p: Params, hidden: tf.Tensor2D): tf.Tensor2D {
  return matmul(hidden, tf.transpose(params1(p, 'wte'))) as tf.Tensor2D;
}

/** PRM scores (pre-sigmoid) from hidden states [N, d] -> [N]. */
export function prmTokenLogits(cfg: ModelConfig, p: Params, ids: tf.Tensor2D): tf.Tensor2D {
  // The PRM's verdict on token t+1 is an affine map of that token's log-prob under the PRM's own LM:
  //   logit = a * log p(token | prefix) + b.
  // A verifier then only has to sharpen "is this the token a correct solution would have here", which
  // the backbone (initialised from the policy) already computes; a freshly initialised scalar head on
  // the hidden state learned little more than a prior over step positions in our calibration.
  const { logp } = tokenLogProbs(cfg, p, ids);
  return tf.add(tf.mul(logp, params1(p, 'prm.a')), params1(p, 'prm.b')) as tf.Tensor2D;
}

/**
 * One decode step with the KV cache. ids [B] at positions posIds [B]; keyValid [B, t+1] covers the
 * cache plus the new token. Returns logits [B, V] and the grown cache (old cache tensors are disposed
 * by the caller).
 */
export function decodeStep(
  cfg: ModelConfig,
  p: Params,
  ids: tf.Tensor1D,
  posIds: tf.Tensor1D,
  cache: KvCache,
  keyValid: tf.Tensor2D,
): { logits: tf.Tensor2D; cache: KvCache } {
  const B = ids.shape[0];
  const d = cfg.dModel;
  const H = cfg.nHead;
  const dh = d / H;
  const scale = 1 / Math.sqrt(dh);
  let x = tf.add(tf.gather(params1(p, 'wte'), ids), tf.gather(params1(p, 'wpe'), posIds)) as tf.Tensor2D;
  const t = keyValid.shape[1];
  const bias = tf.reshape(tf.mul(tf.sub(1, keyValid), NEG), [B, 1, 1, t]);
  const next: KvCache = { k: [], v: [] };
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = layerNorm(x, params1(p, h + 'ln1.g'), params1(p, h + 'ln1.b'));
    const qkv = tf.add(tf.matMul(a, params1(p, h + 'attn.wqkv')), params1(p, h + 'attn.bqkv')) as tf.Tensor2D;
    const q = tf.reshape(tf.slice(qkv, [0, 0], [B, d]), [B, H, 1, dh]);
    const kNew = tf.reshape(tf.slice(qkv, [0, d], [B, d]), [B, H, dh, 1]);
    const vNew = tf.reshape(tf.slice(qkv, [0, 2 * d], [B, d]), [B, H, 1, dh]);
    const kT = tf.concat([cache.k[l], kNew], 3) as tf.Tensor4D;
    const v = tf.concat([cache.v[l], vNew], 2) as tf.Tensor4D;
    next.k.push(kT);
    next.v.push(v);
    const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, kT), scale), bias));
    const y = tf.reshape(tf.matMul(att, v), [B, d]);
    x = tf.add(x, tf.add(tf.matMul(y, params1(p, h + 'attn.wo')), params1(p, h + 'attn.bo'))) as tf.Tensor2D;
    const m = layerNorm(x, params1(p, h + 'ln2.g'), params1(p, h + 'ln2.b'));
    const hid = gelu(tf.add(tf.matMul(m, params1(p, h + 'mlp.w1')), params1(p, h + 'mlp.b1')));
    x = tf.add(x, tf.add(tf.matMul(hid, params1(p, h + 'mlp.w2')), params1(p, h + 'mlp.b2'))) as tf.Tensor2D;
  }
  const hidden = layerNorm(x, params1(p, 'lnf.g'), params1(p, 'lnf.b'));
  return { logits: tf.matMul(hidden, params1(p, 'wte'), false, true), cache: next };
}

/**
 * Teacher-forced log-probabilities of each next token: ids [B, T] (right-padded) -> [B, T-1], where
 * entry t is log p(ids[t+1] | ids[..t]) at the given temperature. Also returns per-position entropy.
 */
export function tokenLogProbs(
  cfg: ModelConfig,
  p: Params,
  ids: tf.Tensor2D,
  temperature = 1,
): { logp: tf.Tensor2D; entropy: tf.Tensor2D } {
  const [B, T] = ids.shape;
  const { hidden } = forwardHidden(cfg, p, ids);
  const logits = tf.div(lmHead(p, hidden), temperature);
  const logSm = tf.reshape(tf.logSoftmax(logits), [B, T, cfg.vocabSize]);
  const pred = tf.slice(logSm, [0, 0, 0], [B, T - 1, cfg.vocabSize]);
  const targets = tf.cast(tf.oneHot(tf.slice(ids, [0, 1], [B, T - 1]), cfg.vocabSize), 'float32');
  const logp = tf.sum(tf.mul(pred, targets), -1) as tf.Tensor2D;
  const entropy = tf.neg(tf.sum(tf.mul(tf.exp(pred), pred), -1)) as tf.Tensor2D;
  return { logp, entropy };
}
