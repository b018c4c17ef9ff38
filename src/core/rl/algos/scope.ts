/**
 * SCOPE: step-wise correction for on-policy exploration (docs/algorithms.md section 3.5).
 *   1. sample G rollouts per prompt;
 *   2. locate: the PRM's first error k of every failed rollout;
 *   3. select: partially correct ones (k >= 2), at most `rectifyCap` per group, largest k first;
 *   4. check the prefix (the teacher continues only a valid, unfinished prefix);
 *   5. rectify: own steps 1..k-1 (on) + teacher step k (off) + continuation (policy: on; teacher: off);
 *   6. replace the failure by its rectified version (or keep both);
 *   7. GRPO advantages over the mixed groups.
 */
import { EOS, isAnswerStep, renderCompletion, STEP_END, stepPrefix } from '../../format';
import { mean } from '../../metrics';
import { solveWith } from '../../tasks/common';
import type { RlConfig } from '../config';
import { defaultRectificationCap, firstErrorFromPrm, selectRectifications } from '../math';
import { assignGroupAdvantages, groupDiversity } from './common';
import type { AlgoContext, Algorithm, Prepared, Rollout, Segment } from './types';

export const scope: Algorithm = {
  usesPrm: true,
  async prepare(ctx, problems) {
    const sampled = await ctx.sampleGroups(problems);
    const diversity = groupDiversity(sampled);
    const { rollouts, metrics } = await rectify(ctx, sampled);
    assignGroupAdvantages(rollouts, ctx.cfg.scaleRewards);
    return { rollouts, metrics: { diversity, ...metrics } };
  },
};

/** Rectifications per group at most: `rectifyCap`, or ceil(G/4). */
export function rectifyCapOf(c: RlConfig): number {
  return c.rectifyCap ?? defaultRectificationCap(c.groupSize);
}

/** A chosen failure and how it is rectified at its PRM first error k. */
interface Plan {
  r: Rollout;
  k: number;
  /** The policy's own steps 1..k-1 and their text with terminators. */
  own: string[];
  prefix: string;
  /** The teacher's step k, and with its terminator. */
  teacherStep: string;
  corrected: string;
}

async function rectify(ctx: AlgoContext, rollouts: Rollout[]): Promise<Prepared> {
  const c = ctx.cfg;

  // 2. Locate: the PRM's first error of every failed rollout that has a step.
  const failed = rollouts.filter((r) => r.reward === 0 && r.steps.length > 0);
  const scores = failed.length ? await ctx.prmScores(failed) : [];
  failed.forEach((r, i) => {
    r.prmScores = scores[i];
    r.prmFirstError = firstErrorFromPrm(scores[i], c.tau);
  });
  const withOracleError = failed.filter((r) => r.oracleFirstError > 0);
  const located = {
    prmFirstErrorAcc: withOracleError.length
      ? mean(withOracleError.map((r) => (r.prmFirstError === r.oracleFirstError ? 1 : 0)))
      : null,
    firstErrorPos: failed.length ? mean(failed.map((r) => r.prmFirstError!)) : null,
    firstErrorRel: failed.length ? mean(failed.map((r) => r.prmFirstError! / r.steps.length)) : null,
  };

  // 3-4. Select per group, then keep only prefixes the teacher can continue; 5. plan the teacher's step k.
  const plans = ctx.timed('rectify', () => choose(c, rollouts, failed).map((r) => plan(ctx, r)));

  // 5. The continuation after the corrected step (none after an answer step).
  const conts = await continuations(ctx, plans);

  // 6. Replace each failure by its rectified version (reward recomputed), or keep both.
  return ctx.timed('rectify', () => {
    const replaced = new Map<Rollout, Rollout>();
    for (const p of plans) replaced.set(p.r, rectified(ctx, p, conts.get(p.r)));
    const out = c.scopeKeepOriginal
      ? [...rollouts, ...replaced.values()]
      : rollouts.map((r) => replaced.get(r) ?? r);
    const salvaged = [...replaced.values()].filter((r) => r.reward === 1).length;
    return {
      rollouts: out,
      metrics: {
        ...located,
        rectifications: plans.length,
        salvaged,
        salvageRate: plans.length ? salvaged / plans.length : null,
      },
    };
  });
}

