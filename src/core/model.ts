/**
 * The tiny GPT used for both the policy and the PRM, in tfjs-core ops only, so the same code trains on
 * the cpu, wasm and webgpu backends:
 * - embeddings are one-hot x matmul (wasm has no gather gradient);
 * - attention keeps tensors at rank <= 4 (webgpu miscompiles rank-5 pad/slice);
 * - the layers are custom-gradient ops whose backward passes use only kernels that are fast on
 *   tfjs-wasm (see "Ops" below and docs/performance.md).
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
// Ops. tfjs is op-bound at this size and tfjs-wasm has slow spots, so the layers are custom-gradient
// ops with hand-written backward passes built only from fast kernels (measured, docs/performance.md):
// - 2-D matmuls without transpose flags (XNNPACK; with a flag, or batched, a scalar loop);
// - no reductions over a leading axis (tfjs-wasm transposes first): column sums are ones @ x;
// - 2-D transposes are slow too: x^T @ y transposes whichever operand is smaller;
// - no tanh (a scalar libm loop): GELU goes through the vectorised sigmoid;
// - fewer saved tensors (each is copied for the tape) and fewer kernels overall.
// Forward values are the same sequence of float operations as the plain ops, except GELU (below).

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/** A differentiable op from its forward computation and hand-written gradient (tf.customGrad, typed). */
function customOp(
  fn: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return fn(args as tf.Tensor[], save);
  }) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs) => op(...inputs);
}

/**
 * Column sums of x [N, C] as [C]: ones[1, N] @ x. Never pass a reshaped view of a tensor that is also
 * a matmul's right operand in another shape: tfjs-wasm keys its packed-operand cache by the data only.
 */
function sumRows(x: tf.Tensor): tf.Tensor {
  const [N, C] = x.shape;
  return tf.reshape(tf.matMul(tf.ones([1, N]), x as tf.Tensor2D), [C]);
}

/**
 * x^T for x [R, C]. tfjs-wasm's rank-2 transpose kernel is ~10x slower than its rank-3 one doing the
 * same data movement, so a tall matrix goes through [r1, r2, C] -> [C, r1, r2].
 */
function transpose2d(x: tf.Tensor): tf.Tensor2D {
  // Only on wasm: WebGPU builds a wrong shader for some rank-3 transposes (of one-hot matrices).
  if (tf.getBackend() !== 'wasm') return tf.transpose(x) as tf.Tensor2D;
  const [R, C] = x.shape as number[];
  let r1 = Math.floor(Math.sqrt(R));
  while (R % r1 !== 0) r1--;
  if (r1 === 1) return tf.transpose(x) as tf.Tensor2D;
  return tf.reshape(tf.transpose(tf.reshape(x, [r1, R / r1, C]), [2, 0, 1]), [C, R]);
}

/**
 * x cut along axis 0 into consecutive pieces of `sizes` rows. tfjs-wasm's slice copies its whole input
 * on every call, so there the pieces come from one read of x; elsewhere tf.split.
 */
export function splitRows(x: tf.Tensor, sizes: number[]): tf.Tensor[] {
  if (tf.getBackend() !== 'wasm') return tf.split(x, sizes, 0);
  const host = x.dataSync();
  const rest = x.shape.slice(1);
  const rowSize = x.size / x.shape[0];
  let row = 0;
  return sizes.map((n) => {
    row += n;
    return tf.tensor(host.subarray((row - n) * rowSize, row * rowSize), [n, ...rest], x.dtype);
  });
}

/** a^T @ b for a [N, K], b [N, M] -> [K, M], transposing whichever side moves fewer numbers. */
function matmulTA(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [N, K] = a.shape as number[];
  const M = (b.shape as number[])[1];
  if (N * K <= (N + K) * M) return tf.matMul(transpose2d(a), b as tf.Tensor2D);
  return transpose2d(tf.matMul(transpose2d(b), a as tf.Tensor2D));
}

/**
 * Batched a @ b over the leading axes ([..., I, K] @ [..., K, J], optional transposes of the last two).
 * tfjs-wasm runs batched matmuls as a scalar loop; there it is written as a depthwise convolution
 * (XNNPACK), one group per batch entry: input [I, 1, K, G] (a), filter [1, K, G, J] (b), valid
 * padding, output [I, 1, 1, G * J]. Measured 1.5-4x faster at attention sizes, more at longer T.
 */
function groupMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, transposeA, transposeB);
  const r = a.rank;
  const lead = a.shape.slice(0, r - 2);
  const G = lead.reduce((x, y) => x * y, 1);
  const [a1, a2] = a.shape.slice(r - 2);
  const [b1, b2] = b.shape.slice(r - 2);
  const [I, K] = transposeA ? [a2, a1] : [a1, a2];
  const J = transposeB ? b1 : b2;
  // input element (i, k, g) = a[g, i, k]; filter element (k, g, j) = b[g, k, j].
  const input = tf.transpose(tf.reshape(a, [G, a1, a2]), transposeA ? [2, 1, 0] : [1, 2, 0]);
  const filter = tf.transpose(tf.reshape(b, [G, b1, b2]), transposeB ? [2, 0, 1] : [1, 0, 2]);
  const out = tf.depthwiseConv2d(
    tf.reshape(input, [I, 1, K, G]) as tf.Tensor4D,
    tf.reshape(filter, [1, K, G, J]) as tf.Tensor4D,
    1,
    'valid',
  );
  return tf.reshape(tf.transpose(tf.reshape(out, [I, G, J]), [1, 0, 2]), [...lead, I, J]);
}

/** x @ w + b for x [N, in], w [in, out], b [out]. */
const dense = customOp(([x, w, b], save) => {
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
    gradFunc: (dy, [sx, sw]) => [
      tf.matMul(dy as tf.Tensor2D, transpose2d(sw)),
      matmulTA(sx, dy),
      sumRows(dy),
    ],
  };
}) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

const LN_EPS = 1e-5;

/** Layer norm over the last axis of x [N, d] with gain g and bias b. */
const layerNorm = customOp(([x, g, b], save) => {
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), LN_EPS));
  const xhat = tf.mul(xc, rstd);
  save([xhat, rstd, g]);
  return {
    value: tf.add(tf.mul(xhat, g), b),
    gradFunc: (dy, [sxhat, srstd, sg]) => {
      const dxhat = tf.mul(dy, sg);
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), per row.
      const centred = tf.sub(
        tf.sub(dxhat, tf.mean(dxhat, -1, true)),
        tf.mul(sxhat, tf.mean(tf.mul(dxhat, sxhat), -1, true)),
      );
      return [tf.mul(centred, srstd), sumRows(tf.mul(dy, sxhat)), sumRows(dy)];
    },
  };
}) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

const GELU_K = 0.044715;
const GELU_2C = 2 * Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(c (x + k x^3))) written as x * sigmoid(z) with
 * z = 2c x (1 + k x^2) (the same function: 1 + tanh(u) = 2 sigmoid(2u)). tfjs-wasm's tanh is a scalar
 * libm loop, several times slower than its vectorised sigmoid; values agree to float rounding.
 */
const gelu = customOp(([x], save) => {
  const s = tf.sigmoid(tf.mul(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_K), 1)), GELU_2C));
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy, [sx, ss]) => {
      // d/dx [x s(z)] = s + x s (1 - s) dz/dx, dz/dx = 2c (1 + 3k x^2).
      const dz = tf.mul(tf.add(tf.mul(tf.square(sx), 3 * GELU_K), 1), GELU_2C);
      const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(sx, dz));
      return [tf.mul(dy, tf.add(ss, ds))];
    },
  };
});

const NEG = -1e9;

/** Additive attention bias [B, 1, Tq, Tk]: causal, plus masked (padding) keys. Finite, so no NaN rows. */
function attentionBias(keyValid: tf.Tensor2D | null, B: number, T: number): tf.Tensor {
  // The causal part is built on the host: one upload instead of five kernels.
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) mask.fill(NEG, i * T + i + 1, (i + 1) * T);
  const causal = tf.tensor4d(mask, [1, 1, T, T]);
  if (!keyValid) return causal;
  const pad = tf.reshape(tf.mul(tf.sub(1, keyValid), NEG), [B, 1, 1, T]);
  return tf.add(causal, pad);
}

export interface ForwardOptions {
  /** [B, T] position of each token (left-padded prompts start later); default 0..T-1. */
  posIds?: tf.Tensor2D;
  /** [B, T] 1 for real tokens, 0 for padding keys; default all real. */
  keyValid?: tf.Tensor2D;
  /** Return each layer's keys and values ([B, H, T, dh]) for the KV cache. */
  returnCache?: boolean;
}

export interface KvCache {
  /** Per layer, keys: [B, H, t, dh] (grown along axis 2 like the values: a cheap concat). */
  k: tf.Tensor4D[];
  /** Per layer, values: [B, H, t, dh]. */
  v: tf.Tensor4D[];
}

function params1(p: Params, name: string): tf.Variable {
  const v = p.get(name);
  if (!v) throw new Error(`missing parameter '${name}'`);
  return v;
}

