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

import { MODEL_PRESETS, type ModelArch, type ModelConfig, paramShapes } from './model-shape';
import type { Rng } from './rng';
import * as tf from './tf';

/** Defined in ./model-shape (no tensors there: the page checks checkpoint shapes without tfjs). */
export { type ModelConfig, paramShapes };

/** The shipped checkpoints' architecture (MODEL_PRESETS.default). */
export const DEFAULT_MODEL: ModelArch = MODEL_PRESETS.default;

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
    // The variable holds its own reference to the data: the initial tensor is released (not
    // disposing it kept a second reference alive, so the weights outlived dispose()).
    const initial = tf.tensor(v, shape, 'float32');
    params.set(name, tf.variable(initial, true, `${cfg.kind}/${name}/${uniqueId()}`));
    initial.dispose();
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
    const value = tf.tensor(data, v.shape, 'float32');
    v.assign(value); // (takes its own reference)
    value.dispose();
  }
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}

// ---------------------------------------------------------------------------------------------------
// Ops. tfjs is op-bound at this size and tfjs-wasm has slow spots, so the layers are custom-gradient
// ops with hand-written backward passes built only from fast kernels (measured, docs/performance.md):
// - 2-D matmuls without transpose flags (XNNPACK; with a flag, or batched, a scalar loop);
// - XNNPACK packs (copies and transposes) a matmul's right operand on every new tensor, ~4 ns a
//   number: weight gradients choose which side to pack (`dense`, `matmulTA`), column sums avoid
//   packing (`sumRows`);
// - no reductions over a leading axis (tfjs-wasm transposes first);
// - 2-D transposes are slow too (see `transpose2d`);
// - no tanh (a scalar libm loop): GELU goes through the vectorised sigmoid;
// - fewer saved tensors (each is copied for the tape) and fewer kernels overall.
// Forward values are the same sequence of float operations as the plain ops, except GELU (below).

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/**
 * A differentiable op from its forward computation and hand-written gradient (tf.customGrad, typed).
 * What the gradient needs goes through `save` (tf.grads runs the forward in a tidy, which disposes
 * everything else), except parameters: variables are never disposed by a tidy, so the gradient reads
 * them directly instead of saving them (saving copies).
 */
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
 * Column sums of x [N, C] as [C]: ones[N, 1]^T @ x. With transposeA the product takes tfjs-wasm's plain
 * loop, which reads x once; ones[1, N] @ x would go to XNNPACK, which first packs all of x (3-4x
 * slower, unless x is already packed: see `dense`).
 */
function sumRows(x: tf.Tensor): tf.Tensor {
  const [N, C] = x.shape;
  return tf.reshape(tf.matMul(tf.ones([N, 1]), x as tf.Tensor2D, true, false), [C]);
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

/**
 * a^T @ b for a [N, K], b [N, M] -> [K, M]: either a^T @ b (a transposed, b packed) or (b^T @ a)^T
 * (b transposed, a packed), whichever moves fewer numbers, counting a packed number as 3 transposed
 * ones (measured on tfjs-wasm for operands that fit in cache; `dense` chooses for itself).
 */
function matmulTA(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [N, K] = a.shape as number[];
  const M = (b.shape as number[])[1];
  if (N * K + 3 * N * M <= N * M + 3 * N * K + K * M) return tf.matMul(transpose2d(a), b as tf.Tensor2D);
  return transpose2d(tf.matMul(transpose2d(b), a as tf.Tensor2D));
}

/** x @ w + b for x [N, in], w [in, out], b [out]. */
const dense = customOp(([x, w, b], save) => {
  save([x]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
    gradFunc: (dy, [x]) => {
      const dx = tf.matMul(dy as tf.Tensor2D, transpose2d(w));
      const [N, K] = x.shape;
      const M = dy.shape[1]!;
      // Transpose whichever of x and dy (plus the result) moves fewer numbers (measured: packing the
      // narrower side instead gains nothing for [1024,256] operands, whose transposes are slow too).
      if (N * K <= (N + K) * M) {
        // x^T @ dy: XNNPACK packs dy, and the bias gradient ones @ dy, run after it, reuses that packing.
        const dw = tf.matMul(transpose2d(x), dy as tf.Tensor2D);
        return [dx, dw, tf.reshape(tf.matMul(tf.ones([1, N]), dy as tf.Tensor2D), [M])];
      }
      // (dy^T @ x)^T, and the bias gradient from the same dy^T.
      const dyT = transpose2d(dy);
      return [
        dx,
        transpose2d(tf.matMul(dyT, x as tf.Tensor2D)),
        tf.reshape(tf.matMul(dyT, tf.ones([N, 1])), [M]),
      ];
    },
  };
}) as (x: tf.Tensor, w: tf.Variable, b: tf.Variable) => tf.Tensor2D;

const LN_EPS = 1e-5;

/** x [N, d] normalised over its last axis (xhat), and the reciprocal standard deviation per row. */
function normalise(x: tf.Tensor): { xhat: tf.Tensor; rstd: tf.Tensor } {
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), LN_EPS));
  return { xhat: tf.mul(xc, rstd), rstd };
}

