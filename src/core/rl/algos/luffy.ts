/**
 * LUFFY-style whole-trajectory replacement, a baseline (docs/algorithms.md section 3.4): in each
 * group with a failure, the first failed rollout is replaced by the teacher's complete solution
 * (every token off-policy); GRPO advantages over the mixed group.
 */
import { renderCompletion } from '../../format';
import { assignGroupAdvantages, groupDiversity } from './common';
import type { AlgoContext, Algorithm, Rollout } from './types';

export const luffy: Algorithm = {
  usesPrm: false,
  async prepare(ctx, problems) {
    const sampled = await ctx.sampleGroups(problems);
    const diversity = groupDiversity(sampled);
    const rollouts = ctx.timed('rectify', () => replaceWithTeacher(ctx, sampled));
    assignGroupAdvantages(rollouts, ctx.cfg.scaleRewards);
    return { sampled, rollouts, metrics: { diversity } };
  },
};

function replaceWithTeacher(ctx: AlgoContext, rollouts: Rollout[]): Rollout[] {
  const out = [...rollouts];
  for (const g of new Set(rollouts.map((r) => r.group))) {
    const idx = out.findIndex((r) => r.group === g && r.reward === 0);
    if (idx < 0) continue;
    const p = out[idx].problem;
    out[idx] = ctx.makeRollout(g, p, [{ text: renderCompletion(ctx.task.solve(p)), role: 'off' }], 'teacher');
  }
  return out;
}
