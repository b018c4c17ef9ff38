/** What every task shares: outcome reward and the teacher's full solution. */
import { ANSWER_MARK, isAnswerStep, parseCompletion } from '../format';
import type { Rng } from '../rng';
import type { Problem, Task } from './types';

/** 1 if the completion ended with EOS, has exactly one answer step, last, and its answer is right. */
export function outcomeReward(problem: Problem, completion: string): number {
  const { steps, complete } = parseCompletion(completion);
  const answers = steps.filter(isAnswerStep).length;
  return complete && answers === 1 && steps[steps.length - 1] === ANSWER_MARK + problem.answer ? 1 : 0;
}

/** Apply the teacher's nextStep from a valid prefix until the answer step; returns the new steps. */
export function solveWith(
  nextStep: (p: Problem, prefix: readonly string[]) => string,
  problem: Problem,
  prefix: readonly string[] = [],
): string[] {
  const all = [...prefix];
  while (!isAnswerStep(all[all.length - 1] ?? '')) all.push(nextStep(problem, all));
  return all.slice(prefix.length);
}

/** A uniformly random legal solution path (for `add` the only one). */
export function randomSolution(task: Task, problem: Problem, rng: Rng): string[] {
  const steps: string[] = [];
  for (let i = 0; i < 64; i++) {
    const next = rng.pick(task.legalNextSteps(problem, steps));
    steps.push(next);
    if (isAnswerStep(next)) return steps;
  }
  throw new Error(`no solution path ended for '${problem.prompt}'`);
}