/** Layer norm over the last axis of x [N, d] with gain g and bias b. */
const layerNorm = customOp(([x, g, b], save) => {
  const { xhat, rstd } = normalise(x);
  save([xhat, rstd]);
  return {
    value: tf.add(tf.mul(xhat, g), b),
    gradFunc: (dy, [sxhat, srstd]) => {
      const dxhat = tf.mul(dy, g);
      // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), per row.
      const centred = tf.sub(
        tf.sub(dxhat, tf.mean(dxhat, -1, true)),
        tf.mul(sxhat, tf.mean(tf.mul(dxhat, sxhat), -1, true)),
      );
      return [tf.mul(centred, srstd), sumRows(tf.mul(dy, sxhat)), sumRows(dy)];
    },
  };
}) as (x: tf.Tensor, g: tf.Variable, b: tf.Variable) => tf.Tensor2D;

/** The same layer norm without a gradient (decoding): the same kernels, no custom-gradient bookkeeping. */
function layerNormValue(x: tf.Tensor, g: tf.Variable, b: tf.Variable): tf.Tensor2D {
  return tf.add(tf.mul(normalise(x).xhat, g), b) as tf.Tensor2D;
}

const GELU_K = 0.044715;
const GELU_2C = 2 * Math.sqrt(2 / Math.PI);

/** sigmoid(z), z = 2c x (1 + k x^2): GELU(x) = x * geluGate(x) (see `gelu`). */
function geluGate(x: tf.Tensor): tf.Tensor {
  return tf.sigmoid(tf.mul(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_K), 1)), GELU_2C));
}

/** GELU without a gradient (decoding): the same kernels as `gelu`'s forward. */
function geluValue(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, geluGate(x));
}

/**
 * GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(c (x + k x^3))) written as x * sigmoid(z) with
 * z = 2c x (1 + k x^2) (the same function: 1 + tanh(u) = 2 sigmoid(2u)). tfjs-wasm's tanh is a scalar
 * libm loop, several times slower than its vectorised sigmoid; values agree to float rounding.
 */
const gelu = customOp(([x], save) => {
  const s = geluGate(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy, [x, ss]) => {
      // d/dx [x s(z)] = s + x s (1 - s) dz/dx, dz/dx = 2c (1 + 3k x^2).
      const dz = tf.mul(tf.add(tf.mul(tf.square(x), 3 * GELU_K), 1), GELU_2C);
      const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(x, dz));
      return [tf.mul(dy, tf.add(ss, ds))];
    },
  };
});

const NEG = -1e9;

/**
 * Additive attention bias for `attention`'s layout: causal [Tq, 1, Tk], or with masked (padding) keys
 * [Tq, B, 1, Tk] (added to the scores viewed as [Tq, B, H, Tk]; tf.tile to [Tq, B*H, Tk] would cost
 * ~100x more on wasm). Finite, so no NaN rows.
 */
