/** What every task shares: outcome reward and the teacher's full solution. */
import { ANSWER_MARK, isAnswerStep, parseCompletion } from '../format';
import type { Problem } from './types';

/** 1 if the completion ended with EOS, has exactly one answer step, last, and its answer is right. */
export function outcomeReward(problem: Problem, completion: string): number {
  const { steps, complete } = parseCompletion(completion);
  const answers = steps.filter(isAnswerStep).length;
  return complete && answers === 1 && steps[steps.length - 1] === ANSWER_MARK + problem.answer ? 1 : 0;
}

/** Apply the teacher's nextStep until the answer step. */
export function solveWith(
  nextStep: (p: Problem, prefix: readonly string[]) => string,
  problem: Problem,
): string[] {
  const steps: string[] = [];
  while (!isAnswerStep(steps[steps.length - 1] ?? '')) steps.push(nextStep(problem, steps));
  return steps;
}