/** Embeddings of ids [B, T] at positions (default 0..T-1), as [B*T, d]: one-hot x table matmuls. */
function embed(cfg: ModelConfig, p: Params, ids: tf.Tensor2D, posIds?: tf.Tensor2D): tf.Tensor2D {
  const [B, T] = ids.shape;
  const N = B * T;
  const d = cfg.dModel;
  const tokOneHot = tf.cast(tf.oneHot(tf.reshape(ids, [N]), cfg.vocabSize), 'float32');
  const posOneHot = posIds ? tf.cast(tf.oneHot(tf.reshape(posIds, [N]), cfg.blockSize), 'float32') : null;
  const op = customOp(([wte, wpe], save) => {
    save(posOneHot ? [tokOneHot, posOneHot] : [tokOneHot]);
    const tok = tf.matMul(tokOneHot, wte as tf.Tensor2D);
    // Without position ids every row has positions 0..T-1: a broadcast add of the table's first T rows.
    const value = posOneHot
      ? tf.add(tok, tf.matMul(posOneHot, wpe as tf.Tensor2D))
      : tf.reshape(tf.add(tf.reshape(tok, [B, T, d]), tf.reshape(tf.slice(wpe, [0, 0], [T, d]), [1, T, d])), [
          N,
          d,
        ]);
    return {
      value,
      gradFunc: (dy, [tokOh, posOh]) => {
        const dPos = posOh
          ? matmulTA(posOh, dy)
          : // A copy, not a reshaped view: tfjs-wasm caches a matmul's packed right operand by its data
            // and would reuse it for dy's other shape below (an abort).
            tf.pad(tf.reshape(sumRows(tf.clone(tf.reshape(dy, [B, T * d]))), [T, d]), [
              [0, cfg.blockSize - T],
              [0, 0],
            ]);
        return [matmulTA(tokOh, dy), dPos];
      },
    };
  });
  return op(params1(p, 'wte'), params1(p, 'wpe')) as tf.Tensor2D;
}

/**
 * Causal self-attention on the fused projection qkv [B*T, 3d] -> [B*T, d] (heads merged, before the
 * output projection), bias [B or 1, 1, T, T]. The heads are laid out [3H, B, T, dh], so q, k and v
 * are contiguous slices and the backward pass ends in one concat; the batched matmuls go through
 * groupMatMul (transposes folded into its layout changes).
 */
