/**
 * The RL maths of scope-lab as pure functions over plain arrays (shared/design/algorithms.md
 * sections 3-7). This is the reference implementation: the tensor code mirrors it and is tested
 * against it, and these functions are tested on hand-computed numbers.
 *
 * Conventions: log-probs are natural logs; step indices are 1-based (as in the spec), -1 = none;
 * a "group" is the G rollouts of one prompt, given as consecutive runs of `groupSizes`.
 */

export type RewardScale = 'group' | 'batch' | 'none';
export type LossAgg = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
export type TokenRole = 'on' | 'off';

/** Epsilon in the GRPO advantage denominator (spec section 3). */
export const ADV_EPS = 1e-6;
/** RRPO/SRPO: groups with std below this get zero advantages (no epsilon in the denominator). */
export const RESET_STD_MIN = 1e-8;

function meanOf(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Population standard deviation sqrt(mean((x - mean)^2)). */
function popStd(xs: readonly number[]): number {
  const m = meanOf(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / xs.length);
}

/** Splits `values` into consecutive groups; the sizes must add up to the length. */
function splitGroups(values: readonly number[], groupSizes: readonly number[]): number[][] {
  const total = groupSizes.reduce((a, b) => a + b, 0);
  if (total !== values.length || groupSizes.some((g) => !Number.isInteger(g) || g < 0))
    throw new Error(`group sizes [${groupSizes}] do not partition ${values.length} values`);
  const out: number[][] = [];
  let i = 0;
  for (const g of groupSizes) {
    out.push(values.slice(i, i + g));
    i += g;
  }
  return out;
}

const allEqual = (xs: readonly number[]) => xs.every((x) => x === xs[0]);

/**
 * GRPO advantages (section 3). Centre by the group mean, then
 *   'group': A_i = (r_i - mean_g) / (std_g + 1e-6)   (population std of the group)
 *   'batch': A_i = (r_i - mean_g) / (std_batch + 1e-6) (population std of all rewards)
 *   'none':  A_i =  r_i - mean_g
 * A group whose rewards are all equal gets exactly 0 (not a float residue of r - mean).
 */
export function groupAdvantages(
  rewards: readonly number[],
  groupSizes: readonly number[],
  scale: RewardScale,
): number[] {
  const batchStd = rewards.length > 0 ? popStd(rewards) : 0;
  return splitGroups(rewards, groupSizes).flatMap((g) => {
    if (allEqual(g)) return g.map(() => 0);
    const m = meanOf(g);
    const denom = scale === 'group' ? popStd(g) + ADV_EPS : scale === 'batch' ? batchStd + ADV_EPS : 1;
    return g.map((r) => (r - m) / denom);
  });
}

/**
 * RRPO/SRPO advantages (section 6), normalised inside each group separately:
 *   A_i = (r_i - mean_g) / std_g (population std); std_g < 1e-8 -> all 0.
 */
export function resetGroupAdvantages(rewards: readonly number[], groupSizes: readonly number[]): number[] {
  return splitGroups(rewards, groupSizes).flatMap((g) => {
    const s = popStd(g);
    if (!(s >= RESET_STD_MIN)) return g.map(() => 0);
    const m = meanOf(g);
    return g.map((r) => (r - m) / s);
  });
}

/**
 * Per-sequence token weight w_i such that loss = sum_i sum_t w_i * loss_{i,t} (section 3),
 * given the number of unmasked tokens len_i of each of the N sequences:
 *   'token-mean':              w_i = 1 / sum_j len_j             (DAPO; 0 if there are no tokens)
 *   'seq-mean-token-mean':     w_i = 1 / (N * len_i)              (original GRPO; 0 when len_i = 0,
 *                                                                  N still counts that sequence)
 *   'seq-mean-token-sum-norm': w_i = 1 / (N * maxLen)             (Dr. GRPO; maxLen defaults to
 *                                                                  max_j len_j; 0 if maxLen = 0)
 */
export function aggregationWeights(lengths: readonly number[], mode: LossAgg, maxLen?: number): number[] {
  const n = lengths.length;
  switch (mode) {
    case 'token-mean': {
      const total = lengths.reduce((a, b) => a + b, 0);
      return lengths.map(() => (total > 0 ? 1 / total : 0));
    }
    case 'seq-mean-token-mean':
      return lengths.map((len) => (len > 0 ? 1 / (n * len) : 0));
    case 'seq-mean-token-sum-norm': {
      const l = maxLen ?? Math.max(0, ...lengths);
      return lengths.map(() => (l > 0 ? 1 / (n * l) : 0));
    }
  }
}

/**
 * PPO/GRPO clipped surrogate for one token (section 3):
 *   r = exp(logp - oldLogp)
 *   loss = -min(r*A, clip(r, 1-epsLow, 1+epsHigh)*A)
 *   dLoss/dlogp = -r*A when the unclipped term is the minimum, else 0 (the clipped term is constant
 *   in logp). `clipped` is true exactly when the clipped term is strictly smaller, i.e.
 *   (A > 0 and r > 1+epsHigh) or (A < 0 and r < 1-epsLow): what the clip fraction counts.
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

/** LUFFY/SCOPE shaped weight for off-policy tokens (sections 4-5): f(p) = p / (p + gamma). */
export function shapedWeight(p: number, gamma: number): number {
  return p / (p + gamma);
}

/**
 * Off-policy token loss (sections 4-5), no ratio, no clipping (teacher behaviour prob. taken as 1):
 *   p = exp(logp), loss = -A * p/(p + gamma)
 *   dLoss/dlogp = -A * f'(p) * dp/dlogp = -A * gamma/(p+gamma)^2 * p = -A * p*gamma/(p+gamma)^2
 * The shaping keeps gradients alive on low-probability teacher tokens and damps them as p -> 1.
 */
export function shapedTokenLoss(
  logp: number,
  adv: number,
  gamma: number,
): { loss: number; dLossDLogp: number } {
  const p = Math.exp(logp);
  const d = p + gamma;
  return { loss: -adv * (p / d), dLossDLogp: (-adv * p * gamma) / (d * d) };
}

/**
 * k3 KL estimator to the reference policy (section 3), per token, with d = refLogp - logp:
 *   kl = exp(d) - d - 1  (>= 0, unbiased for KL(pi || ref) under samples from pi)
 */
export function k3Kl(logp: number, refLogp: number): number {
  const d = refLogp - logp;
  return Math.exp(d) - d - 1;
}

/** d k3 / d logp = -exp(d) + 1 = 1 - exp(refLogp - logp). */
export function k3KlGrad(logp: number, refLogp: number): number {
  return 1 - Math.exp(refLogp - logp);
}

/**
 * RRPO/SRPO loss (section 6): plain policy gradient -A * mean log p over unmasked tokens, no ratio
 * and no clipping. With the default 'token-mean' aggregation:
 *   loss = -(sum_i A_i sum_t m_{i,t} logp_{i,t}) / (sum_{i,t} m_{i,t})
 * and in general loss = -sum_i w_i A_i sum_t m_{i,t} logp_{i,t} with w from `aggregationWeights`.
 *   dLoss/dlogp_{i,t} = -w_i * A_i * m_{i,t}
 * `masks` (1 = trained, 0 = masked, e.g. `suffixOnlyMask`) defaults to all ones.
 */
export function resetLoss(
  logps: readonly (readonly number[])[],
  advantages: readonly number[],
  masks?: readonly (readonly number[])[],
  agg: LossAgg = 'token-mean',
): { loss: number; dLossDLogp: number[][] } {
  if (advantages.length !== logps.length) throw new Error('resetLoss: one advantage per sequence');
  const m = masks ?? logps.map((row) => row.map(() => 1));
  const lengths = m.map((row) => row.reduce((a, b) => a + (b ? 1 : 0), 0));
  const w = aggregationWeights(lengths, agg);
  let loss = 0;
  const grad = logps.map((row, i) =>
    row.map((lp, t) => {
      const g = m[i][t] ? -w[i] * advantages[i] : 0;
      loss += g * lp;
      return g;
    }),
  );
  return { loss, dLossDLogp: grad };
}

/**
 * SCOPE token roles (section 5, step 4): the policy's own prefix (steps 1..k-1) and the sampled
 * continuation are on-policy; the teacher's corrected step k is off-policy.
 */
export function scopeTokenRoles(
  prefixTokens: number,
  correctedTokens: number,
  continuationTokens: number,
): TokenRole[] {
  return [
    ...Array<TokenRole>(prefixTokens).fill('on'),
    ...Array<TokenRole>(correctedTokens).fill('off'),
    ...Array<TokenRole>(continuationTokens).fill('on'),
  ];
}

/** RRPO/SRPO group-B mask (section 6): 0 on the shared reset prefix, 1 on the resampled suffix. */
export function suffixOnlyMask(prefixTokens: number, suffixTokens: number): number[] {
  return [...Array<number>(prefixTokens).fill(0), ...Array<number>(suffixTokens).fill(1)];
}

/**
 * SCOPE first error from PRM step scores (section 5, step 2), 1-based:
 *   k = min{k : score_k < tau}, else k = argmin_k score_k (first on ties); -1 when there are no steps.
 */
export function firstErrorFromPrm(scores: readonly number[], tau: number): number {
  if (scores.length === 0) return -1;
  const below = scores.findIndex((s) => s < tau);
  if (below >= 0) return below + 1;
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] < scores[best]) best = i;
  return best + 1;
}

