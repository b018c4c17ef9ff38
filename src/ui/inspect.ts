/**
 * The rollout inspector's logic, separate from its rendering: an iteration's rollouts grouped by
 * prompt, and each completion cut into steps that carry who wrote them, their PRM score, their oracle
 * label and the first-error marks. Pure functions over `IterationResult.rollouts`.
 */
import { EOS, isStepTerminator, parseCompletion } from '../core/format';
import type { IterationResult, Rollout, SegmentRole } from '../core/rl/trainer';
import type { Problem, Task } from '../core/tasks/types';

/**
 * What the inspector can honestly say about a step. The task oracle labels prefixes (a step is
 * valid given the steps before it; everything after the first invalid step is invalid), so only the
 * steps up to the first error get a verdict; the steps after it are 'after-error' (not judged),
 * never shown as wrong.
 */
export type StepVerdict = 'valid' | 'first-error' | 'after-error' | 'unfinished';

export const VERDICT_LABEL: Record<StepVerdict, string> = {
  valid: 'valid (given the steps before it)',
  'first-error': 'first error',
  'after-error': 'after the error (not judged)',
  unfinished: 'unfinished (no terminator)',
};

/** The verdicts of a completion's steps from the oracle's prefix labels. */
export function verdicts(oracle: readonly (boolean | null)[], terminated: readonly boolean[]): StepVerdict[] {
  let broken = false;
  return terminated.map((t, i) => {
    if (!t) return 'unfinished';
    if (broken) return 'after-error';
    const v = oracle[i];
    if (v === false) {
      broken = true;
      return 'first-error';
    }
    return v === true ? 'valid' : 'unfinished';
  });
}

/** Who wrote a step: the policy's sample, the teacher, the policy after a correction, or a reset. */
export type StepKind = 'own' | 'teacher' | 'continuation' | 'prefix' | 'resampled';

export interface StepView {
  /** 1-based. */
  index: number;
  text: string;
  /** ';' or '.' ('' for an unfinished tail, which is not a step). */
  terminator: string;
  kind: StepKind;
  /** PRM score of this step, when the PRM scored it (SCOPE scores failed rollouts only). */
  prm: number | null;
  /** Oracle label of the prefix up to this step; null for an unfinished tail. */
  valid: boolean | null;
  /** What to show: valid, the first error, after the error (not judged), unfinished. */
  verdict: StepVerdict;
  /** The oracle's first invalid step. */
  firstError: boolean;
  /** The PRM's first error (first score below tau): where SCOPE rectifies. */
  prmFirstError: boolean;
}

export interface GroupView {
  /** Index of the group in the iteration. */
  group: number;
  problem: Problem;
  rollouts: Rollout[];
  rectified: number;
  failed: number;
  /** RRPO/SRPO group B: the failed parent and the reset step. */
  reset: Rollout['reset'] | null;
}

/** Rollouts by group, in the trainer's order. */
export function groupViews(result: IterationResult): GroupView[] {
  const byGroup = new Map<number, Rollout[]>();
  for (const r of result.rollouts) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  return [...byGroup.entries()].map(([group, rollouts]) => ({
    group,
    problem: rollouts[0].problem,
    rollouts,
    rectified: rollouts.filter((r) => r.rectification).length,
    failed: rollouts.filter((r) => r.reward === 0).length,
    reset: rollouts.find((r) => r.reset)?.reset ?? null,
  }));
}

/** The group worth showing first: one with a rectification, else a reset, else a failure, else 0. */
export function defaultGroupIndex(groups: GroupView[]): number {
  const find = (f: (g: GroupView) => boolean) => groups.findIndex(f);
  for (const i of [find((g) => g.rectified > 0), find((g) => g.reset !== null), find((g) => g.failed > 0)])
    if (i >= 0) return i;
  return 0;
}

interface Piece {
  text: string;
  terminator: string;
  /** Character offset of the step in the completion. */
  start: number;
}

