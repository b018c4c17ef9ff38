import type { Rng } from '../rng';

/** The splits every task has: train, its hash-held-out test, and a structural ood variant. */
export type CoreSplit = 'train' | 'test' | 'ood';
export const SPLITS: readonly CoreSplit[] = ['train', 'test', 'ood'];
/**
 * The edge-of-competence splits (only tasks that list them in `splits`; issue 17): problems the
 * starting policy mostly gets wrong for want of a procedure, not by sampling noise. edge-train and
 * edge-test are disjoint by a hash rule on the prompt; edge-ood is a longer/rarer variant of them.
 */
export type EdgeSplit = 'edge-train' | 'edge-test' | 'edge-ood';
export const EDGE_SPLITS: readonly EdgeSplit[] = ['edge-train', 'edge-test', 'edge-ood'];
export type Split = CoreSplit | EdgeSplit;
/** Splits an RL run may draw its training problems from (config `trainSplit`). */
export const TRAIN_SPLITS = ['train', 'edge-train'] as const satisfies readonly Split[];
export type TrainSplit = (typeof TRAIN_SPLITS)[number];
export type TaskName = 'add' | 'arith';
export const TASK_NAMES: readonly TaskName[] = ['add', 'arith'];
/** The splits each task can sample (every task has the core ones). */
export const TASK_SPLITS: Record<TaskName, readonly Split[]> = {
  add: [...SPLITS, ...EDGE_SPLITS],
  arith: SPLITS,
};

export interface Problem {
  /** The prompt text without PROMPT_END, e.g. "47+85". */
  prompt: string;
  /** The final answer text, e.g. "132". */
  answer: string;
}

/**
 * A verifiable, step-structured task. Everything is deterministic given the RNG.
 * Steps are the completion's segments as returned by `parseCompletion` (without terminators);
 * the last step of a solution is the answer step `ANSWER_MARK + answer`.
 */
export interface Task {
  readonly name: TaskName;
  /** Every character a prompt or completion may contain, in a fixed order (the tokenizer's vocabulary). */
  readonly chars: string;
  /** Upper bound on prompt + PROMPT_END + completion length for any split, solution included. */
  readonly maxSeqLen: number;
  /** One problem from a split (one of TASK_SPLITS[name]; others throw). train and test are disjoint
   *  (hash rule); ood is a structural variant. */
  sample(rng: Rng, split: Split): Problem;
  /** 1 if the completion is well formed (ends with EOS, exactly one answer step, last) and its answer is right, else 0. */
  reward(problem: Problem, completion: string): number;
  /** Oracle label of each step: valid given the steps before it; everything after the first invalid step is invalid. */
  checkSteps(problem: Problem, steps: readonly string[]): boolean[];
  /** Every valid next step from the state the (valid) prefix reached (one for `add`, several for `arith`). */
  legalNextSteps(problem: Problem, validPrefix: readonly string[]): string[];
  /** A correct next step from the state the (valid) prefix reached; the answer step when nothing is left to do. */
  nextStep(problem: Problem, validPrefix: readonly string[]): string;
  /** The teacher's full solution: nextStep applied until the answer step. */
  solve(problem: Problem): string[];
  /** A plausible but invalid replacement for step k of a valid prefix (synthetic PRM negatives). */
  corruptStep(rng: Rng, problem: Problem, validPrefix: readonly string[]): string;
}
