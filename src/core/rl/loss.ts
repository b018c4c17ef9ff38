/**
 * The RL loss in tensors. It mirrors the pure per-token functions of ./math.ts (tests compare the
 * two on the same numbers); the batch arrives as flat typed arrays built on the host, so the same
 * object crosses a worker boundary as transferable buffers.
 */
import * as tf from '../tf';
import { ROLE, type Role, type UpdateBatch } from './batch';

export { ROLE, type Role, type UpdateBatch } from './batch';

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
 * clipFraction and kl are sums over on-policy tokens divided by `onCount`: the batch's own count,
 * or the whole batch's when `batch` is a shard of it (../shards.ts), so that shards' parts add up.
 */
export function rlLoss(
  logp: tf.Tensor2D,
  batch: UpdateBatch,
  h: LossHyper,
  onCount = countOn(batch),
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

/** On-policy tokens of a batch (at least 1: the statistics divide by it). */
export function countOn(batch: UpdateBatch): number {
  return Math.max(
    1,
    batch.roles.reduce((n, r) => n + (r === ROLE.on ? 1 : 0), 0),
  );
}
