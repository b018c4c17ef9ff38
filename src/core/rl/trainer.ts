/**
 * The coordinator: one RL loop for every algorithm and both runtimes. Each iteration
 *   sample -> score (reward, oracle labels, PRM) -> rectify (SCOPE, LUFFY) or reset (RRPO, SRPO)
 *   -> advantages -> update -> metrics,
 * talking to the models only through PolicyService / PrmService. The task oracle, the teacher and
 * all the maths run here, on plain data.
 */

import type { EvalResult } from '../evaluate';
import { EOS, isAnswerStep, parseCompletion, renderCompletion, STEP_END, stepPrefix } from '../format';
import { diversity, mean, std } from '../metrics';
import { Rng } from '../rng';
import { randomSolution, solveWith } from '../tasks/common';
import type { Problem, Task } from '../tasks/types';
import { type Tokenizer, tokenizerFor } from '../tokenizer';
import { ROLE, type Role, type UpdateBatch } from './batch';
import { type Algo, needsLearnedPrm, OUTPUT_GAIN_PARAM, type RlConfig, rectifyCapOf } from './config';
import { type FaultInjection, faultAt, parseFaultInjection } from './faults';
import {
  aggregationWeights,
  firstErrorFromPrm,
  groupAdvantages,
  prmDenseReward,
  resetGroupAdvantages,
  selectRectifications,
  selfLocalise,
} from './math';
import type { PolicyService, PrmService, UpdateStats } from './services';

export type SegmentRole = 'on' | 'off' | 'masked';

/** A piece of a completion: who wrote it and, for the policy's own text, its behaviour log-probs. */
export interface Segment {
  text: string;
  role: SegmentRole;
  logps?: Float32Array;
}

export interface Rollout {
  /** Index of the rollout's group (advantages are normalised per group). */
  group: number;
  problem: Problem;
  origin: 'sample' | 'rectified' | 'teacher' | 'reset';
  segments: Segment[];
  completion: string;
  reward: number;
  advantage: number;
  steps: string[];
  /** Oracle validity of each step (first-error labelling). */
  oracle: boolean[];
  /** 1-based first oracle error, 0 if none. */
  oracleFirstError: number;
  /** PRM score of each step (scope, prm-dense). */
  prmScores?: number[];
  /** 1-based first error by the PRM (scope, failed rollouts). */
  prmFirstError?: number;
  /** SCOPE: what was rectified. */
  rectification?: {
    k: number;
    original: string;
    corrected: string;
    continuation: string;
    originalCompletion: string;
    salvaged: boolean;
  };
  /** RRPO/SRPO: the reset state this suffix was sampled from. */
  reset?: { k: number; parentCompletion: string; prefix: string };
}

export interface IterationMetrics {
  iter: number;
  algo: Algo;
  rewardMean: number | null;
  rewardStd: number | null;
  zeroStdGroupFrac: number | null;
  diversity: number | null;
  completionLen: number;
  truncationRatio: number | null;
  loss: number;
  entropy: number;
  clipFraction: number;
  kl: number;
  gradNorm: number;
  skippedUpdates: number;
  trainedTokens: number;
  rectifications: number | null;
  salvaged: number | null;
  salvageRate: number | null;
  firstErrorPos: number | null;
  firstErrorRel: number | null;
  prmFirstErrorAcc: number | null;
  resetParents: number | null;
  resetK: number | null;
  resetSuffixReward: number | null;
  timeMs: { generate: number; prm: number; rectify: number; update: number; total: number };
  eval?: EvalResult;
}

