/**
 * The text format shared by every task. A sequence is `prompt + PROMPT_END + completion`.
 * A completion is a list of steps; each step but the last ends with STEP_END, the last (the answer
 * step, `ANSWER_MARK + answer`) ends with EOS. The PRM reads its score at every step terminator.
 *
 *   add:   "47+85:7+5+0=12;4+8+1=13;>132."
 *   arith: "3+4*2:4*2=8;3+8=11;>11."
 */
export const PROMPT_END = ':';
export const STEP_END = ';';
export const EOS = '.';
export const ANSWER_MARK = '>';

export function isStepTerminator(ch: string): boolean {
  return ch === STEP_END || ch === EOS;
}

export function renderCompletion(steps: readonly string[]): string {
  if (steps.length === 0) return '';
  return (
    steps
      .slice(0, -1)
      .map((s) => s + STEP_END)
      .join('') +
    steps[steps.length - 1] +
    EOS
  );
}

export interface ParsedCompletion {
  /** Steps that were terminated (by STEP_END or EOS). */
  steps: string[];
  /** Text after the last terminator (an unfinished step), '' if none. */
  rest: string;
  /** True when the completion ended with EOS. Text after the first EOS is ignored. */
  complete: boolean;
}

export function parseCompletion(completion: string): ParsedCompletion {
  const steps: string[] = [];
  let cur = '';
  for (const ch of completion) {
    if (ch === STEP_END) {
      steps.push(cur);
      cur = '';
    } else if (ch === EOS) {
      steps.push(cur);
      return { steps, rest: '', complete: true };
    } else cur += ch;
  }
  return { steps, rest: cur, complete: false };
}

/** Completion text of the first `k` steps, each followed by STEP_END: the prefix a continuation starts from. */
export function stepPrefix(steps: readonly string[], k: number): string {
  return steps
    .slice(0, k)
    .map((s) => s + STEP_END)
    .join('');
}

export function isAnswerStep(step: string): boolean {
  return step.startsWith(ANSWER_MARK);
}
