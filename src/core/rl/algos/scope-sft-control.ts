/**
 * The token-matched control of SCOPE (issue 17; docs/algorithms.md section 3.8). It runs SCOPE's
 * steps 1-5 exactly (sample G rollouts per prompt, the PRM's first error of each failure, the same
 * selection under the same cap, the teacher's step k on the policy's own prefix) and then trains
 * only the teacher-step tokens, with the supervised loss (role `pg`, advantage 1: -log p), on those
 * prefixes. No continuation is decoded, nothing else is trained: no on-policy tokens, no advantages.
 *
 * So it holds the teacher data SCOPE inserts fixed, token for token, and removes the RL around it:
 * "SCOPE = teacher data" predicts it matches SCOPE; "SCOPE = teacher data placed on the policy's own
 * prefix, inside RL" predicts SCOPE beats it. (sft-control, by contrast, trains whole teacher
 * solutions from the prompt: more, and differently placed, teacher tokens.)
 */
import { mean, std } from '../../metrics';
import { ROLE } from '../batch';
import { groupDiversity, zeroStdGroupFrac } from './common';
import { locateAndPlan } from './scope';
import type { Algorithm, Rollout } from './types';

export const scopeSftControl: Algorithm = {
  usesPrm: true,
  // The kept prefix is 'masked' (context only); the teacher's step is 'off' -> plain NLL.
  tokenRoles: () => ({ on: ROLE.masked, off: ROLE.pg }),
  async prepare(ctx, problems) {
    const sampled = await ctx.sampleGroups(problems);
    const { plans, located } = await locateAndPlan(ctx, sampled);
    const rollouts: Rollout[] = ctx.timed('rectify', () =>
      plans.map((p) => {
        const r = ctx.makeRollout(
          p.r.group,
          p.r.problem,
          [
            { text: p.prefix, role: 'masked' },
            { text: p.corrected, role: 'off' },
          ].filter((s) => s.text.length > 0) as Rollout['segments'],
          'teacher',
        );
        r.advantage = 1;
        r.prmScores = p.r.prmScores;
        r.prmFirstError = p.k;
        return r;
      }),
    );
    // No teacher step this iteration: one fully masked row, so the update has no trained token
    // (zero loss and gradient) rather than an empty batch.
    if (rollouts.length === 0 && sampled.length > 0) {
      const r = ctx.makeRollout(
        0,
        sampled[0].problem,
        [{ text: sampled[0].completion, role: 'masked' }],
        'sample',
      );
      r.advantage = 0;
      rollouts.push(r);
    }
    const rewards = sampled.map((r) => r.reward);
    return {
      sampled,
      rollouts,
      metrics: {
        ...located,
        // The outcome of the policy's own samples (the trained rows are teacher steps, not outcomes).
        rewardMean: mean(rewards),
        rewardStd: std(rewards),
        zeroStdGroupFrac: zeroStdGroupFrac(sampled),
        diversity: groupDiversity(sampled),
        rectifications: plans.length,
      },
    };
  },
};
