/**
 * The problem box's logic (issue 20 item 6), separate from its rendering: read a problem typed by a
 * person in the task's own prompt format, and explain the policy's answer to it step by step (the
 * PRM's score of each step, the oracle's verdicts, the first error and the teacher's correction
 * there). Pure functions over the task; the models' calls are the session's (`Session.probe`).
 */
import { ANSWER_MARK, PROMPT_END, parseCompletion } from '../core/format';
import type { Problem, Task } from '../core/tasks/types';
import { type StepVerdict, verdicts } from './inspect';

/** What to type, per task (the format its prompts are written in). */
export const PROBLEM_EXAMPLE: Record<string, string> = { add: '47+85', arith: '3*(4+5)-6' };

export type ParsedProblem = { ok: true; problem: Problem } | { ok: false; message: string };

/**
 * A typed problem in the task's prompt format, with its answer from the task's own solver. Refused,
 * with a message a student can act on: empty text, characters the task has no token for, a text the
 * task cannot read as a problem, or a problem too long for the model.
 */
export function parseProblem(task: Task, raw: string): ParsedProblem {
  const prompt = raw.replace(/\s+/g, '');
  const example = PROBLEM_EXAMPLE[task.name] ?? '';
  if (!prompt) return { ok: false, message: `Type a problem, e.g. ${example}.` };
  const bad = [...new Set([...prompt].filter((c) => !task.chars.includes(c) || c === PROMPT_END))];
  if (bad.length)
    return {
      ok: false,
      message: `'${bad.join("', '")}' cannot appear in a ${task.name} problem; write it like ${example}.`,
    };
  let steps: string[];
  try {
    steps = task.solve({ prompt, answer: '' });
  } catch {
    return { ok: false, message: `'${prompt}' is not a ${task.name} problem; write it like ${example}.` };
  }
  const last = steps.at(-1) ?? '';
  const solution = `${steps.join(';')}.`;
  if (!last.startsWith(ANSWER_MARK) || [...solution].some((c) => !task.chars.includes(c)))
    return { ok: false, message: `'${prompt}' is outside what this ${task.name} task covers.` };
  if (prompt.length + PROMPT_END.length + solution.length > task.maxSeqLen)
    return {
      ok: false,
      message: `'${prompt}' is too long for the model (it reads at most ${task.maxSeqLen} characters).`,
    };
  return { ok: true, problem: { prompt, answer: last.slice(ANSWER_MARK.length) } };
}

export interface ProbeStep {
  index: number;
  text: string;
  prm: number | null;
  verdict: StepVerdict;
}

export interface ProbeExplanation {
  problem: Problem;
  steps: ProbeStep[];
  /** 1 when the answer is right and well formed. */
  reward: number;
  /** 1-based first invalid step (the oracle's), 0 when none. */
  firstError: number;
  /** 1-based first step scored below tau by the PRM, 0 when none or no PRM. */
  prmFirstError: number;
  /** The teacher's step in place of the first error (null when there is none). */
  correction: { k: number; wrote: string; teacher: string } | null;
  /** The completion stopped before its answer (no EOS). */
  unfinished: boolean;
}

/** The policy's completion of `problem` explained, with the PRM's step scores when there are some. */
export function explainProbe(
  task: Task,
  problem: Problem,
  completion: string,
  prmScores: readonly number[] | null,
  tau: number,
): ProbeExplanation {
  const { steps, complete } = parseCompletion(completion);
  const oracle = task.checkSteps(problem, steps);
  const vs = verdicts(
    oracle,
    steps.map(() => true),
  );
  const firstError = oracle.indexOf(false) + 1;
  const prmFirst = prmScores ? prmScores.findIndex((s) => s < tau) + 1 : 0;
  const correction =
    firstError > 0
      ? {
          k: firstError,
          wrote: steps[firstError - 1],
          teacher: task.nextStep(problem, steps.slice(0, firstError - 1)),
        }
      : null;
  return {
    problem,
    steps: steps.map((text, i) => ({ index: i + 1, text, prm: prmScores?.[i] ?? null, verdict: vs[i] })),
    reward: task.reward(problem, completion),
    firstError,
    prmFirstError: prmFirst,
    correction,
    unfinished: !complete,
  };
}
