/**
 * `prm-dense`, the baseline the SCOPE paper argues against (docs/algorithms.md section 3.3): GRPO
 * whose reward also counts the PRM's mean step score, r = outcome + prmLambda * mean_k(prm_k).
 */
import { prmDenseReward } from '../math';
import { assignGroupAdvantages, groupDiversity } from './common';
import type { Algorithm } from './types';

export const prmDense: Algorithm = {
  usesPrm: true,
  async prepare(ctx, problems) {
    const sampled = await ctx.sampleGroups(problems);
    const scores = await ctx.prmScores(sampled);
    // Shaped copies: the samples keep their 0/1 outcome reward (the comparable rewardMean).
    const rollouts = sampled.map((r, i) => ({
      ...r,
      prmScores: scores[i],
      reward: prmDenseReward(r.reward, scores[i], ctx.cfg.prmLambda),
    }));
    assignGroupAdvantages(rollouts, ctx.cfg.scaleRewards);
    return { sampled, rollouts, metrics: { diversity: groupDiversity(sampled) } };
  },
};
