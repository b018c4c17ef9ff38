/**
 * Optimisation for both models: Adam(W) with global-norm clipping, the SFT (next-token) loss for the
 * policy and the BCE loss for the PRM, plus batching helpers. Our own Adam (not tf.train.adam) so
 * its state is plain named tensors that a checkpoint saves and restores exactly.
 */

import { type ModelConfig, type Params, prmTokenLogits, splitRows, tokenLogProbs } from './model';
import * as tf from './tf';

export interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAM: AdamHyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 };

/**
 * Adam over all parameters at once: the moments live in two flat vectors (parameter order) and one
 * update is ~15 kernels on them plus a split back, instead of ~14 kernels per parameter (tfjs is
 * op-bound at this model size). Per element the arithmetic is the same sequence as a per-parameter
 * Adam, so results are bit-identical to it.
 */
export class Adam {
  /** First and second moments, flattened and concatenated in parameter order. */
  private readonly mFlat: tf.Variable;
  private readonly vFlat: tf.Variable;
  private readonly names: string[];
  private readonly sizes: number[];
  /** 1 on the elements of matrices (weight decay applies to them only), else 0. */
  private readonly decayMask: Float32Array;
  private lrCache: { key: string; t: tf.Tensor1D } | null = null;
  iterations = 0;

  constructor(
    private readonly params: Params,
    public hyper: AdamHyper = DEFAULT_ADAM,
  ) {
    this.names = [...params.keys()];
    this.sizes = this.names.map((n) => params.get(n)!.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    // (In tidy: the zeros a variable starts from would otherwise outlive it, holding its memory.)
    [this.mFlat, this.vFlat] = tf.tidy(() => [
      tf.variable(tf.zeros([total]), false),
      tf.variable(tf.zeros([total]), false),
    ]);
    this.decayMask = new Float32Array(total);
    let off = 0;
    for (const [i, n] of this.names.entries()) {
      if (params.get(n)!.shape.length === 2) this.decayMask.fill(1, off, off + this.sizes[i]);
      off += this.sizes[i];
    }
  }

  /** Gradients as one flat vector in the moments' layout; every parameter needs one. */
  flatten(grads: Map<string, tf.Tensor>): tf.Tensor1D {
    for (const n of this.names) if (!grads.has(n)) throw new Error(`Adam: no gradient for '${n}'`);
    return tf.tidy(() => tf.concat(this.names.map((n) => tf.reshape(grads.get(n)!, [-1]))) as tf.Tensor1D);
  }

  /**
   * One update from flattened gradients (see `flatten`), already clipped, scaled by `gradScale`.
   * `lrByParam` gives some parameters their own learning rate (by name); the others use `lr`.
   */
  applyFlat(
    flatGrads: tf.Tensor1D,
    lr: number,
    gradScale = 1,
    lrByParam: Readonly<Record<string, number>> = {},
  ): void {
    if (flatGrads.size !== this.mFlat.size)
      throw new Error(`Adam: ${flatGrads.size} gradient values for ${this.mFlat.size} parameters`);
    this.iterations++;
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    const c1 = 1 - beta1 ** this.iterations;
    const c2 = 1 - beta2 ** this.iterations;
    tf.tidy(() => {
      const g = gradScale === 1 ? flatGrads : tf.mul(flatGrads, gradScale);
      const m = this.mFlat;
      const v = this.vFlat;
      m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
      v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
      let step = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
      // Decoupled weight decay on matrices only (not biases, gains or embeddings' positions).
      if (weightDecay > 0) {
        const flatParams = tf.concat(this.names.map((n) => tf.reshape(this.params.get(n)!, [-1])));
        const decay = tf.mul(tf.mul(flatParams, tf.tensor1d(this.decayMask)), weightDecay);
        step = tf.add(step, decay);
      }
      const ownLr = this.names.some((n) => lrByParam[n] !== undefined);
      // (splitRows, not tf.split: on wasm every slice copies the whole vector.)
      const deltas = splitRows(tf.mul(step, ownLr ? this.lrVector(lr, lrByParam) : lr), this.sizes);
      for (const [i, n] of this.names.entries()) {
        const p = this.params.get(n)!;
        p.assign(tf.sub(p, tf.reshape(deltas[i], p.shape)));
      }
    });
  }

  /**
   * The per-element learning rates when some parameters have their own: one multiply for the whole
   * vector, as with a single rate. Kept until the rates change (every step of a warm-up, then never).
   */
  private lrVector(lr: number, lrByParam: Readonly<Record<string, number>>): tf.Tensor1D {
    const key = JSON.stringify([lr, this.names.map((n) => lrByParam[n] ?? null)]);
    if (this.lrCache?.key !== key) {
      const host = new Float32Array(this.mFlat.size);
      let off = 0;
      for (const [i, n] of this.names.entries()) {
        host.fill(lrByParam[n] ?? lr, off, off + this.sizes[i]);
        off += this.sizes[i];
      }
      this.lrCache?.t.dispose();
      this.lrCache = { key, t: tf.keep(tf.tensor1d(host)) };
    }
    return this.lrCache.t;
  }

  /** State as named arrays ('opt/m/<param>', 'opt/v/<param>') for checkpoints. */
  async readState(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const out: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [slot, flat] of [['m', this.mFlat] as const, ['v', this.vFlat] as const]) {
      const host = (await flat.data()) as Float32Array;
      let off = 0;
      for (const [i, name] of this.names.entries()) {
        out.push({
          name: `opt/${slot}/${name}`,
          shape: [...this.params.get(name)!.shape],
          data: host.slice(off, off + this.sizes[i]),
        });
        off += this.sizes[i];
      }
    }
    return out;
  }