function attention(cfg: ModelConfig, qkv: tf.Tensor2D, bias: tf.Tensor, B: number, T: number): tf.Tensor2D {
  const H = cfg.nHead;
  const d = cfg.dModel;
  const dh = d / H;
  const scale = 1 / Math.sqrt(dh);
  const bias4 = tf.reshape(bias, [1, bias.shape[0], T, T]);
  const op = customOp(([x], save) => {
    const hd = tf.transpose(tf.reshape(x, [B, T, 3 * H, dh]), [2, 0, 1, 3]);
    const [q, k, v] = splitRows(hd, [H, H, H]);
    const att = tf.softmax(tf.add(tf.mul(groupMatMul(q, k, false, true), scale), bias4));
    save([q, k, v, att]);
    return {
      value: tf.reshape(tf.transpose(groupMatMul(att, v), [1, 2, 0, 3]), [B * T, d]),
      gradFunc: (dy, [sq, sk, sv, satt]) => {
        const dOut = tf.transpose(tf.reshape(dy, [B, T, H, dh]), [2, 0, 1, 3]);
        const dAtt = groupMatMul(dOut, sv, false, true);
        const dv = groupMatMul(satt, dOut, true, false);
        // Softmax backward, then the score scale.
        const ds = tf.mul(tf.mul(tf.sub(dAtt, tf.sum(tf.mul(dAtt, satt), -1, true)), satt), scale);
        const dq = groupMatMul(ds, sk);
        const dk = groupMatMul(ds, sq, true, false);
        return [tf.reshape(tf.transpose(tf.concat([dq, dk, dv], 0), [1, 2, 0, 3]), [B * T, 3 * d])];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}

/** Keys and values [B, H, T, dh] of a projection qkv [B*T, 3d], for the KV cache. */
function cacheEntries(cfg: ModelConfig, qkv: tf.Tensor2D, B: number, T: number): [tf.Tensor4D, tf.Tensor4D] {
  const H = cfg.nHead;
  const dh = cfg.dModel / H;
  const kv = tf.transpose(
    tf.reshape(tf.slice(qkv, [0, cfg.dModel], [B * T, 2 * cfg.dModel]), [B, T, 2 * H, dh]),
    [0, 2, 1, 3],
  );
  return [
    tf.slice(kv, [0, 0, 0, 0], [B, H, T, dh]) as tf.Tensor4D,
    tf.slice(kv, [0, H, 0, 0], [B, H, T, dh]) as tf.Tensor4D,
  ];
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
  let x = embed(cfg, p, ids, opts.posIds);
  const bias = attentionBias(opts.keyValid ?? null, B, T);
  const cache: KvCache | undefined = opts.returnCache ? { k: [], v: [] } : undefined;
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = layerNorm(x, params1(p, h + 'ln1.g'), params1(p, h + 'ln1.b'));
    const qkv = dense(a, params1(p, h + 'attn.wqkv'), params1(p, h + 'attn.bqkv'));
    if (cache) {
      const [k, v] = cacheEntries(cfg, qkv, B, T);
      cache.k.push(k);
      cache.v.push(v);
    }
    const y = attention(cfg, qkv, bias, B, T);
    x = tf.add(x, dense(y, params1(p, h + 'attn.wo'), params1(p, h + 'attn.bo'))) as tf.Tensor2D;
    const m = layerNorm(x, params1(p, h + 'ln2.g'), params1(p, h + 'ln2.b'));
    const hid = gelu(dense(m, params1(p, h + 'mlp.w1'), params1(p, h + 'mlp.b1')));
    x = tf.add(x, dense(hid, params1(p, h + 'mlp.w2'), params1(p, h + 'mlp.b2'))) as tf.Tensor2D;
  }
  return { hidden: layerNorm(x, params1(p, 'lnf.g'), params1(p, 'lnf.b')), cache };
}

/** h @ wte^T: the tied output head. */
const tiedHead = customOp(([h, wte], save) => {
  save([h, wte]);
  return {
    value: tf.matMul(h as tf.Tensor2D, tf.transpose(wte) as tf.Tensor2D),
    gradFunc: (dy, [sh, swte]) => [
      tf.matMul(dy as tf.Tensor2D, swte as tf.Tensor2D),
      tf.matMul(transpose2d(dy), sh as tf.Tensor2D),
    ],
  };
});

/** LM logits from hidden states [N, d] -> [N, V] through the tied embedding. */
export function lmHead(p: Params, hidden: tf.Tensor2D): tf.Tensor2D {
  return tiedHead(hidden, params1(p, 'wte')) as tf.Tensor2D;
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
  // One-hot x matmul (as in forwardHidden) is exact and much faster than gather on wasm.
  const tok = tf.matMul(tf.cast(tf.oneHot(ids, cfg.vocabSize), 'float32'), params1(p, 'wte'));
  const pos = tf.matMul(tf.cast(tf.oneHot(posIds, cfg.blockSize), 'float32'), params1(p, 'wpe'));
  let x = tf.add(tok, pos) as tf.Tensor2D;
  const t = keyValid.shape[1];
  const bias = tf.reshape(tf.mul(tf.sub(1, keyValid), NEG), [B, 1, 1, t]);
  const next: KvCache = { k: [], v: [] };
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = layerNorm(x, params1(p, h + 'ln1.g'), params1(p, h + 'ln1.b'));
    const qkv = tf.add(tf.matMul(a, params1(p, h + 'attn.wqkv')), params1(p, h + 'attn.bqkv')) as tf.Tensor2D;
    // [B, 3d] -> [3, B, d]: q, k and v as contiguous row blocks (one cheap split, no column slices).
    const [q, kNew, vNew] = splitRows(tf.transpose(tf.reshape(qkv, [B, 3, d]), [1, 0, 2]), [1, 1, 1]).map(
      (t) => tf.reshape(t, [B, H, 1, dh]),
    );
    const k = tf.concat([cache.k[l], kNew], 2) as tf.Tensor4D;
    const v = tf.concat([cache.v[l], vNew], 2) as tf.Tensor4D;
    next.k.push(k);
    next.v.push(v);
    // Batched matmuls take tfjs-wasm's generic loop either way; with transposeB its inner loop reads
    // both operands contiguously, and the sums run in the same order as q @ kT.
    const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias));
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
  const V = cfg.vocabSize;
  const { hidden } = forwardHidden(cfg, p, ids);
  const logits = lmHead(p, hidden);
  const logSm = tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature));
  // Row t predicts ids[t+1]; the last row of each sequence gets a dummy target and is dropped after the
  // per-row sums (slicing [B, T] is cheaper than slicing [B, T, V]).
  const targets = tf.reshape(
    tf.pad(tf.cast(tf.oneHot(tf.slice(ids, [0, 1], [B, T - 1]), V), 'float32'), [
      [0, 0],
      [0, 1],
      [0, 0],
    ]),
    [B * T, V],
  );
  const perRow = (x: tf.Tensor) => tf.slice(tf.reshape(x, [B, T]), [0, 0], [B, T - 1]) as tf.Tensor2D;
  const logp = perRow(tf.sum(tf.mul(logSm, targets), -1));
  const entropy = perRow(tf.neg(tf.sum(tf.mul(tf.exp(logSm), logSm), -1)));
  return { logp, entropy };
}
