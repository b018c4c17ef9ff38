/**
 * Every RL knob in one place: named, described (`.describe()`: the meaning that `train --help`
 * prints), defaulted (algorithms.md sections 3-8) and validated once. The CLI, the UI and the URL
 * state all go through `parseRlConfig`.
 */

import { TASK_NAMES, TASK_SPLITS, type TaskName, TRAIN_SPLITS } from '../tasks/types';
import { z } from '../zod';
import { ALGORITHMS, type Algo } from './algos';

export type { Algo };
/** Every algorithm's name, in the registry's order (src/core/rl/algos/index.ts). */
export const ALGOS = Object.keys(ALGORITHMS) as [Algo, ...Algo[]];

export const rlConfigSchema = z
  .object({
    task: z
      .enum(TASK_NAMES as unknown as [string, ...string[]])
      .describe('The task: add or arith (its own option: --task)'),
    algo: z.enum(ALGOS).describe('The algorithm (its own option: --algo)'),
    seed: z.number().int().min(0).describe('Seed of the run: problem sampling, rollouts, resets'),
    iters: z.number().int().min(1).max(100_000).describe('RL iterations'),
    promptsPerIter: z.number().int().min(1).max(256).describe('P: prompts per iteration'),
    /** RRPO/SRPO split it in two halves. */
    groupSize: z.number().int().min(2).max(64).describe('G: rollouts per prompt (the group)'),
    /** Small on purpose: section 8 saw GRPO collapse at 1e-4 with 8x8 batches. */
    lr: z.number().positive().max(1).describe('Adam learning rate'),
    /** That gain scales every logit: it is the policy's inverse temperature. On the shipped `add`
     *  checkpoint it is the only direction in which independent 8x8 RL batches agree (gradient
     *  cosine 0.6 between batches, ~0 for every other tensor), and it must grow ~25% to turn T=1
     *  sampling into T=0.8 sampling (+12 points). Adam moves a parameter by at most ~lr per step, so
     *  at `lr` it would move 0.004 in 200 iterations; with its own rate it sharpens while the noisy
     *  rest stays slow. */
    outputGainLr: z
      .number()
      .min(0)
      .max(1)
      .describe('Adam learning rate of the final LayerNorm gain `lnf.g` (warmed up like `lr`)'),
    /** Fresh Adam moments make the first updates near-unit steps on every parameter; without the
     *  warm-up every algorithm dipped ~3 points. */
    warmupIters: z.number().int().min(0).describe('Linear learning-rate warm-up over the first N iterations'),
    /** Larger values damp the steps of parameters whose gradients are mostly noise (Adam otherwise
     *  moves every parameter by about lr per step). */
    adamEps: z.number().positive().max(1).describe('Adam epsilon for RL'),
    clipNorm: z.number().positive().describe('Global gradient-norm clip'),
    temperature: z
      .number()
      .positive()
      .max(10)
      .describe('Sampling temperature (training and sampled evaluation)'),
    topP: z.number().gt(0).max(1).describe('Nucleus mass for sampling; 1 disables it'),
    scaleRewards: z
      .enum(['group', 'batch', 'none'])
      .describe('Advantage scaling: per group std (default), batch std, or none (centre only)'),
    lossAgg: z
      .enum(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'])
      .describe('Loss aggregation: DAPO token mean (default), original GRPO, Dr. GRPO'),
    epsLow: z.number().min(0).max(1).describe('PPO clip range below 1'),
    epsHigh: z.number().min(0).max(10).describe('PPO clip range above 1'),
    beta: z
      .number()
      .min(0)
      .describe('k3 KL penalty to the SFT reference; 0 disables it (and the reference model)'),
    innerEpochs: z.number().int().min(1).max(16).describe('Passes over each batch (mu)'),
    /** ../shards.ts. Runs recorded before 2026-12-03 (the experiments in results/) used 1. */
    updateShards: z
      .number()
      .int()
      .min(1)
      .max(8)
      .describe(
        'Row shards of each update, their gradients summed in order; a second worker computes shards beside the policy (results depend on this number, not on the cores; 1: the unsharded update)',
      ),
    prmLambda: z.number().min(0).describe('prm-dense: r = outcome + lambda * mean step score'),
    gamma: z.number().positive().describe('luffy/scope: shaped weight p/(p+gamma) on off-policy tokens'),
    tau: z.number().gt(0).lt(1).describe('scope: a step is wrong when the PRM scores it below tau'),
    rectifyCap: z
      .number()
      .int()
      .min(0)
      .nullable()
      .describe('scope: rectifications per group at most (null: ceil(G/4))'),
    scopeContinuation: z
      .enum(['policy', 'teacher'])
      .describe(
        "scope: what follows the corrected step: the policy's own continuation (default) or the teacher's",
      ),
    scopeKeepOriginal: z
      .boolean()
      .describe('scope: keep the failed original beside its rectified version (default: replace it)'),
    // Off by default: when the first error is the answer step, the teacher writes the answer and
    // there is nothing left for the policy to continue, so such a rectification salvages nothing
    // and only injects a teacher-written answer (issue 15: 19 of 55 rectifications in one sample).
    scopeRectifyAnswerStep: z
      .boolean()
      .describe(
        'scope: also rectify when the first error is the answer step (counted in answerStepCorrections, never salvaged)',
      ),
    // Off by default: with the learned PRM, the choice of rectifications then rests on the PRM alone,
    // and its false "correct" verdicts show up in prmFalseAccepts instead of being hidden.
    scopeOracleGuard: z
      .boolean()
      .describe('scope: skip a rectification whose kept prefix the task oracle finds invalid (the old rule)'),
    prmMode: z
      .enum(['learned', 'oracle'])
      .describe('PRM used for scoring: the learned one, or the oracle (an upper bound for teaching)'),
    resetMaxAttempts: z
      .number()
      .int()
      .min(1)
      .max(64)
      .describe('rrpo/srpo: fresh-sample attempts to find a failed parent'),
    pMin: z
      .number()
      .gt(0)
      .lt(1)
      .describe(
        'srpo: a step containing a token with probability below pMin is where the model doubts itself',
      ),
    resetClipped: z
      .boolean()
      .describe('rrpo/srpo: use the clipped surrogate instead of the plain -A log p loss'),
    evalEvery: z.number().int().min(1).describe('Evaluate every N iterations (and at the start and end)'),
    evalN: z.number().int().min(1).max(10_000).describe('Problems per evaluation split'),
    checkpointEvery: z
      .number()
      .int()
      .min(0)
      .describe('Save a checkpoint every N iterations (0: only at the end)'),
    trainSplit: z
      .enum(TRAIN_SPLITS)
      .describe("The split the trainer draws its problems from ('edge-train': the edge scenario, issue 17)"),
    trainMix: z
      .number()
      .min(0)
      .max(1)
      .describe(
        "Share of each iteration's prompts drawn from the ordinary `train` split instead of `trainSplit` (round(P * trainMix) of them), to hold what the policy already knows",
      ),
    /** Needs a task with edge splits. */
    edgeEvalN: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .describe(
        'Problems of the edge evaluation at the start and end of a run (greedy and 64 samples each on edge-test: pass@1/4/16/64; greedy on edge-ood); 0 turns it off',
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    const splits = TASK_SPLITS[c.task as TaskName];
    if (!splits.includes(c.trainSplit))
      ctx.addIssue({
        code: 'custom',
        path: ['trainSplit'],
        message: `task ${c.task} has no split ${c.trainSplit}`,
      });
    if (c.edgeEvalN > 0 && !splits.includes('edge-test'))
      ctx.addIssue({ code: 'custom', path: ['edgeEvalN'], message: `task ${c.task} has no edge splits` });
    if ((c.algo === 'rrpo' || c.algo === 'srpo') && c.groupSize % 2 !== 0)
      ctx.addIssue({
        code: 'custom',
        path: ['groupSize'],
        message: `${c.algo} splits G in two groups: G must be even`,
      });
  });

export type RlConfig = z.infer<typeof rlConfigSchema>;

export const DEFAULT_RL: RlConfig = {
  task: 'add',
  algo: 'scope',
  seed: 1,
  iters: 200,
  promptsPerIter: 8,
  groupSize: 8,
  lr: 2e-5,
  outputGainLr: 5e-3,
  warmupIters: 20,
  adamEps: 1e-8,
  clipNorm: 1,
  temperature: 1,
  topP: 1,
  scaleRewards: 'group',
  lossAgg: 'token-mean',
  epsLow: 0.2,
  epsHigh: 0.2,
  beta: 0,
  innerEpochs: 1,
  updateShards: 2,
  prmLambda: 0.5,
  gamma: 0.1,
  tau: 0.5,
  rectifyCap: null,
  scopeContinuation: 'policy',
  scopeKeepOriginal: false,
  scopeRectifyAnswerStep: false,
  scopeOracleGuard: false,
  prmMode: 'learned',
  resetMaxAttempts: 12,
  pMin: 0.2,
  resetClipped: false,
  evalEvery: 25,
  evalN: 200,
  checkpointEvery: 50,
  trainSplit: 'train',
  trainMix: 0,
  edgeEvalN: 0,
};

/** Defaults + overrides, validated; the error names the first bad field and value. */
export function parseRlConfig(overrides: Record<string, unknown>): RlConfig {
  const merged = { ...DEFAULT_RL, ...overrides };
  const res = rlConfigSchema.safeParse(merged);
  if (!res.success) {
    const issue = res.error.issues[0];
    const key = issue.path.join('.');
    const value = key ? JSON.stringify((merged as Record<string, unknown>)[key]) : '';
    throw new Error(`invalid ${key || 'config'}${value !== undefined ? ` ${value}` : ''}: ${issue.message}`);
  }
  return res.data;
}

/** The parameter that `outputGainLr` applies to (the final LayerNorm gain of the policy). */
export const OUTPUT_GAIN_PARAM = 'lnf.g';

/** Algorithms that score steps with the learned PRM (and so need its checkpoint and worker). */
export function needsLearnedPrm(c: RlConfig): boolean {
  return ALGORITHMS[c.algo].usesPrm && c.prmMode === 'learned';
}
