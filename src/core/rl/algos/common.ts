/** Pieces several algorithms share: grouping rollouts, group advantages, diversity. */
import { STEP_END } from '../../format';
import { diversity, mean, std } from '../../metrics';
import type { RlConfig } from '../config';
import { groupAdvantages } from '../math';
import type { Rollout } from './types';

/** Rollouts split by their `group` field, groups in first-appearance order. */
export function groupsOf(rollouts: Rollout[]): Rollout[][] {
  const byGroup = new Map<number, Rollout[]>();
  for (const r of rollouts) {
    const g = byGroup.get(r.group);
    if (g) g.push(r);
    else byGroup.set(r.group, [r]);
  }
  return [...byGroup.values()];
}

/** GRPO advantages (`groupAdvantages`, section 3.1) over the (possibly mixed) groups, set in place. */
export function assignGroupAdvantages(rollouts: Rollout[], scale: RlConfig['scaleRewards']): void {
  const groups = groupsOf(rollouts);
  const adv = groupAdvantages(
    groups.flat().map((r) => r.reward),
    groups.map((g) => g.length),
    scale,
  );
  groups.flat().forEach((r, i) => {
    r.advantage = adv[i];
  });
}

/** Distinct step sequences per group / group size, averaged over the groups. */
export function groupDiversity(rollouts: Rollout[]): number {
  return diversity(groupsOf(rollouts).map((g) => g.map((r) => r.steps.join(STEP_END))));
}

/** Share of groups whose rewards are all equal (no learning signal). */
export function zeroStdGroupFrac(rollouts: Rollout[]): number {
  return mean(groupsOf(rollouts).map((g) => (std(g.map((r) => r.reward)) < 1e-8 ? 1 : 0)));
}