function attentionBias(keyValid: tf.Tensor2D | null, B: number, T: number): tf.Tensor {
  // The causal part is built on the host: one upload instead of five kernels.
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) mask.fill(NEG, i * T + i + 1, (i + 1) * T);
  if (!keyValid) return tf.tensor3d(mask, [T, 1, T]);
  return tf.add(tf.tensor4d(mask, [T, 1, 1, T]), tf.reshape(tf.mul(tf.sub(1, keyValid), NEG), [1, B, 1, T]));
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
          : tf.pad(tf.reshape(sumRows(tf.reshape(dy, [B, T * d])), [T, d]), [
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
 * Per-group products in a group-minor layout: a [I, K, G], b [K, G, J] -> [I, G, J], out[i, g, j] =
 * sum_k a[i, k, g] b[k, g, j]. On wasm this is exactly XNNPACK's depthwise convolution (input
 * [I, 1, K, G], filter [1, K, G, J], valid padding), with no layout changes around it; elsewhere a
 * batched matmul between transposes.
 */
function groupContract(a: tf.Tensor, b: tf.Tensor): tf.Tensor3D {
  const [I, K, G] = a.shape;
  const J = b.shape[2]!;
  if (tf.getBackend() !== 'wasm')
    return tf.transpose(
      tf.matMul(tf.transpose(a, [2, 0, 1]), tf.transpose(b, [1, 0, 2])),
      [1, 0, 2],
    ) as tf.Tensor3D;
  const out = tf.depthwiseConv2d(
    tf.reshape(a, [I, 1, K, G]) as tf.Tensor4D,
    tf.reshape(b, [1, K, G, J]) as tf.Tensor4D,
    1,
    'valid',
  );
  return tf.reshape(out, [I, G, J]);
}

/**
 * Causal self-attention on the fused projection qkv [B*T, 3d] -> [B*T, d] (heads merged, before the
 * output projection). Every per-head tensor is group-minor, G = (sequence, head): q, k, v and their
 * gradients [T, G, dh], scores and weights [Tq, G, Tk] (bias: see `attentionBias`). The per-group
 * products are then `groupContract`s whose operands need only cheap transposes (of the two inner or
 * the two outer axes), and q, k, v come out of one transpose and their gradients go back in one.
 */
function attention(cfg: ModelConfig, qkv: tf.Tensor2D, bias: tf.Tensor, B: number, T: number): tf.Tensor2D {
  const d = cfg.dModel;
  const H = cfg.nHead;
  const dh = d / H;
  const G = B * H;
  const scale = 1 / Math.sqrt(dh);
  /** [T, G, dh] -> [dh, G, T] through two cheap transposes (one [2, 1, 0] is several times slower). */
  const featureMajor = (x: tf.Tensor) => tf.transpose(tf.transpose(x, [1, 0, 2]), [2, 0, 1]);
  const op = customOp(([x], save) => {
    const [q, k, v] = splitRows(tf.transpose(tf.reshape(x, [B, T, 3, d]), [2, 1, 0, 3]), [1, 1, 1]).map((t) =>
      tf.reshape(t, [T, G, dh]),
    );
    const scores = tf.mul(groupContract(tf.transpose(q, [0, 2, 1]), featureMajor(k)), scale);
    const att = tf.softmax(
      bias.rank === 3
        ? tf.add(scores, bias)
        : tf.reshape(tf.add(tf.reshape(scores, [T, B, H, T]), bias), [T, G, T]),
    );
    const attRows = tf.transpose(att, [0, 2, 1]); // [Tq, Tk, G]
    save([q, k, v, att, attRows]);
    const out = groupContract(attRows, v);
    return {
      value: tf.reshape(tf.transpose(tf.reshape(out, [T, B, d]), [1, 0, 2]), [B * T, d]),
      gradFunc: (dy, [sq, sk, sv, satt, sattRows]) => {
        const dOut = tf.reshape(tf.transpose(tf.reshape(dy, [B, T, d]), [1, 0, 2]), [T, G, dh]);
        const dAtt = groupContract(tf.transpose(dOut, [0, 2, 1]), featureMajor(sv));
        // Softmax backward, then the score scale.
        const ds = tf.mul(tf.mul(tf.sub(dAtt, tf.sum(tf.mul(dAtt, satt), -1, true)), satt), scale);
        const dsRows = tf.transpose(ds, [0, 2, 1]); // [Tq, Tk, G]
        const dq = groupContract(dsRows, sk);
        const dk = groupContract(tf.transpose(dsRows, [1, 0, 2]), sq);
        const dv = groupContract(tf.transpose(sattRows, [1, 0, 2]), dOut);
        const dqkv = tf.transpose(tf.reshape(tf.concat([dq, dk, dv], 0), [3, T, B, d]), [2, 1, 0, 3]);
        return [tf.reshape(dqkv, [B * T, 3 * d])];
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
  save([h]);
  return {
    value: tf.matMul(h as tf.Tensor2D, tf.transpose(wte) as tf.Tensor2D),
    gradFunc: (dy, [h]) => [tf.matMul(dy as tf.Tensor2D, wte as tf.Tensor2D), matmulTA(dy, h)],
  };
}) as (h: tf.Tensor, wte: tf.Variable) => tf.Tensor2D;

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
 * One decode step with the KV cache. ids [B] at positions posIds [B]; keyValid [B * (t+1)] (row-major
 * [B, t+1], 1 for a real key, 0 for padding) covers the cache plus the new token. Host arrays: the
 * one-hots and the key bias are built here, one upload each instead of several kernels. Returns logits
 * [B, V] and the grown cache (old cache tensors are disposed by the caller). Forward only: the layers
 * run without their custom gradients (the same kernels in the same order as the full forward pass).
 */
export function decodeStep(
  cfg: ModelConfig,
  p: Params,
  ids: ArrayLike<number>,
  posIds: ArrayLike<number>,
  cache: KvCache,
  keyValid: ArrayLike<number>,
): { logits: tf.Tensor2D; cache: KvCache } {
  const B = ids.length;
  const d = cfg.dModel;
  const H = cfg.nHead;
  const dh = d / H;
  const scale = 1 / Math.sqrt(dh);
  const t = keyValid.length / B;
  // One-hot x matmul (as in forwardHidden) is exact and much faster than gather on wasm.
  const tokOneHot = new Float32Array(B * cfg.vocabSize);
  const posOneHot = new Float32Array(B * cfg.blockSize);
  const keyBias = new Float32Array(B * t);
  for (let b = 0; b < B; b++) {
    tokOneHot[b * cfg.vocabSize + ids[b]] = 1;
    posOneHot[b * cfg.blockSize + posIds[b]] = 1;
  }
  for (let i = 0; i < keyBias.length; i++) keyBias[i] = (1 - keyValid[i]) * NEG;
  const tok = tf.matMul(tf.tensor2d(tokOneHot, [B, cfg.vocabSize]), params1(p, 'wte'));
  const pos = tf.matMul(tf.tensor2d(posOneHot, [B, cfg.blockSize]), params1(p, 'wpe'));
  let x = tf.add(tok, pos) as tf.Tensor2D;
  const bias = tf.tensor4d(keyBias, [B, 1, 1, t]);
  const next: KvCache = { k: [], v: [] };
  for (let l = 0; l < cfg.nLayer; l++) {
    const h = `h${l}.`;
    const a = layerNormValue(x, params1(p, h + 'ln1.g'), params1(p, h + 'ln1.b'));
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
    // both operands contiguously, and the sums run in the same order as q @ kT. (Other layouts and
    // kernels for these per-head products were measured slower: docs/performance.md, session 7.)
    const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), scale), bias));
    const y = tf.reshape(tf.matMul(att, v), [B, d]);
    x = tf.add(x, tf.add(tf.matMul(y, params1(p, h + 'attn.wo')), params1(p, h + 'attn.bo'))) as tf.Tensor2D;
    const m = layerNormValue(x, params1(p, h + 'ln2.g'), params1(p, h + 'ln2.b'));
    const hid = geluValue(tf.add(tf.matMul(m, params1(p, h + 'mlp.w1')), params1(p, h + 'mlp.b1')));
    x = tf.add(x, tf.add(tf.matMul(hid, params1(p, h + 'mlp.w2')), params1(p, h + 'mlp.b2'))) as tf.Tensor2D;
  }
  const hidden = layerNormValue(x, params1(p, 'lnf.g'), params1(p, 'lnf.b'));
  return { logits: tf.matMul(hidden, params1(p, 'wte'), false, true), cache: next };
}

