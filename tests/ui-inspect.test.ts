import { describe, expect, it } from 'vitest';
import { parseCompletion } from '../src/core/format';
import type { IterationResult, Rollout, Segment } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import {
  defaultGroupIndex,
  groupViews,
  originalStepViews,
  stepViews,
  tokenRuns,
  VERDICT_LABEL,
  verdicts,
} from '../src/ui/inspect';

const add = getTask('add');
const problem = { prompt: '356+478', answer: '834' };

/** A rollout as the trainer builds it: oracle labels from the real task. */
function rollout(group: number, segments: Segment[], extra: Partial<Rollout> = {}): Rollout {
  const completion = segments.map((s) => s.text).join('');
  const steps = parseCompletion(completion).steps;
  const oracle = add.checkSteps(problem, steps);
  const bad = oracle.indexOf(false);
  return {
    group,
    problem,
    origin: 'sample',
    segments,
    completion,
    reward: add.reward(problem, completion),
    advantage: 0,
    steps,
    oracle,
    oracleFirstError: bad < 0 ? 0 : bad + 1,
    ...extra,
  };
}

const failed = rollout(0, [{ text: '6+8+0=14;5+7+1=13;3+4+0=7;>734.', role: 'on' }], {
  prmScores: [0.97, 0.91, 0.12, 0.08],
  prmFirstError: 3,
  advantage: -1,
});
// The worked example of docs/algorithms.md: kept prefix (on), teacher step (off), continuation (on).
const rectified = rollout(
  0,
  [
    { text: '6+8+0=14;5+7+1=13;', role: 'on' },
    { text: '3+4+1=8;', role: 'off' },
    { text: '>834.', role: 'on' },
  ],
  {
    origin: 'rectified',
    prmScores: [0.97, 0.91, 0.12, 0.08],
    prmFirstError: 3,
    advantage: 1,
    rectification: {
      k: 3,
      original: '3+4+0=7',
      corrected: '3+4+1=8',
      continuation: '>834.',
      originalCompletion: '6+8+0=14;5+7+1=13;3+4+0=7;>734.',
      salvaged: true,
    },
  },
);
const correct = rollout(1, [{ text: '6+8+0=14;5+7+1=13;3+4+1=8;>834.', role: 'on' }]);
const reset = rollout(
  3,
  [
    { text: '6+8+0=14;', role: 'masked' },
    { text: '5+7+1=13;3+4+1=8;>83', role: 'on' },
  ],
  { origin: 'reset', reset: { k: 2, parentCompletion: '6+8+0=14;5+7+0=12;>124.', prefix: '6+8+0=14;' } },
);

const result = (rollouts: Rollout[]) => ({ metrics: { iter: 1 }, rollouts }) as unknown as IterationResult;

describe('rollout inspector logic', () => {
  it('a failed sample: PRM scores per step, the oracle first error and the PRM first error marked', () => {
    const v = stepViews(failed);
    expect(v.map((s) => s.text + s.terminator)).toEqual(['6+8+0=14;', '5+7+1=13;', '3+4+0=7;', '>734.']);
    expect(v.map((s) => s.prm)).toEqual([0.97, 0.91, 0.12, 0.08]);
    expect(v.map((s) => s.valid)).toEqual([true, true, false, false]);
    expect(v.map((s) => s.firstError)).toEqual([false, false, true, false]);
    expect(v.map((s) => s.prmFirstError)).toEqual([false, false, true, false]);
    expect(v.every((s) => s.kind === 'own')).toBe(true);
    // The oracle labels prefixes: the step after the first error is not judged, not shown as wrong.
    expect(v.map((s) => s.verdict)).toEqual(['valid', 'valid', 'first-error', 'after-error']);
  });

  it('verdicts: only the first invalid step is an error; later ones are "after the error"', () => {
    expect(verdicts([true, false, false, false], [true, true, true, true])).toEqual([
      'valid',
      'first-error',
      'after-error',
      'after-error',
    ]);
    expect(verdicts([true, true, null], [true, true, false])).toEqual(['valid', 'valid', 'unfinished']);
    expect(verdicts([false], [true])).toEqual(['first-error']);
    expect(VERDICT_LABEL['after-error']).toMatch(/not judged/);
  });

  it('a rectified rollout: own prefix, the teacher step k, the policy continuation; scores only before k', () => {
    const v = stepViews(rectified);
    expect(v.map((s) => s.kind)).toEqual(['own', 'own', 'teacher', 'continuation']);
    expect(v.map((s) => s.prm)).toEqual([0.97, 0.91, null, null]);
    expect(v.map((s) => s.valid)).toEqual([true, true, true, true]);
    expect(v.some((s) => s.firstError || s.prmFirstError)).toBe(false);
    const orig = originalStepViews(rectified, add);
    expect(orig.map((s) => s.text)).toEqual(['6+8+0=14', '5+7+1=13', '3+4+0=7', '>734']);
    expect(orig.map((s) => s.firstError)).toEqual([false, false, true, false]);
    expect(orig.map((s) => s.verdict)).toEqual(['valid', 'valid', 'first-error', 'after-error']);
    expect(orig.map((s) => s.prmFirstError)).toEqual([false, false, true, false]);
    expect(orig.map((s) => s.prm)).toEqual([0.97, 0.91, 0.12, 0.08]);
  });

  it('a teacher continuation after the correction counts as the teacher', () => {
    const teacherCont = {
      ...rectified,
      segments: [rectified.segments[0], rectified.segments[1], { text: '>834.', role: 'off' as const }],
    };
    expect(stepViews(teacherCont).map((s) => s.kind)).toEqual(['own', 'own', 'teacher', 'teacher']);
  });

  it('a reset rollout: the kept prefix, then resampled steps; an unfinished tail is no step', () => {
    const v = stepViews(reset);
    expect(v.map((s) => s.kind)).toEqual(['prefix', 'resampled', 'resampled', 'resampled']);
    expect(v.at(-1)).toMatchObject({ text: '>83', terminator: '', valid: null, firstError: false });
    expect(tokenRuns(reset)).toEqual([
      { text: '6+8+0=14;', role: 'masked' },
      { text: '5+7+1=13;3+4+1=8;>83', role: 'on' },
    ]);
  });

  it('groups by prompt and opens on the most telling group', () => {
    const groups = groupViews(result([correct, failed, rectified, reset]));
    expect(
      groups.map((g) => [g.group, g.rollouts.length, g.failed, g.rectified, g.reset?.k ?? null]),
    ).toEqual([
      [1, 1, 0, 0, null],
      [0, 2, 1, 1, null],
      [3, 1, 1, 0, 2],
    ]);
    expect(defaultGroupIndex(groups)).toBe(1);
    expect(defaultGroupIndex(groupViews(result([correct, reset])))).toBe(1);
    expect(defaultGroupIndex(groupViews(result([correct, failed])))).toBe(1);
    expect(defaultGroupIndex(groupViews(result([correct])))).toBe(0);
  });
});
