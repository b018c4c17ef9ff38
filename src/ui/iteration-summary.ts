/**
 * "What the algorithm did this iteration" in one line a class can read at a glance, from one
 * iteration's metrics: how the policy's own samples did, how many groups gave no learning signal,
 * and the algorithm's own actions (SCOPE's rectifications and salvages, RRPO/SRPO's resets, the
 * teacher-written rollouts). Pure: the run bar and the widget render the parts.
 */
import type { RlConfig } from '../core/rl/config';
import type { IterationMetrics } from '../core/rl/trainer';

export interface SummaryPart {
  /** Stable id (tests, styling). */
  id: string;
  text: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The parts of the line, most telling first. */
export function iterationSummary(
  m: IterationMetrics,
  cfg: Pick<RlConfig, 'promptsPerIter' | 'groupSize'>,
): SummaryPart[] {
  const parts: SummaryPart[] = [];
  if (m.rewardMean !== null)
    parts.push({
      id: 'own',
      text: `${Math.round(m.rewardMean * 100)}% of the policy's own samples right`,
    });
  if (m.rectifications !== null) {
    parts.push({ id: 'rectified', text: `${m.rectifications} rectified` });
    if (m.salvaged !== null) parts.push({ id: 'salvaged', text: `${m.salvaged} salvaged by the policy` });
    if (m.answerStepCorrections != null && m.answerStepCorrections > 0)
      parts.push({ id: 'answer-step', text: plural(m.answerStepCorrections, 'answer-step correction') });
    if (m.prmFalseAccepts != null && m.prmFalseAccepts > 0)
      parts.push({ id: 'prm-false-accepts', text: plural(m.prmFalseAccepts, 'PRM false accept') });
  }
  if (m.resetParents !== null) parts.push({ id: 'resets', text: plural(m.resetParents, 'reset') });
  if (m.zeroStdGroupFrac !== null) {
    const groups = Math.round(m.zeroStdGroupFrac * cfg.promptsPerIter);
    parts.push({
      id: 'no-signal',
      text: `${groups} of ${plural(cfg.promptsPerIter, 'group')} with no signal (all right or all wrong)`,
    });
  }
  if (m.skippedUpdates > 0) parts.push({ id: 'skipped', text: plural(m.skippedUpdates, 'skipped update') });
  return parts;
}

/** The line as text: "this iteration: 12 rectified, 9 salvaged by the policy, ...". */
export function iterationSummaryText(
  m: IterationMetrics,
  cfg: Pick<RlConfig, 'promptsPerIter' | 'groupSize'>,
): string {
  const parts = iterationSummary(m, cfg);
  return `Iteration ${m.iter}: ${parts.length ? parts.map((p) => p.text).join(', ') : 'trained'}.`;
}
