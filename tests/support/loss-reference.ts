/**
 * A test oracle, not training code: the per-token RL losses of docs/algorithms.md section 3 written
 * out on plain numbers, so tests can check the tensor loss (src/core/rl/loss.ts, the one definition
 * the trainer uses) on many random tokens at once. The hand-computed cases that pin these formulas
 * are in tests/rl-trainer-loss.test.ts.
 */

/**
 * PPO/GRPO clipped surrogate for one token:
 *   r = exp(logp - oldLogp), loss = -min(r*A, clip(r, 1-epsLow, 1+epsHigh)*A)
 *   dLoss/dlogp = -r*A when the unclipped term is the minimum, else 0.
 */
export function clippedSurrogate(
  logp: number,
  oldLogp: number,
  adv: number,
  epsLow: number,
  epsHigh: number,
): { loss: number; dLossDLogp: number; clipped: boolean } {
  const r = Math.exp(logp - oldLogp);
  const unclipped = r * adv;
  const clippedTerm = Math.min(Math.max(r, 1 - epsLow), 1 + epsHigh) * adv;
  if (clippedTerm < unclipped) return { loss: -clippedTerm, dLossDLogp: 0, clipped: true };
  return { loss: -unclipped, dLossDLogp: -unclipped, clipped: false };
}

/** Off-policy token: p = exp(logp), loss = -A p/(p+gamma), dLoss/dlogp = -A p gamma/(p+gamma)^2. */
export function shapedTokenLoss(
  logp: number,
  adv: number,
  gamma: number,
): { loss: number; dLossDLogp: number } {
  const p = Math.exp(logp);
  const d = p + gamma;
  return { loss: -adv * (p / d), dLossDLogp: (-adv * p * gamma) / (d * d) };
}

/** k3 KL estimator to the reference, d = refLogp - logp: exp(d) - d - 1; d/dlogp = 1 - exp(d). */
export function k3Kl(logp: number, refLogp: number): number {
  const d = refLogp - logp;
  return Math.exp(d) - d - 1;
}