  loadState(iterations: number, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    for (const [slot, flat] of [['m', this.mFlat] as const, ['v', this.vFlat] as const]) {
      const host = new Float32Array(flat.size);
      let off = 0;
      for (const [i, name] of this.names.entries()) {
        const saved = tensors.get(`opt/${slot}/${name}`);
        if (!saved) throw new Error(`checkpoint lacks optimizer slot opt/${slot}/${name}`);
        if (saved.data.length !== this.sizes[i])
          throw new Error(
            `optimizer slot opt/${slot}/${name} has ${saved.data.length} values, expected ${this.sizes[i]}`,
          );
        host.set(saved.data, off);
        off += this.sizes[i];
      }
      tf.tidy(() => flat.assign(tf.tensor1d(host)));
    }
    this.iterations = iterations;
  }

  /** Forget all moments (a new optimisation problem starts: RL after SFT), optionally with new hyper-parameters. */
  reset(hyper: Partial<AdamHyper> = {}): void {
    this.hyper = { ...this.hyper, ...hyper };
    tf.tidy(() => {
      for (const t of [this.mFlat, this.vFlat]) t.assign(tf.zerosLike(t));
    });
    this.iterations = 0;
  }

  dispose(): void {
    this.mFlat.dispose();
    this.vFlat.dispose();
    this.lrCache?.t.dispose();
  }
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** True when the loss or a gradient was not finite: no update was applied. */
  skipped: boolean;
}

/**
 * The value of `lossFn` and its gradient as one flat vector in Adam's parameter order (every
 * parameter needs a gradient).
 */
export function flatGradient(
  params: Params,
  opt: Adam,
  lossFn: () => tf.Scalar,
): { value: tf.Scalar; flat: tf.Tensor1D } {
  const names = [...params.keys()];
  const { value, grads } = tf.variableGrads(
    lossFn,
    names.map((n) => params.get(n)!),
  );
  const gradMap = new Map<string, tf.Tensor>();
  names.forEach((n) => {
    const g = grads[params.get(n)!.name];
    if (g) gradMap.set(n, g);
  });
  const flat = opt.flatten(gradMap);
  tf.dispose([...gradMap.values()]);
  return { value, flat };
}

/**
 * Clip a flat gradient to `clipNorm` (global L2 norm) and apply Adam, unless the loss or the norm
 * is not finite. One host sync (loss and norm). Disposes `value` and `flat`.
 */