/** Steps 3-4: per group the partially correct failures under the cap, minus unusable prefixes. */
function choose(c: RlConfig, rollouts: Rollout[], failed: Rollout[]): Rollout[] {
  const chosen: Rollout[] = [];
  for (const g of new Set(rollouts.map((r) => r.group))) {
    const cands = failed.filter((r) => r.group === g);
    const pick = selectRectifications(
      cands.map((r, i) => ({ index: i, k: r.prmFirstError! })),
      rectifyCapOf(c),
    );
    for (const i of pick) {
      const r = cands[i];
      // The teacher can only continue a prefix that really is valid and unfinished: a PRM false
      // "correct" (or a kept prefix that already gave an answer) is skipped.
      const kept = r.steps.slice(0, r.prmFirstError! - 1);
      if (r.oracle.slice(0, kept.length).every(Boolean) && !kept.some(isAnswerStep)) chosen.push(r);
    }
  }
  return chosen;
}

/** Step 5: the own prefix (steps 1..k-1) and the teacher's step k from it. */
function plan(ctx: AlgoContext, r: Rollout): Plan {
  const k = r.prmFirstError!;
  const own = r.steps.slice(0, k - 1);
  const teacherStep = ctx.task.nextStep(r.problem, own);
  const corrected = teacherStep + (isAnswerStep(teacherStep) ? EOS : STEP_END);
  return { r, k, own, prefix: stepPrefix(own, k - 1), teacherStep, corrected };
}

/** Step 6: own prefix (on, its recorded log-probs) + corrected step (off) + continuation. */
function rectified(ctx: AlgoContext, p: Plan, continuation: Segment | undefined): Rollout {
  const own = p.r.segments[0];
  const cont = continuation ?? { text: '', role: 'on' as const, logps: new Float32Array(0) };
  const segs = (
    [
      { text: p.prefix, role: 'on', logps: own.logps?.slice(0, p.prefix.length) },
      { text: p.corrected, role: 'off' },
      cont,
    ] as Segment[]
  ).filter((s) => s.text.length > 0);
  const nr = ctx.makeRollout(p.r.group, p.r.problem, segs, 'rectified');
  nr.prmScores = p.r.prmScores;
  nr.prmFirstError = p.k;
  nr.rectification = {
    k: p.k,
    original: p.r.steps[p.k - 1] ?? '',
    corrected: p.teacherStep,
    continuation: cont.text,
    originalCompletion: p.r.completion,
    salvaged: nr.reward === 1,
  };
  return nr;
}

/** Continuations of the rectified prefixes: the policy's, in one batched decode, or the teacher's. */
async function continuations(ctx: AlgoContext, plans: Plan[]): Promise<Map<Rollout, Segment>> {
  const needCont = plans.filter((p) => !isAnswerStep(p.teacherStep));
  const conts = new Map<Rollout, Segment>();
  if (ctx.cfg.scopeContinuation === 'policy') {
    if (needCont.length) {
      const gen = await ctx.generate(
        needCont.map((p) => ({ prompt: p.r.problem.prompt, completionPrefix: p.prefix + p.corrected })),
      );
      for (const [i, p] of needCont.entries())
        conts.set(p.r, { text: gen.texts[i], role: 'on', logps: gen.logps[i] });
    }
  } else
    for (const p of needCont) {
      const rest = solveWith((q, pre) => ctx.task.nextStep(q, pre), p.r.problem, [...p.own, p.teacherStep]);
      conts.set(p.r, { text: renderCompletion(rest), role: 'off' });
    }
  return conts;
}