/**
 * Which failed rollouts of a group SCOPE rectifies (section 5, step 3): only partially correct ones
 * (k >= 2), at most `cap`, largest k first (most prefix to salvage), ties by smaller index.
 * Returns the chosen `index` values in that preference order.
 */
export function selectRectifications(
  candidates: readonly { index: number; k: number }[],
  cap: number,
): number[] {
  return candidates
    .filter((c) => c.k >= 2)
    .sort((a, b) => b.k - a.k || a.index - b.index)
    .slice(0, Math.max(0, cap))
    .map((c) => c.index);
}

/** Default SCOPE rectification cap per group: R = ceil(G/4). */
export function defaultRectificationCap(groupSize: number): number {
  return Math.ceil(groupSize / 4);
}

/**
 * SRPO `confidence` self-localisation (section 6), 1-based, using only the current policy's
 * per-token log-probs of each step:
 *   the first step containing a token with exp(logp) < pMin, else the step with the lowest mean
 *   log-prob (first on ties; steps without tokens are skipped). -1 when no step has tokens.
 */
export function selfLocalise(stepTokenLogps: readonly (readonly number[])[], pMin: number): number {
  const first = stepTokenLogps.findIndex((step) => step.some((lp) => Math.exp(lp) < pMin));
  if (first >= 0) return first + 1;
  let best = -1;
  let bestMean = Number.POSITIVE_INFINITY;
  stepTokenLogps.forEach((step, i) => {
    if (step.length === 0) return;
    const m = meanOf(step);
    if (m < bestMean) {
      bestMean = m;
      best = i;
    }
  });
  return best < 0 ? -1 : best + 1;
}

/** `prm-dense` baseline reward (section 4): r = outcome + lambda * mean_k(score_k); mean of none = 0. */
export function prmDenseReward(outcome: number, stepScores: readonly number[], lambda: number): number {
  return outcome + lambda * (stepScores.length > 0 ? meanOf(stepScores) : 0);
}