function pieces(completion: string): Piece[] {
  const out: Piece[] = [];
  let start = 0;
  for (let i = 0; i < completion.length; i++) {
    if (!isStepTerminator(completion[i])) continue;
    out.push({ text: completion.slice(start, i), terminator: completion[i], start });
    start = i + 1;
    if (completion[i] === EOS) return out;
  }
  if (start < completion.length) out.push({ text: completion.slice(start), terminator: '', start });
  return out;
}

/** Role of the segment covering character `pos` of the completion. */
function roleAt(r: Rollout, pos: number): SegmentRole {
  let end = 0;
  for (const s of r.segments) {
    end += s.text.length;
    if (pos < end) return s.role;
  }
  return r.segments.at(-1)?.role ?? 'on';
}

function kindOf(r: Rollout, index: number, piece: Piece): StepKind {
  if (r.origin === 'teacher') return 'teacher';
  if (r.rectification) {
    const k = r.rectification.k;
    if (index < k) return 'own';
    if (index === k) return 'teacher';
    return roleAt(r, piece.start) === 'off' ? 'teacher' : 'continuation';
  }
  if (r.reset) return index < r.reset.k ? 'prefix' : 'resampled';
  return 'own';
}

/**
 * The steps of a rollout as the inspector shows them. A rectified rollout's PRM scores belong to
 * the original completion, so only its kept steps (before k) show a score.
 */
export function stepViews(r: Rollout): StepView[] {
  const ps = pieces(r.completion);
  const scoredUpTo = r.rectification ? r.rectification.k - 1 : Number.POSITIVE_INFINITY;
  const vs = verdicts(
    ps.map((_, i) => r.oracle[i] ?? null),
    ps.map((p) => p.terminator !== ''),
  );
  return ps.map((p, i) => {
    const index = i + 1;
    const terminated = p.terminator !== '';
    const prm = index <= scoredUpTo ? (r.prmScores?.[i] ?? null) : null;
    return {
      index,
      text: p.text,
      terminator: p.terminator,
      kind: kindOf(r, index, p),
      prm: terminated ? prm : null,
      valid: terminated ? (r.oracle[i] ?? null) : null,
      verdict: vs[i],
      firstError: terminated && index === r.oracleFirstError,
      prmFirstError: terminated && !r.rectification && index === r.prmFirstError,
    };
  });
}

/** A rectified rollout's original (failed) completion, with its PRM scores and oracle labels. */
export function originalStepViews(r: Rollout, task: Task): StepView[] {
  const rect = r.rectification;
  if (!rect) return [];
  const { steps } = parseCompletion(rect.originalCompletion);
  const oracle = task.checkSteps(r.problem, steps);
  const firstBad = oracle.indexOf(false) + 1;
  const ps = pieces(rect.originalCompletion);
  const vs = verdicts(
    ps.map((_, i) => oracle[i] ?? null),
    ps.map((p) => p.terminator !== ''),
  );
  return ps.map((p, i) => {
    const terminated = p.terminator !== '';
    return {
      index: i + 1,
      text: p.text,
      terminator: p.terminator,
      kind: 'own' as const,
      prm: terminated ? (r.prmScores?.[i] ?? null) : null,
      valid: terminated ? (oracle[i] ?? null) : null,
      verdict: vs[i],
      firstError: terminated && i + 1 === firstBad,
      prmFirstError: terminated && i + 1 === rect.k,
    };
  });
}

export interface TokenRun {
  text: string;
  role: SegmentRole;
}

/** The completion as runs of tokens by who wrote them (for colouring by advantage). */
export function tokenRuns(r: Rollout): TokenRun[] {
  return r.segments.filter((s) => s.text.length > 0).map((s) => ({ text: s.text, role: s.role }));
}

export const KIND_LABEL: Record<StepKind, string> = {
  own: 'sampled by the policy',
  teacher: "teacher's step",
  continuation: 'policy, after the correction',
  prefix: 'reset prefix (kept, not trained)',
  resampled: 'resampled after the reset',
};
