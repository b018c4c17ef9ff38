/**
 * The supervised control (docs/algorithms.md section 3.7): for each prompt, `G` random legal
 * teacher paths trained with plain NLL (role `pg`, advantage 1) in the RL batch shape. It separates
 * "more teacher data" from an RL effect; nothing is sampled.
 */
import { renderCompletion } from '../../format';
import { randomSolution } from '../../tasks/common';
import { ROLE } from '../batch';
import type { Algorithm } from './types';

export const sftControl: Algorithm = {
  usesPrm: false,
  tokenRoles: () => ({ on: ROLE.on, off: ROLE.pg }),
  async prepare(ctx, problems) {
    const G = ctx.cfg.groupSize;
    const rollouts = problems.flatMap((p, g) =>
      Array.from({ length: G }, () => {
        const text = renderCompletion(randomSolution(ctx.task, p, ctx.rng));
        const r = ctx.makeRollout(g, p, [{ text, role: 'off' }], 'teacher');
        r.advantage = 1;
        return r;
      }),
    );
    return { sampled: null, rollouts, metrics: {} };
  },
};
