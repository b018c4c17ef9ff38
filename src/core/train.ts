/**
 * Optimisation for both models: Adam(W) with global-norm clipping, the SFT (next-token) loss for the
 * policy and the BCE loss for the PRM, plus batching helpers. Our own Adam (not tf.train.adam) so
 * its state is plain named tensors that a checkpoint saves and restores exactly.
 */

import { type ModelConfig, type Params, prmTokenLogits, tokenLogProbs } from './model';
import * as tf from './tf';

export interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAM: AdamHyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 };

export class Adam {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  iterations = 0;

  constructor(
    private readonly params: Params,
    public hyper: AdamHyper = DEFAULT_ADAM,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * One update with (already clipped) gradients scaled by `gradScale`. `lrByParam` gives some
   * parameters their own learning rate (by name); the others use `lr`.
   */
  apply(
    grads: Map<string, tf.Tensor>,
    lr: number,
    gradScale = 1,
    lrByParam: Readonly<Record<string, number>> = {},
  ): void {
    this.iterations++;
    const { beta1, beta2, eps, weightDecay } = this.hyper;
    const c1 = 1 - beta1 ** this.iterations;
    const c2 = 1 - beta2 ** this.iterations;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g0 = grads.get(name);
        if (!g0) continue;
        const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        let step = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        // Decoupled weight decay on matrices only (not biases, gains or embeddings' positions).
        if (weightDecay > 0 && p.shape.length === 2) step = tf.add(step, tf.mul(p, weightDecay));
        p.assign(tf.sub(p, tf.mul(step, lrByParam[name] ?? lr)));
      }
    });
  }

  /** State as named arrays ('opt/m/<param>', 'opt/v/<param>') for checkpoints. */
  async readState(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const out: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [slot, map] of [['m', this.m] as const, ['v', this.v] as const])
      for (const [name, t] of map)
        out.push({ name: `opt/${slot}/${name}`, shape: t.shape, data: (await t.data()) as Float32Array });
    return out;
  }

  loadState(iterations: number, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    for (const [slot, map] of [['m', this.m] as const, ['v', this.v] as const])
      for (const [name, t] of map) {
        const saved = tensors.get(`opt/${slot}/${name}`);
        if (!saved) throw new Error(`checkpoint lacks optimizer slot opt/${slot}/${name}`);
        t.assign(tf.tensor(saved.data, t.shape));
      }
    this.iterations = iterations;
  }

  /** Forget all moments (a new optimisation problem starts: RL after SFT), optionally with new hyper-parameters. */
  reset(hyper: Partial<AdamHyper> = {}): void {
    this.hyper = { ...this.hyper, ...hyper };
    for (const t of [...this.m.values(), ...this.v.values()]) t.assign(tf.zerosLike(t));
    this.iterations = 0;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** True when the loss or a gradient was not finite: no update was applied. */
  skipped: boolean;
}

/**
 * Compute gradients of `lossFn`, clip them to `clipNorm` (global L2 norm) and apply Adam.
 * One host sync per step (loss and norm), which also guards against non-finite updates.
 */
export async function optimiseStep(
  params: Params,
  opt: Adam,
  lossFn: () => tf.Scalar,
  lr: number,
  clipNorm: number,
  lrByParam: Readonly<Record<string, number>> = {},
): Promise<StepResult> {
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
  // A chain of adds, not addN: tfjs-webgpu binds every addN input in one shader, and one per
  // parameter exceeds WebGPU's 8 storage buffers per stage (a validation error, then garbage).
  const normT = tf.tidy(() =>
    tf.sqrt([...gradMap.values()].map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b))),
  );
  const [loss, gradNorm] = [(await value.data())[0], (await normT.data())[0]];
  const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm);
  if (!skipped) opt.apply(gradMap, lr, gradNorm > clipNorm ? clipNorm / (gradNorm + 1e-6) : 1, lrByParam);
  tf.dispose([value, normT, ...gradMap.values()]);
  return { loss, gradNorm, skipped };
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

/** Mean negative log-likelihood over masked completion tokens. */
export function sftLoss(cfg: ModelConfig, params: Params, batch: PaddedBatch, mask: Float32Array): tf.Scalar {
  const { logp } = tokenLogProbs(cfg, params, tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32'));
  const m = tf.tensor2d(mask, [batch.B, batch.T - 1]);
  return tf.div(
    tf.neg(tf.sum(tf.mul(logp, m))),
    Math.max(
      1,
      mask.reduce((a, b) => a + b, 0),
    ),
  ) as tf.Scalar;
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