/**
 * Teacher-forced log-probabilities of each next token: ids [B, T] (right-padded) -> [B, T-1], where
 * entry t is log p(ids[t+1] | ids[..t]) at the given temperature; `entropy()` gives the per-position
 * entropy (computed only when asked: the losses do not need it).
 */
export function tokenLogProbs(
  cfg: ModelConfig,
  p: Params,
  ids: tf.Tensor2D,
  temperature = 1,
): { logp: tf.Tensor2D; entropy: () => tf.Tensor2D } {
  const [B, T] = ids.shape;
  const V = cfg.vocabSize;
  const { hidden } = forwardHidden(cfg, p, ids);
  const logits = lmHead(p, hidden);
  const scaled = temperature === 1 ? logits : tf.div(logits, temperature);
  // log softmax picked at the targets, with the closed-form gradient (one-hot - softmax) * dlogp
  // instead of autodiff through logSoftmax, mul and sum.
  const pick = customOp(([x], save) => {
    const logSm = tf.logSoftmax(x);
    // Row t predicts ids[t+1]; the last row of each sequence gets no target (a zero row) and is dropped
    // after the per-row sums (slicing [B, T] is cheaper than slicing [B, T, V]).
    const targets = tf.reshape(
      tf.pad(tf.cast(tf.oneHot(tf.slice(ids, [0, 1], [B, T - 1]), V), 'float32'), [
        [0, 0],
        [0, 1],
        [0, 0],
      ]),
      [B * T, V],
    );
    save([logSm, targets]);
    return {
      value: tf.sum(tf.mul(logSm, targets), -1),
      gradFunc: (dy, [logSm, targets]) => [
        tf.mul(tf.sub(targets, tf.exp(logSm)), tf.reshape(dy, [B * T, 1])),
      ],
    };
  });
  const perRow = (x: tf.Tensor) => tf.slice(tf.reshape(x, [B, T]), [0, 0], [B, T - 1]) as tf.Tensor2D;
  const entropy = () => {
    const logSm = tf.logSoftmax(scaled);
    return perRow(tf.neg(tf.sum(tf.mul(tf.exp(logSm), logSm), -1)));
  };
  return { logp: perRow(pick(scaled)), entropy };
}
