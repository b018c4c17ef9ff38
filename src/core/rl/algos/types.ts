/**
 * The one interface every RL algorithm implements (docs/algorithms.md section 3). The trainer's loop
 * is the same for all of them: sample problems -> `algorithm.prepare` -> update batch -> update ->
 * metrics. An algorithm turns the iteration's problems into the rollouts to train on (with their
 * token roles and advantages) and reports its own metrics; it reaches the models only through the
 * context.
 */

import type { Rng } from '../../rng';
import type { Problem, Task } from '../../tasks/types';
import type { Role } from '../batch';
import type { RlConfig } from '../config';
import type { GenerateRequest, GenerateResult } from '../services';
import type { IterationMetrics } from '../trainer';

export type SegmentRole = 'on' | 'off' | 'masked';

/** A piece of a completion: who wrote it and, for the policy's own text, its behaviour log-probs. */
export interface Segment {
  text: string;
  role: SegmentRole;
  logps?: Float32Array;
}

export interface Rollout {
  /** Index of the rollout's group (advantages are normalised per group). */
  group: number;
  problem: Problem;
  origin: 'sample' | 'rectified' | 'teacher' | 'reset';
  segments: Segment[];
  completion: string;
  reward: number;
  advantage: number;
  steps: string[];
  /** Oracle validity of each step (first-error labelling). */
  oracle: boolean[];
  /** 1-based first oracle error, 0 if none. */
  oracleFirstError: number;
  /** PRM score of each step (scope, prm-dense). */
  prmScores?: number[];
  /** 1-based first error by the PRM (scope, failed rollouts). */
  prmFirstError?: number;
  /** SCOPE: what was rectified. */
  rectification?: {
    k: number;
    original: string;
    corrected: string;
    continuation: string;
    originalCompletion: string;
    /** The policy wrote a continuation after the corrected step and the result has reward 1. */
    salvaged: boolean;
    /** The corrected step is the answer step: the teacher wrote the answer, nothing was left to salvage.
     *  (This and the next are absent in rollouts recorded before they existed.) */
    answerStep?: boolean;
    /** The kept prefix holds a step the oracle finds invalid (the PRM wrongly judged it correct). */
    prmFalseAccept?: boolean;
  };
  /** RRPO/SRPO: the reset state this suffix was sampled from. */
  reset?: { k: number; parentCompletion: string; prefix: string };
}

/** The phases of an iteration's wall time (`IterationMetrics.timeMs`). */
export type Phase = 'generate' | 'prm' | 'rectify' | 'update';

/** What an algorithm may use: the run's config, task and RNG, and the models behind the trainer. */
export interface AlgoContext {
  readonly cfg: RlConfig;
  readonly task: Task;
  /** The trainer's RNG (it also draws the problems): RRPO reset points, sft-control paths. */
  readonly rng: Rng;
  /** `G` fresh policy samples per problem, as rollouts of group = problem index (timed as generate). */
  sampleGroups(problems: Problem[], G?: number): Promise<Rollout[]>;
  /** Policy continuations of `prompt:completionPrefix` at the run's temperature and top-p (generate). */
  generate(requests: GenerateRequest[]): Promise<GenerateResult>;
  /** Step scores of each rollout: the learned PRM's, or the oracle's 1/0 labels (`prmMode`; timed as prm). */
  prmScores(rollouts: Rollout[]): Promise<number[][]>;
  /** A rollout from its segments: completion, steps, oracle labels and outcome reward computed here. */
  makeRollout(group: number, problem: Problem, segments: Segment[], origin: Rollout['origin']): Rollout;
  /** Runs the synchronous `fn` and adds its wall time to `phase` (the model calls above time themselves). */
  timed<T>(phase: Phase, fn: () => T): T;
}

/** What `prepare` hands back to the loop. */
export interface Prepared {
  /**
   * The policy's own fresh samples of this iteration, as sampled: before any rectification, teacher
   * replacement, reset or PRM shaping, with their 0/1 outcome rewards. `rewardMean`, `rewardStd` and
   * `zeroStdGroupFrac` are computed on them, so they compare across methods. Null when the algorithm
   * samples nothing (sft-control).
   */
  sampled: Rollout[] | null;
  /** The rollouts to train on, advantages set; each segment's role says how its tokens are trained. */
  rollouts: Rollout[];
  /** The algorithm's own metrics; the loop fills in the rest (null where they do not apply). */
  metrics: Partial<IterationMetrics>;
}

export interface Algorithm {
  /** Whether it scores steps with a PRM (the learned one needs its checkpoint and worker). */
  readonly usesPrm: boolean;
  /** Loss role of the tokens of `on` and `off` segments (default: clipped surrogate / shaped weight). */
  tokenRoles?(cfg: RlConfig): { on: Role; off: Role };
  prepare(ctx: AlgoContext, problems: Problem[]): Promise<Prepared>;
}
