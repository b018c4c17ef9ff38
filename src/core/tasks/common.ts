/** What every task shares: outcome reward and the teacher's full solution. */
import { ANSWER_MARK, isAnswerStep, parseCompletion } from '../format';
import type { Problem } from './types';

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
