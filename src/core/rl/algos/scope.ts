/**
 * SCOPE: step-wise correction for on-policy exploration (docs/algorithms.md section 3.5).
 *   1. sample G rollouts per prompt;
 *   2. locate: the PRM's first error k of every failed rollout;
 *   3. select: partially correct ones (k >= 2) the teacher can correct (kept prefix unfinished; step
 *      k not the answer step unless `scopeRectifyAnswerStep`), at most `rectifyCap` per group,
 *      largest k first;
 *   4. the PRM alone decides: a kept prefix with an oracle-invalid step (a PRM false accept) is
 *      rectified too and counted, unless `scopeOracleGuard` vetoes it;
 *   5. rectify: own steps 1..k-1 (on) + teacher step k (off) + continuation (policy: on; teacher: off);
 *   6. replace the failure by its rectified version (or keep both); salvaged = the policy completed it;
 *   7. GRPO advantages over the mixed groups.
 */
import { EOS, isAnswerStep, renderCompletion, STEP_END, stepPrefix } from '../../format';
import { mean } from '../../metrics';
import { solveWith } from '../../tasks/common';
import type { Problem, Task } from '../../tasks/types';
import type { RlConfig } from '../config';
import { defaultRectificationCap, firstErrorFromPrm, selectRectifications } from '../math';
import { assignGroupAdvantages, groupDiversity } from './common';
import type { AlgoContext, Algorithm, Prepared, Rollout, Segment } from './types';

export const scope: Algorithm = {
  usesPrm: true,
  async prepare(ctx, problems) {
    const sampled = await ctx.sampleGroups(problems);
    const { plans, located } = await locateAndPlan(ctx, sampled);
    const conts = await continuations(ctx, plans);
    const { rollouts, metrics } = ctx.timed('rectify', () => replace(ctx, sampled, plans, conts));
    assignGroupAdvantages(rollouts, ctx.cfg.scaleRewards);
    return { sampled, rollouts, metrics: { diversity: groupDiversity(sampled), ...located, ...metrics } };
  },
};

/** Rectifications per group at most: `rectifyCap`, or ceil(G/4). */
export function rectifyCapOf(c: RlConfig): number {
  return c.rectifyCap ?? defaultRectificationCap(c.groupSize);
}

/** A chosen failure and how it is rectified at its PRM first error k. */
export interface Plan {
  r: Rollout;
  k: number;
  /** The policy's own steps 1..k-1, and their text with terminators. */
  own: string[];
  prefix: string;
  /** The teacher's step k, and with its terminator. */
  teacherStep: string;
  corrected: string;
  /** The teacher's steps after step k (its continuation when `scopeContinuation` is 'teacher'). */
  teacherRest: string[];
  /** Step k is the answer step: nothing is left for the policy to continue. */
  answerStep: boolean;
  /** The kept prefix holds an oracle-invalid step: the PRM wrongly judged it correct. */
  prmFalseAccept: boolean;
}

/**
 * Steps 2-4 (and the teacher's step 5), shared with the token-matched control: the PRM's first error of every failed rollout
 * with a step, the rectifications chosen, and the PRM metrics of the iteration.
 */
export async function locateAndPlan(ctx: AlgoContext, rollouts: Rollout[]) {
  const c = ctx.cfg;

  // 2. Locate.
  const failed = rollouts.filter((r) => r.reward === 0 && r.steps.length > 0);
  const scores = failed.length ? await ctx.prmScores(failed) : [];
  failed.forEach((r, i) => {
    r.prmScores = scores[i];
    r.prmFirstError = firstErrorFromPrm(scores[i], c.tau);
  });

  return ctx.timed('rectify', () => {
    // 3. Select per group (planning the teacher's step k tells which are answer-step corrections).
    const plans: Plan[] = [];
    const selectedByPrm: Plan[] = [];
    for (const g of new Set(rollouts.map((r) => r.group))) {
      const cands = failed
        .filter((r) => r.group === g && r.prmFirstError! >= 2)
        // A kept prefix that already holds an answer step is finished: a step after it makes a second
        // answer (reward 0 by definition) and the teacher has no next step. A format rule, no oracle.
        .filter((r) => !r.steps.slice(0, r.prmFirstError! - 1).some(isAnswerStep))
        .map((r) => plan(ctx.task, r))
        .filter((p) => c.scopeRectifyAnswerStep || !p.answerStep);
      const pick = selectRectifications(
        cands.map((p, i) => ({ index: i, k: p.k })),
        rectifyCapOf(c),
      );
      for (const i of pick) {
        selectedByPrm.push(cands[i]);
        // 4. The old rule, now opt-in: the oracle vetoes a kept prefix it finds invalid (the slot
        // under the cap is not given to the next candidate).
        if (!(c.scopeOracleGuard && cands[i].prmFalseAccept)) plans.push(cands[i]);
      }
    }

    const withOracleError = failed.filter((r) => r.oracleFirstError > 0);
    const located = {
      prmFirstErrorAcc: withOracleError.length
        ? mean(withOracleError.map((r) => (r.prmFirstError === r.oracleFirstError ? 1 : 0)))
        : null,
      firstErrorPos: failed.length ? mean(failed.map((r) => r.prmFirstError!)) : null,
      firstErrorRel: failed.length ? mean(failed.map((r) => r.prmFirstError! / r.steps.length)) : null,
      prmFalseAccepts: selectedByPrm.filter((p) => p.prmFalseAccept).length,
    };
    return { plans, located };
  });
}

