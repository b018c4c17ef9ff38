/**
 * RRPO and SRPO: credit assignment with resets (docs/algorithms.md section 3.6). With H = G/2:
 *   1. first draw: H + 1 fresh samples per prompt; the first failure is the parent, group A is the
 *      first H of the others (trained on whole completions);
 *   2. parent search: more fresh batches of H (never trained on) for prompts with no failure yet;
 *   3. reset point k in the parent: RRPO uniform, SRPO self-localised from the parent's log-probs;
 *   4. group B: H suffixes sampled after the parent's steps 1..k-1 (prefix masked);
 *   5. A and B normalised separately; 6. loss -A log p (role pg) unless `resetClipped`;
 *   7. a prompt with no parent gets H plain samples that join group A as one group of G.
 * The two differ only in how they choose k, which is this module's parameter.
 */
import { stepPrefix } from '../../format';
import { mean } from '../../metrics';
import type { Problem } from '../../tasks/types';
import { ROLE } from '../batch';
import { resetGroupAdvantages, selfLocalise } from '../math';
import { groupDiversity, groupsOf } from './common';
import type { AlgoContext, Algorithm, Rollout, Segment } from './types';

/** Step 3: the 1-based step of a failed parent (with n >= 1 steps) where the reset resamples. */
export type ResetPoint = (ctx: AlgoContext, parent: Rollout) => number;

/** RRPO: k uniform in [1, n]. */
export const randomResetPoint: ResetPoint = (ctx, parent) => ctx.rng.int(1, parent.steps.length);

/**
 * SRPO (`confidence` self-localisation): the first step holding a token with p < pMin, else the
 * step with the lowest mean log-prob; a step's tokens include its terminator.
 */
export const selfLocalisedResetPoint: ResetPoint = (ctx, parent) => {
  const lp = parent.segments[0].logps!;
  const perStep: number[][] = [];
  let pos = 0;
  for (const s of parent.steps) {
    perStep.push(Array.from(lp.subarray(pos, pos + s.length + 1)));
    pos += s.length + 1;
  }
  return Math.max(1, selfLocalise(perStep, ctx.cfg.pMin));
};

/** A reset algorithm choosing its reset point with `resetPoint`. */
export function resetAlgorithm(resetPoint: ResetPoint): Algorithm {
  return {
    usesPrm: false,
    tokenRoles: (c) => ({ on: c.resetClipped ? ROLE.on : ROLE.pg, off: ROLE.off }),
    async prepare(ctx, problems) {
      const c = ctx.cfg;
      const half = c.groupSize / 2;
      const { first, groupA, parents } = await findParents(ctx, problems, half);

      // 3. The reset point of each parent (k = 1 for a parent without a terminated step).
      const resets = ctx.timed('rectify', () =>
        problems.map((p, g) => {
          const parent = parents[g];
          if (!parent) return { p, g, parent: null, k: 0, prefix: '' };
          const k = parent.steps.length > 0 ? resetPoint(ctx, parent) : 1;
          return { p, g, parent, k, prefix: stepPrefix(parent.steps, k - 1) };
        }),
      );

      // 4. Group B: H suffixes from each reset state (a plain sample where there is no parent).
      const gen = await ctx.generate(
        resets.flatMap((r) =>
          Array.from({ length: half }, () => ({
            prompt: r.p.prompt,
            completionPrefix: r.parent ? r.prefix : '',
          })),
        ),
      );
      // Groups: A (fresh) as group 2g, B (suffixes, or plain fresh samples without a parent) as 2g+1.
      const out: Rollout[] = groupA.map((r) => ({ ...r, group: 2 * r.group }));
      const suffixRewards: number[] = [];
      resets.forEach((r, g) => {
        for (let j = 0; j < half; j++) {
          const i = g * half + j;
          const segs = (
            [
              { text: r.prefix, role: 'masked' },
              { text: gen.texts[i], role: 'on', logps: gen.logps[i] },
            ] as Segment[]
          ).filter((s) => s.text.length > 0);
          // 7. Without a parent all G slots are plain rollouts of one group.
          const ro = ctx.makeRollout(r.parent ? 2 * g + 1 : 2 * g, r.p, segs, r.parent ? 'reset' : 'sample');
          if (r.parent) {
            ro.reset = { k: r.k, parentCompletion: r.parent.completion, prefix: r.prefix };
            suffixRewards.push(ro.reward);
          }
          out.push(ro);
        }
      });

      // 5. Advantages inside each group separately (population std; std < 1e-8 -> 0).
      const groups = groupsOf(out);
      const adv = resetGroupAdvantages(
        groups.flatMap((grp) => grp.map((r) => r.reward)),
        groups.map((grp) => grp.length),
      );
      groups.flat().forEach((r, i) => {
        r.advantage = adv[i];
      });

      const withParent = resets.filter((r) => r.parent);
      return {
        // The comparable outcome reward: the first draw, H + 1 fresh samples per prompt (group A and
        // the parent when it came from this draw), before any reset.
        sampled: first,
        rollouts: out,
        metrics: {
          diversity: groupDiversity(groupA),
          resetParents: withParent.length,
          resetK: withParent.length ? mean(withParent.map((r) => r.k)) : null,
          resetSuffixReward: suffixRewards.length ? mean(suffixRewards) : null,
        },
      };
    },
  };
}

/** Steps 1-2: group A and each prompt's failed parent (null when none turned up). */
async function findParents(ctx: AlgoContext, problems: Problem[], half: number) {
  // First draw: H + 1 fresh samples per prompt. The first failure becomes the parent (never
  // trained on); group A is the first H of the others.
  const first = await ctx.sampleGroups(problems, half + 1);
  const parents: (Rollout | null)[] = problems.map(
    (_, g) => first.find((r) => r.group === g && r.reward === 0) ?? null,
  );
  const groupA = problems.flatMap((_, g) =>
    first.filter((r) => r.group === g && r !== parents[g]).slice(0, half),
  );
  // Keep drawing fresh samples (not trained on) for prompts with no failure yet.
  for (let attempt = 1; attempt < ctx.cfg.resetMaxAttempts && parents.some((p) => p === null); attempt++) {
    const missing = problems.map((p, g) => ({ p, g })).filter(({ g }) => parents[g] === null);
    const more = await ctx.sampleGroups(
      missing.map((m) => m.p),
      half,
    );
    for (const r of more) {
      const g = missing[r.group].g;
      if (parents[g] === null && r.reward === 0) parents[g] = { ...r, group: g };
    }
  }
  return { first, groupA, parents };
}

export const rrpo = resetAlgorithm(randomResetPoint);
export const srpo = resetAlgorithm(selfLocalisedResetPoint);
