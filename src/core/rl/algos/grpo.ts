/**
 * GRPO, the baseline the other methods change (docs/algorithms.md section 3.2): `G` samples per
 * prompt, outcome reward, group-normalised advantages; every token is on-policy.
 */
import { assignGroupAdvantages, groupDiversity } from './common';
import type { Algorithm } from './types';

export const grpo: Algorithm = {
  usesPrm: false,
  async prepare(ctx, problems) {
    const rollouts = await ctx.sampleGroups(problems);
    assignGroupAdvantages(rollouts, ctx.cfg.scaleRewards);
    return { sampled: rollouts, rollouts, metrics: { diversity: groupDiversity(rollouts) } };
  },
};