/** Step 5's plan: the own prefix (steps 1..k-1) and the teacher's path from there. */
function plan(task: Task, r: Rollout): Plan {
  const k = r.prmFirstError!;
  const own = r.steps.slice(0, k - 1);
  const prmFalseAccept = !r.oracle.slice(0, own.length).every(Boolean);
  const [teacherStep, ...teacherRest] = teacherPath(task, r.problem, own);
  const answerStep = isAnswerStep(teacherStep);
  const corrected = teacherStep + (answerStep ? EOS : STEP_END);
  return {
    r,
    k,
    own,
    prefix: stepPrefix(own, k - 1),
    teacherStep,
    corrected,
    teacherRest,
    answerStep,
    prmFalseAccept,
  };
}

/**
 * The teacher's steps k, k+1, ... after the kept steps 1..k-1 (k-1 = `own.length`, no answer step
 * among them). From a valid prefix: `nextStep` repeated until the answer (step k = nextStep(own)).
 * An invalid prefix (a PRM false accept) has no state the teacher can continue (`nextStep` throws
 * on it), so the teacher follows its own solution through the prefix's valid part instead: the
 * valid steps 1..j-1, then `nextStep` to the answer, and it writes that path's steps from position
 * k on (just its answer step when the path is shorter). For `add` this is the problem's true column
 * k step. The policy's invalid steps j..k-1 stay as written, so the rectified completion still
 * carries the error and, but for luck, fails.
 */
export function teacherPath(task: Task, problem: Problem, own: readonly string[]): string[] {
  const next = (q: Problem, pre: readonly string[]) => task.nextStep(q, pre);
  const labels = task.checkSteps(problem, own);
  const j = labels.indexOf(false);
  if (j < 0) return solveWith(next, problem, own);
  const valid = own.slice(0, j);
  const path = [...valid, ...solveWith(next, problem, valid)];
  return path.slice(Math.min(own.length, path.length - 1));
}

/** Step 5: continuations of the rectified prefixes: the policy's, in one batched decode, or the teacher's. */
async function continuations(ctx: AlgoContext, plans: Plan[]): Promise<Map<Rollout, Segment>> {
  const needCont = plans.filter((p) => !p.answerStep);
  const conts = new Map<Rollout, Segment>();
  if (ctx.cfg.scopeContinuation === 'policy') {
    if (needCont.length) {
      const gen = await ctx.generate(
        needCont.map((p) => ({ prompt: p.r.problem.prompt, completionPrefix: p.prefix + p.corrected })),
      );
      for (const [i, p] of needCont.entries())
        conts.set(p.r, { text: gen.texts[i], role: 'on', logps: gen.logps[i] });
    }
  } else for (const p of needCont) conts.set(p.r, { text: renderCompletion(p.teacherRest), role: 'off' });
  return conts;
}

/** Step 6: each failure replaced by (or, with `scopeKeepOriginal`, joined by) its rectified version. */
function replace(
  ctx: AlgoContext,
  rollouts: Rollout[],
  plans: Plan[],
  conts: Map<Rollout, Segment>,
): Omit<Prepared, 'sampled'> {
  const replaced = new Map<Rollout, Rollout>();
  for (const p of plans) replaced.set(p.r, rectified(ctx, p, conts.get(p.r)));
  const out = ctx.cfg.scopeKeepOriginal
    ? [...rollouts, ...replaced.values()]
    : rollouts.map((r) => replaced.get(r) ?? r);
  const salvaged = [...replaced.values()].filter((r) => r.rectification!.salvaged).length;
  return {
    rollouts: out,
    metrics: {
      rectifications: plans.length,
      salvaged,
      salvageRate: plans.length ? salvaged / plans.length : null,
      answerStepCorrections: ctx.cfg.scopeRectifyAnswerStep ? plans.filter((p) => p.answerStep).length : null,
    },
  };
}

/** Own prefix (on, its recorded log-probs) + corrected step (off) + continuation; reward recomputed. */
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
  // Salvaged: the policy itself wrote what follows the corrected step, and the result is correct.
  const policyContinued = continuation?.role === 'on' && continuation.text.length > 0;
  nr.rectification = {
    k: p.k,
    original: p.r.steps[p.k - 1] ?? '',
    corrected: p.teacherStep,
    continuation: cont.text,
    originalCompletion: p.r.completion,
    salvaged: policyContinued && nr.reward === 1,
    answerStep: p.answerStep,
    prmFalseAccept: p.prmFalseAccept,
  };
  return nr;
}