export async function applyClipped(
  opt: Adam,
  value: tf.Scalar,
  flat: tf.Tensor1D,
  lr: number,
  clipNorm: number,
  lrByParam: Readonly<Record<string, number>> = {},
): Promise<StepResult> {
  const lossAndNorm = tf.tidy(() => tf.stack([value, tf.sqrt(tf.sum(tf.square(flat)))]));
  const [loss, gradNorm] = (await lossAndNorm.data()) as Float32Array;
  const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm);
  if (!skipped) opt.applyFlat(flat, lr, gradNorm > clipNorm ? clipNorm / (gradNorm + 1e-6) : 1, lrByParam);
  tf.dispose([value, lossAndNorm, flat]);
  return { loss, gradNorm, skipped };
}

/**
 * Compute gradients of `lossFn`, clip them to `clipNorm` (global L2 norm) and apply Adam.
 * One host sync per step (loss and norm), which also guards against non-finite updates. The gradients
 * are flattened once, for the norm and for the fused Adam update.
 */
export function optimiseStep(
  params: Params,
  opt: Adam,
  lossFn: () => tf.Scalar,
  lr: number,
  clipNorm: number,
  lrByParam: Readonly<Record<string, number>> = {},
): Promise<StepResult> {
  const { value, flat } = flatGradient(params, opt, lossFn);
  return applyClipped(opt, value, flat, lr, clipNorm, lrByParam);
}

/** Cosine decay from `lr` to `minLr` over `total` steps after a linear warm-up. */
export function cosineLr(step: number, total: number, lr: number, minLr: number, warmup: number): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
}

export interface PaddedBatch {
  ids: Int32Array;
  B: number;
  T: number;
}

/** Right-pad sequences to the longest one. */
export function padBatch(seqs: readonly Int32Array[], padId: number): PaddedBatch {
  const B = seqs.length;
  const T = Math.max(2, ...seqs.map((s) => s.length));
  const ids = new Int32Array(B * T).fill(padId);
  for (let b = 0; b < B; b++) ids.set(seqs[b], b * T);
  return { ids, B, T };
}

/**
 * Next-token loss weights [B, T-1]: 1 where the predicted token (position t+1) is a completion token
 * (after the prompt), 0 on the prompt and on padding.
 */
export function completionMask(
  seqs: readonly Int32Array[],
  promptLens: readonly number[],
  T: number,
): Float32Array {
  const mask = new Float32Array(seqs.length * (T - 1));
  seqs.forEach((s, b) => {
    for (let t = promptLens[b] - 1; t < s.length - 1; t++) mask[b * (T - 1) + t] = 1;
  });
  return mask;
}

/**
 * Mean negative log-likelihood over masked completion tokens: the sum divided by `tokens`, the
 * batch's masked count, or the whole batch's when `batch` is a shard of it (./shards.ts).
 */
export function sftLoss(
  cfg: ModelConfig,
  params: Params,
  batch: PaddedBatch,
  mask: Float32Array,
  tokens = Math.max(
    1,
    mask.reduce((a, b) => a + b, 0),
  ),
): tf.Scalar {
  const { logp } = tokenLogProbs(cfg, params, tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32'));
  const m = tf.tensor2d(mask, [batch.B, batch.T - 1]);
  return tf.div(tf.neg(tf.sum(tf.mul(logp, m))), tokens) as tf.Scalar;
}

/** PRM logits of every next token, [B, T-1] (entry t judges token t+1). */
export function prmLogits(cfg: ModelConfig, params: Params, batch: PaddedBatch): tf.Tensor2D {
  return prmTokenLogits(cfg, params, tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32'));
}

/**
 * Binary cross-entropy of the PRM's per-token verdicts: `labels` and `weights` are [B*(T-1)], entry
 * t for token t+1. Stable form: max(x,0) - x*z + log(1+exp(-|x|)).
 */
export function prmLoss(
  cfg: ModelConfig,
  params: Params,
  batch: PaddedBatch,
  labels: Float32Array,
  weights: Float32Array,
): tf.Scalar {
  const x = tf.reshape(prmLogits(cfg, params, batch), [-1]);
  const z = tf.tensor1d(labels);
  const w = tf.tensor1d(weights);
  const per = tf.add(tf.sub(tf.relu(x), tf.mul(x, z)), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(x))))));
  return tf.div(
    tf.sum(tf.mul(per, w)),
    Math.max(
      1,
      weights.reduce((a, b) => a + b, 0),
    ),
  ) as tf.Scalar;
}