export interface IterationResult {
  metrics: IterationMetrics;
  rollouts: Rollout[];
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export class Trainer {
  readonly rng: Rng;
  private readonly tok: Tokenizer;
  iter = 0;
  /** Test hook: iterations whose update is made non-finite (null in every normal run). */
  private faults: FaultInjection | null = null;

  constructor(
    readonly task: Task,
    readonly cfg: RlConfig,
    readonly policy: PolicyService,
    readonly prm: PrmService | null,
    rng?: Rng,
  ) {
    this.tok = tokenizerFor(task);
    this.rng = rng ?? new Rng(`rl/${cfg.task}/${cfg.algo}/${cfg.seed}`);
    if (needsLearnedPrm(cfg) && !prm) throw new Error(`${cfg.algo} needs a PRM`);
  }

  /** Test hook: make the updates of chosen iterations non-finite (validated; see faults.ts). */
  injectFaults(spec: unknown): void {
    this.faults = parseFaultInjection(spec);
  }

  /** Run one iteration and return its metrics and rollouts (for the inspector). */
  async step(): Promise<IterationResult> {
    const c = this.cfg;
    const t0 = now();
    const time = { generate: 0, prm: 0, rectify: 0, update: 0, total: 0 };
    const ordinary = c.trainSplit === 'train' ? c.promptsPerIter : Math.round(c.promptsPerIter * c.trainMix);
    const problems = Array.from({ length: c.promptsPerIter }, (_, i) =>
      this.task.sample(this.rng, i < ordinary ? 'train' : c.trainSplit),
    );
    let rollouts: Rollout[];
    const extra: Partial<IterationMetrics> = {};

    if (c.algo === 'sft-control') {
      rollouts = this.controlRollouts(problems);
    } else if (c.algo === 'rrpo' || c.algo === 'srpo') {
      rollouts = await this.resetRollouts(problems, time, extra);
    } else {
      let ts = now();
      rollouts = await this.sampleGroups(problems);
      time.generate = now() - ts;
      extra.diversity = this.groupDiversity(rollouts);
      if (c.algo === 'prm-dense') {
        ts = now();
        await this.scoreWithPrm(rollouts);
        for (const r of rollouts) r.reward = prmDenseReward(r.reward, r.prmScores ?? [], c.prmLambda);
        time.prm = now() - ts;
      } else if (c.algo === 'luffy') {
        ts = now();
        rollouts = this.replaceWithTeacher(rollouts);
        time.rectify = now() - ts;
      } else if (c.algo === 'scope') {
        rollouts = await this.rectify(rollouts, time, extra);
      }
      this.assignAdvantages(rollouts);
    }

    const ts = now();
    const batch = this.buildBatch(rollouts);
    const warm = c.warmupIters > 0 ? Math.min(1, (this.iter + 1) / c.warmupIters) : 1;
    const stats: UpdateStats = await this.policy.update(batch, {
      lr: c.lr * warm,
      lrByParam: { [OUTPUT_GAIN_PARAM]: c.outputGainLr * warm },
      clipNorm: c.clipNorm,
      innerEpochs: c.innerEpochs,
      temperature: c.temperature,
      epsLow: c.epsLow,
      epsHigh: c.epsHigh,
      gamma: c.gamma,
      beta: c.beta,
      injectNonFinite: faultAt(this.faults, this.iter + 1),
    });
    time.update = now() - ts;
    this.iter++;
    time.total = now() - t0;

    const sampled = rollouts.filter((r) => r.origin !== 'teacher');
    const metrics: IterationMetrics = {
      iter: this.iter,
      algo: c.algo,
      rewardMean: c.algo === 'sft-control' ? null : mean(rollouts.map((r) => r.reward)),
      rewardStd: c.algo === 'sft-control' ? null : std(rollouts.map((r) => r.reward)),
      zeroStdGroupFrac: c.algo === 'sft-control' ? null : this.zeroStdGroupFrac(rollouts),
      diversity: null,
      completionLen: mean(rollouts.map((r) => r.completion.length)),
      truncationRatio:
        c.algo === 'sft-control' ? null : mean(sampled.map((r) => (r.completion.endsWith(EOS) ? 0 : 1))),
      loss: stats.loss,
      entropy: stats.entropy,
      clipFraction: stats.clipFraction,
      kl: stats.kl,
      gradNorm: stats.gradNorm,
      skippedUpdates: stats.skipped,
      trainedTokens: batch.weights.reduce((n, w) => n + (w !== 0 ? 1 : 0), 0),
      rectifications: null,
      salvaged: null,
      salvageRate: null,
      firstErrorPos: null,
      firstErrorRel: null,
      prmFirstErrorAcc: null,
      resetParents: null,
      resetK: null,
      resetSuffixReward: null,
      ...extra,
      timeMs: time,
    };
    return { metrics, rollouts };
  }

  /** `full`: also the scenario's edge evaluation (`edgeEvalN` problems; the run's start and end). */
  async evaluate(full = false): Promise<EvalResult> {
    return this.policy.evaluate({
      n: this.cfg.evalN,
      temperature: this.cfg.temperature,
      topP: this.cfg.topP,
      edgeN: full ? this.cfg.edgeEvalN : 0,
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Sampling and scoring

  private makeRollout(
    group: number,
    problem: Problem,
    segments: Segment[],
    origin: Rollout['origin'],
  ): Rollout {
    const completion = segments.map((s) => s.text).join('');
    const steps = parseCompletion(completion).steps;
    const oracle = this.task.checkSteps(problem, steps);
    const bad = oracle.indexOf(false);
    return {
      group,
      problem,
      origin,
      segments,
      completion,
      reward: this.task.reward(problem, completion),
      advantage: 0,
      steps,
      oracle,
      oracleFirstError: bad < 0 ? 0 : bad + 1,
    };
  }

  private async sampleGroups(problems: Problem[], G = this.cfg.groupSize): Promise<Rollout[]> {
    const reqs = problems.flatMap((p) => Array.from({ length: G }, () => ({ prompt: p.prompt })));
    const gen = await this.policy.generate(reqs, { temperature: this.cfg.temperature, topP: this.cfg.topP });
    return gen.texts.map((text, i) =>
      this.makeRollout(
        Math.floor(i / G),
        problems[Math.floor(i / G)],
        [{ text, role: 'on', logps: gen.logps[i] }],
        'sample',
      ),
    );
  }

  private async prmScores(rollouts: Rollout[]): Promise<number[][]> {
    if (this.cfg.prmMode === 'oracle') return rollouts.map((r) => r.oracle.map((v) => (v ? 1 : 0)));
    return this.prm!.scoreSteps(
      rollouts.map((r) => ({ prompt: r.problem.prompt, completion: r.completion })),
    );
  }

  private async scoreWithPrm(rollouts: Rollout[]): Promise<void> {
    const scores = await this.prmScores(rollouts);
    rollouts.forEach((r, i) => {
      r.prmScores = scores[i];
    });
  }

  private groupDiversity(rollouts: Rollout[]): number {
    return diversity(groupsOf(rollouts).map((g) => g.map((r) => r.steps.join(STEP_END))));
  }

  private zeroStdGroupFrac(rollouts: Rollout[]): number {
    return mean(groupsOf(rollouts).map((g) => (std(g.map((r) => r.reward)) < 1e-8 ? 1 : 0)));
  }

  /** Group-wise advantages over the (possibly mixed) groups. */
  private assignAdvantages(rollouts: Rollout[]): void {
    const groups = groupsOf(rollouts);
    const adv = groupAdvantages(
      groups.flat().map((r) => r.reward),
      groups.map((g) => g.length),
      this.cfg.scaleRewards,
    );
    groups.flat().forEach((r, i) => {
      r.advantage = adv[i];
    });
  }

  // -------------------------------------------------------------------------------------------------
  // LUFFY: whole-trajectory replacement

  private replaceWithTeacher(rollouts: Rollout[]): Rollout[] {
    const out = [...rollouts];
    const groups = new Set(rollouts.map((r) => r.group));
    for (const g of groups) {
      const idx = out.findIndex((r) => r.group === g && r.reward === 0);
      if (idx < 0) continue;
      const p = out[idx].problem;
      out[idx] = this.makeRollout(
        g,
        p,
        [{ text: renderCompletion(this.task.solve(p)), role: 'off' }],
        'teacher',
      );
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // SCOPE: PRM first error -> own prefix + teacher step + policy continuation

  private async rectify(
    rollouts: Rollout[],
    time: IterationMetrics['timeMs'],
    extra: Partial<IterationMetrics>,
  ) {
    const c = this.cfg;
    let ts = now();
    const failed = rollouts.filter((r) => r.reward === 0 && r.steps.length > 0);
    const scores = failed.length ? await this.prmScores(failed) : [];
    failed.forEach((r, i) => {
      r.prmScores = scores[i];
      r.prmFirstError = firstErrorFromPrm(scores[i], c.tau);
    });
    time.prm = now() - ts;
    ts = now();

    const withOracleError = failed.filter((r) => r.oracleFirstError > 0);
    extra.prmFirstErrorAcc = withOracleError.length
      ? mean(withOracleError.map((r) => (r.prmFirstError === r.oracleFirstError ? 1 : 0)))
      : null;
    extra.firstErrorPos = failed.length ? mean(failed.map((r) => r.prmFirstError!)) : null;
    extra.firstErrorRel = failed.length ? mean(failed.map((r) => r.prmFirstError! / r.steps.length)) : null;

    // Choose the rectifications: partially correct (k >= 2), at most R per group, largest k first.
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

    const plans = chosen.map((r) => {
      const k = r.prmFirstError!;
      const own = r.steps.slice(0, k - 1);
      const prefix = stepPrefix(own, k - 1);
      const teacherStep = this.task.nextStep(r.problem, own);
      const corrected = teacherStep + (isAnswerStep(teacherStep) ? EOS : STEP_END);
      return { r, k, own, prefix, corrected, teacherStep };
    });
    // Continuations for all rectified rollouts in one batched decode.
    const needCont = plans.filter((p) => !isAnswerStep(p.teacherStep));
    const conts = new Map<Rollout, Segment>();
    if (c.scopeContinuation === 'policy' && needCont.length) {
      const tg = now();
      const gen = await this.policy.generate(
        needCont.map((p) => ({ prompt: p.r.problem.prompt, completionPrefix: p.prefix + p.corrected })),
        { temperature: c.temperature, topP: c.topP },
      );
      for (const [i, p] of needCont.entries())
        conts.set(p.r, { text: gen.texts[i], role: 'on', logps: gen.logps[i] });
      time.generate += now() - tg;
    } else
      for (const p of needCont)
        conts.set(p.r, {
          text: renderCompletion(
            solveWith((q, pre) => this.task.nextStep(q, pre), p.r.problem, [...p.own, p.teacherStep]),
          ),
          role: 'off',
        });

    const replaced = new Map<Rollout, Rollout>();
    for (const p of plans) {
      const own = p.r.segments[0];
      const cont = conts.get(p.r) ?? { text: '', role: 'on' as const, logps: new Float32Array(0) };
      const segs = (
        [
          { text: p.prefix, role: 'on', logps: own.logps?.slice(0, p.prefix.length) },
          { text: p.corrected, role: 'off' },
          cont,
        ] as Segment[]
      ).filter((s) => s.text.length > 0);
      const nr = this.makeRollout(p.r.group, p.r.problem, segs, 'rectified');
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
      replaced.set(p.r, nr);
    }
    const out = c.scopeKeepOriginal
      ? [...rollouts, ...replaced.values()]
      : rollouts.map((r) => replaced.get(r) ?? r);
    extra.rectifications = plans.length;
    extra.salvaged = [...replaced.values()].filter((r) => r.reward === 1).length;
    extra.salvageRate = plans.length ? extra.salvaged / plans.length : null;
    time.rectify = now() - ts;
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // RRPO / SRPO: resets to an intermediate step of a failed parent

  private async resetRollouts(
    problems: Problem[],
    time: IterationMetrics['timeMs'],
    extra: Partial<IterationMetrics>,
  ) {
    const c = this.cfg;
    const half = c.groupSize / 2;
    let ts = now();
    // First draw: G/2 + 1 fresh samples per prompt. The first failure becomes the parent (never
    // trained on); group A is the first G/2 of the others.
    const first = await this.sampleGroups(problems, half + 1);
    const parents: (Rollout | null)[] = problems.map(
      (_, g) => first.find((r) => r.group === g && r.reward === 0) ?? null,
    );
    const groupA = problems.flatMap((_, g) =>
      first.filter((r) => r.group === g && r !== parents[g]).slice(0, half),
    );
    // Keep drawing fresh samples (not trained on) for prompts with no failure yet.
    for (let attempt = 1; attempt < c.resetMaxAttempts && parents.some((p) => p === null); attempt++) {
      const missing = problems.map((p, g) => ({ p, g })).filter(({ g }) => parents[g] === null);
      const more = await this.sampleGroups(
        missing.map((m) => m.p),
        half,
      );
      for (const r of more) {
        const g = missing[r.group].g;
        if (parents[g] === null && r.reward === 0) parents[g] = { ...r, group: g };
      }
    }
    time.generate = now() - ts;
    extra.diversity = this.groupDiversity(groupA);

    ts = now();
    const resets = problems.map((p, g) => {
      const parent = parents[g];
      if (!parent) return { p, g, parent: null, k: 0, prefix: '' };
      const n = parent.steps.length;
      let k = 1;
      if (n > 0) {
        if (c.algo === 'rrpo') k = this.rng.int(1, n);
        else {
          const lp = parent.segments[0].logps!;
          const perStep: number[][] = [];
          let pos = 0;
          for (const s of parent.steps) {
            perStep.push(Array.from(lp.subarray(pos, pos + s.length + 1)));
            pos += s.length + 1;
          }
          k = Math.max(1, selfLocalise(perStep, c.pMin));
        }
      }
      return { p, g, parent, k, prefix: stepPrefix(parent.steps, k - 1) };
    });
    time.rectify = now() - ts;

    ts = now();
    const reqs = resets.flatMap((r) =>
      Array.from({ length: half }, () => ({
        prompt: r.p.prompt,
        completionPrefix: r.parent ? r.prefix : '',
      })),
    );
    const gen = await this.policy.generate(reqs, { temperature: c.temperature, topP: c.topP });
    time.generate += now() - ts;

    // Groups: A (fresh) as group 2g, B (suffixes, or plain fresh samples without a parent) as 2g+1.
    const out: Rollout[] = [];
    for (const r of groupA) out.push({ ...r, group: 2 * r.group });
    const suffixRewards: number[] = [];
    resets.forEach((r, g) => {
      for (let j = 0; j < half; j++) {
        const i = g * half + j;
        const segs: Segment[] = [
          { text: r.prefix, role: 'masked' },
          { text: gen.texts[i], role: 'on', logps: gen.logps[i] },
        ].filter((s) => s.text.length > 0) as Segment[];
        // Without a parent all G slots are plain rollouts of one group.
        const ro = this.makeRollout(r.parent ? 2 * g + 1 : 2 * g, r.p, segs, r.parent ? 'reset' : 'sample');
        if (r.parent) {
          ro.reset = { k: r.k, parentCompletion: r.parent.completion, prefix: r.prefix };
          suffixRewards.push(ro.reward);
        }
        out.push(ro);
      }
    });
    // Advantages inside each group separately (population std; std < 1e-8 -> 0).
    const groups = groupsOf(out);
    const adv = resetGroupAdvantages(
      groups.flatMap((g) => g.map((r) => r.reward)),
      groups.map((g) => g.length),
    );
    groups.flat().forEach((r, i) => {
      r.advantage = adv[i];
    });
    const withParent = resets.filter((r) => r.parent);
    extra.resetParents = withParent.length;
    extra.resetK = withParent.length ? mean(withParent.map((r) => r.k)) : null;
    extra.resetSuffixReward = suffixRewards.length ? mean(suffixRewards) : null;
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // The control: supervised updates on teacher solutions of the same prompts

  private controlRollouts(problems: Problem[]): Rollout[] {
    const G = this.cfg.groupSize;
    return problems.flatMap((p, g) =>
      Array.from({ length: G }, () => {
        const r = this.makeRollout(
          g,
          p,
          [{ text: renderCompletion(randomSolution(this.task, p, this.rng)), role: 'off' }],
          'teacher',
        );
        r.advantage = 1;
        return r;
      }),
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Rollouts -> padded update batch

  buildBatch(rollouts: Rollout[]): UpdateBatch {
    const c = this.cfg;
    const resetAlgo = c.algo === 'rrpo' || c.algo === 'srpo';
    const onRole: Role = resetAlgo && !c.resetClipped ? ROLE.pg : ROLE.on;
    const offRole: Role = c.algo === 'sft-control' ? ROLE.pg : ROLE.off;
    const rows = rollouts.map((r) => {
      const text = `${r.problem.prompt}:${r.completion}`;
      const roles: Role[] = Array(r.problem.prompt.length).fill(ROLE.masked);
      const old: number[] = Array(r.problem.prompt.length).fill(0);
      for (const s of r.segments) {
        const role = s.role === 'on' ? onRole : s.role === 'off' ? offRole : ROLE.masked;
        for (let j = 0; j < s.text.length; j++) {
          roles.push(role);
          old.push(s.logps?.[j] ?? 0);
        }
      }
      return { text, roles, old, advantage: r.advantage };
    });
    const T = Math.max(2, ...rows.map((r) => r.text.length));
    const B = rows.length;
    const lengths = rows.map((r) => r.roles.filter((x) => x !== ROLE.masked).length);
    const w = aggregationWeights(lengths, c.lossAgg);
    const ids = new Int32Array(B * T);
    const roles = new Uint8Array(B * (T - 1));
    const oldLogps = new Float32Array(B * (T - 1));
    const advantages = new Float32Array(B * (T - 1));
    const weights = new Float32Array(B * (T - 1));
    rows.forEach((row, b) => {
      ids.set(this.tok.encode(row.text), b * T);
      row.roles.forEach((role, t) => {
        const k = b * (T - 1) + t;
        roles[k] = role;
        oldLogps[k] = row.old[t];
        advantages[k] = row.advantage;
        weights[k] = role === ROLE.masked ? 0 : w[b];
      });
    });
    return { B, T, ids, roles, oldLogps, advantages, weights };
  }
}

/** Rollouts split by their `group` field, groups in first-appearance order. */
function groupsOf(rollouts: Rollout[]): Rollout[][] {
  const byGroup = new Map<number, Rollout[]>();
  for (const r of rollouts) {
    const g = byGroup.get(r.group);
    if (g) g.push(r);
    else byGroup.set(r.group, [r]);
  }
  return [...byGroup.values()];
}
