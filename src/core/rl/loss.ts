/**
 * The RL loss in tensors. It mirrors the pure per-token functions of ./math.ts (tests compare the
 * two on the same numbers); the batch arrives as flat typed arrays built on the host, so the same
 * object crosses a worker boundary as transferable buffers.
 */
import * as tf from '../tf';

/** What each predicted token contributes to the loss. */
export const ROLE = {
  /** Not trained (prompt, padding, a reset prefix). */
  masked: 0,
  /** On-policy: clipped surrogate against the recorded behaviour log-prob. */
  on: 1,
  /** Off-policy (teacher) token: shaped weight -A * p/(p+gamma). */
  off: 2,
  /** Plain policy gradient -A * log p (RRPO/SRPO; with A = 1 it is supervised NLL). */
  pg: 3,
} as const;
export type Role = (typeof ROLE)[keyof typeof ROLE];

/** A padded update batch: B sequences of T tokens, per-token arrays over the T-1 predictions. */
export interface UpdateBatch {
  B: number;
  T: number;
  /** [B*T] token ids, right-padded. */
  ids: Int32Array;
  /** [B*(T-1)] role of the prediction of token t+1. */
  roles: Uint8Array;
  /** [B*(T-1)] behaviour log-prob (on-policy tokens; 0 elsewhere). */
  oldLogps: Float32Array;
  /** [B*(T-1)] advantage of the token's sequence. */
  advantages: Float32Array;
  /** [B*(T-1)] aggregation weight (0 on masked tokens). */
  weights: Float32Array;
  /** [B*(T-1)] reference log-prob for the KL penalty (only when beta > 0). */
  refLogps?: Float32Array;
}

export interface LossHyper {
  epsLow: number;
  epsHigh: number;
  gamma: number;
  beta: number;
}

/**
 * Loss and statistics from the policy's token log-probs [B, T-1]:
 *   on:  -min(r A, clip(r, 1-epsLow, 1+epsHigh) A),  r = exp(logp - oldLogp)
 *   off: -A p/(p+gamma),                              p = exp(logp)
 *   pg:  -A logp
 *   loss = sum_t w_t * token_loss_t  (+ beta * sum_t w_t * k3(logp, ref) on on-policy tokens)
 */
export function rlLoss(
  logp: tf.Tensor2D,
  batch: UpdateBatch,
  h: LossHyper,
): { loss: tf.Scalar; clipFraction: tf.Scalar; kl: tf.Scalar } {
  const shape: [number, number] = [batch.B, batch.T - 1];
  const roleIs = (r: Role) =>
    tf.tensor2d(
      Float32Array.from(batch.roles, (x) => (x === r ? 1 : 0)),
      shape,
    );
  const mOn = roleIs(ROLE.on);
  const mOff = roleIs(ROLE.off);
  const mPg = roleIs(ROLE.pg);
  const A = tf.tensor2d(batch.advantages, shape);
  const w = tf.tensor2d(batch.weights, shape);
  const old = tf.tensor2d(batch.oldLogps, shape);

  // Masked positions may hold arbitrary old log-probs: zero the exponent there to keep ratios finite.
  const ratio = tf.exp(tf.mul(tf.sub(logp, old), mOn));
  const surr = tf.neg(
    tf.minimum(tf.mul(ratio, A), tf.mul(tf.clipByValue(ratio, 1 - h.epsLow, 1 + h.epsHigh), A)),
  );
  const p = tf.exp(logp);
  const off = tf.neg(tf.mul(A, tf.div(p, tf.add(p, h.gamma))));
  const pg = tf.neg(tf.mul(A, logp));
  const perToken = tf.addN([tf.mul(mOn, surr), tf.mul(mOff, off), tf.mul(mPg, pg)]);
  let loss = tf.sum(tf.mul(w, perToken)) as tf.Scalar;

  let kl = tf.scalar(0);
  const onCount = Math.max(
    1,
    batch.roles.reduce((n, r) => n + (r === ROLE.on ? 1 : 0), 0),
  );
  if (h.beta > 0 && batch.refLogps) {
    const d = tf.mul(tf.sub(tf.tensor2d(batch.refLogps, shape), logp), mOn);
    const k3 = tf.sub(tf.sub(tf.exp(d), d), 1);
    loss = tf.add(loss, tf.mul(h.beta, tf.sum(tf.mul(w, tf.mul(mOn, k3))))) as tf.Scalar;
    kl = tf.div(tf.sum(tf.mul(mOn, k3)), onCount) as tf.Scalar;
  }
  const clipped = tf.logicalOr(
    tf.logicalAnd(tf.greater(A, 0), tf.greater(ratio, 1 + h.epsHigh)),
    tf.logicalAnd(tf.less(A, 0), tf.less(ratio, 1 - h.epsLow)),
  );
  const clipFraction = tf.div(tf.sum(tf.mul(tf.cast(clipped, 'float32'), mOn)), onCount) as tf.Scalar;
  return { loss, clipFraction, kl };
}
