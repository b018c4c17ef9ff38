/**
 * The RL maths of scope-lab that runs on the host, as pure functions over plain arrays
 * (shared/design/algorithms.md sections 3-7): advantages, aggregation weights, first errors, the
 * choice of rectifications, reset points, the prm-dense reward. Every export here is called by the
 * training code (./algos, ./trainer) and tested on hand-computed numbers (tests/rl-math.test.ts).
 * The per-token losses (clipped surrogate, shaped off-policy weight, -A log p, k3 KL) have one
 * definition, the tensor one in ./loss.ts, tested on hand-computed tokens in
 * tests/rl-trainer-loss.test.ts.
 *
 * Conventions: log-probs are natural logs; step indices are 1-based (as in the spec), -1 = none;
 * a "group" is the G rollouts of one prompt, given as consecutive runs of `groupSizes`.
 */

export type RewardScale = 'group' | 'batch' | 'none';
export type LossAgg = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';

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
 *   'seq-mean-token-sum-norm': w_i = 1 / (N * max_j len_j)        (Dr. GRPO: a constant over the
 *                                                                  batch; 0 if every len is 0)
 */
export function aggregationWeights(lengths: readonly number[], mode: LossAgg): number[] {
  const n = lengths.length;
  switch (mode) {
    case 'token-mean': {
      const total = lengths.reduce((a, b) => a + b, 0);
      return lengths.map(() => (total > 0 ? 1 / total : 0));
    }
    case 'seq-mean-token-mean':
      return lengths.map((len) => (len > 0 ? 1 / (n * len) : 0));
    case 'seq-mean-token-sum-norm': {
      const l = Math.max(0, ...lengths);
      return lengths.map(() => (l > 0 ? 1 / (n * l) : 0));
    }
  }
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
