/**
 * The coordinator: the RL loop every algorithm shares, for both runtimes. Each iteration
 *   sample problems -> algorithm.prepare (rollouts, roles, advantages; ./algos/) -> update batch
 *   -> update -> metrics,
 * talking to the models only through PolicyService / PrmService. The task oracle, the teacher and
 * all the maths run here, on plain data. docs/algorithms.md section 3 describes each algorithm.
 */

import type { EvalResult } from '../evaluate';
import { EOS, parseCompletion } from '../format';
import { mean, std } from '../metrics';
import { Rng } from '../rng';
import type { Problem, Task } from '../tasks/types';
import { type Tokenizer, tokenizerFor } from '../tokenizer';
import { ALGORITHMS } from './algos';
import { zeroStdGroupFrac } from './algos/common';
import type { AlgoContext, Algorithm, Phase, Rollout, Segment } from './algos/types';
import { ROLE, type Role, type UpdateBatch } from './batch';
import { type Algo, needsLearnedPrm, OUTPUT_GAIN_PARAM, type RlConfig } from './config';
import { type FaultInjection, faultAt, parseFaultInjection } from './faults';
import { aggregationWeights } from './math';
import type { PolicyService, PrmService, UpdateStats } from './services';

export type { Rollout, Segment, SegmentRole } from './algos/types';

export interface IterationMetrics {
  iter: number;
  algo: Algo;
  /** Outcome (0/1) reward of the policy's own samples, before any edit or shaping (Prepared.sampled). */
  rewardMean: number | null;
  rewardStd: number | null;
  zeroStdGroupFrac: number | null;
  /** Mean reward of the rollouts trained on (teacher-written ones included; prm-dense: shaped).
   *  Optional only because records written before it existed (stored runs, metrics.jsonl) lack it;
   *  the trainer always sets it, as it does the two below. */
  trainRewardMean?: number | null;
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
  /** SCOPE with scopeRectifyAnswerStep: corrections at the answer step (null when not allowed). */
  answerStepCorrections?: number | null;
  /** SCOPE: rectifications chosen by the PRM whose kept prefix holds an oracle-invalid step. */
  prmFalseAccepts?: number | null;
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
  private readonly algorithm: Algorithm;
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
    this.algorithm = ALGORITHMS[cfg.algo];
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

    const problems = this.sampleProblems();
    const { sampled, rollouts, metrics: own } = await this.algorithm.prepare(this.context(time), problems);

    const ts = now();
    const batch = this.buildBatch(rollouts);
    const warm = c.warmupIters > 0 ? Math.min(1, (this.iter + 1) / c.warmupIters) : 1;
    const stats: UpdateStats = await this.policy.update(batch, {
      lr: c.lr * warm,
      lrByParam: { [OUTPUT_GAIN_PARAM]: c.outputGainLr * warm },
      clipNorm: c.clipNorm,
      innerEpochs: c.innerEpochs,
      shards: c.updateShards,
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

    // Reward metrics: the policy's own samples (comparable across methods), and what was trained on.
    const outcome = sampled?.map((r) => r.reward) ?? null;
    const notTeacher = rollouts.filter((r) => r.origin !== 'teacher');
    const metrics: IterationMetrics = {
      iter: this.iter,
      algo: c.algo,
      rewardMean: outcome ? mean(outcome) : null,
      rewardStd: outcome ? std(outcome) : null,
      zeroStdGroupFrac: sampled ? zeroStdGroupFrac(sampled) : null,
      trainRewardMean: sampled ? mean(rollouts.map((r) => r.reward)) : null,
      diversity: null,
      completionLen: mean(rollouts.map((r) => r.completion.length)),
      truncationRatio: sampled ? mean(notTeacher.map((r) => (r.completion.endsWith(EOS) ? 0 : 1))) : null,
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
      answerStepCorrections: null,
      prmFalseAccepts: null,
      firstErrorPos: null,
      firstErrorRel: null,
      prmFirstErrorAcc: null,
      resetParents: null,
      resetK: null,
      resetSuffixReward: null,
      ...own,
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

  /** P problems: round(P * trainMix) from `train`, the rest from `trainSplit` (all of them when it is `train`). */
  private sampleProblems(): Problem[] {
    const c = this.cfg;
    const ordinary = c.trainSplit === 'train' ? c.promptsPerIter : Math.round(c.promptsPerIter * c.trainMix);
    return Array.from({ length: c.promptsPerIter }, (_, i) =>
      this.task.sample(this.rng, i < ordinary ? 'train' : c.trainSplit),
    );
  }

  /** What an algorithm may use this iteration; model calls add their wall time to `time`. */
  private context(time: IterationMetrics['timeMs']): AlgoContext {
    const c = this.cfg;
    const timedAsync = async <T>(phase: Phase, fn: () => Promise<T>): Promise<T> => {
      const ts = now();
      const out = await fn();
      time[phase] += now() - ts;
      return out;
    };
    const sampling = { temperature: c.temperature, topP: c.topP };
    const ctx: AlgoContext = {
      cfg: c,
      task: this.task,
      rng: this.rng,
      sampleGroups: (problems, G = c.groupSize) =>
        timedAsync('generate', async () => {
          const reqs = problems.flatMap((p) => Array.from({ length: G }, () => ({ prompt: p.prompt })));
          const gen = await this.policy.generate(reqs, sampling);
          return gen.texts.map((text, i) =>
            ctx.makeRollout(
              Math.floor(i / G),
              problems[Math.floor(i / G)],
              [{ text, role: 'on', logps: gen.logps[i] }],
              'sample',
            ),
          );
        }),
      generate: (requests) => timedAsync('generate', () => this.policy.generate(requests, sampling)),
      prmScores: (rollouts) =>
        timedAsync('prm', async () => {
          if (c.prmMode === 'oracle') return rollouts.map((r) => r.oracle.map((v) => (v ? 1 : 0)));
          return this.prm!.scoreSteps(
            rollouts.map((r) => ({ prompt: r.problem.prompt, completion: r.completion })),
          );
        }),
      makeRollout: (group, problem, segments, origin) => this.makeRollout(group, problem, segments, origin),
      timed: (phase, fn) => {
        const ts = now();
        const out = fn();
        time[phase] += now() - ts;
        return out;
      },
    };
    return ctx;
  }

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

  /** Rollouts -> padded update batch: each segment's tokens get the algorithm's role for it. */
  buildBatch(rollouts: Rollout[]): UpdateBatch {
    const c = this.cfg;
    const { on: onRole, off: offRole } = this.algorithm.tokenRoles?.(c) ?? { on: ROLE.on, off: ROLE.off };
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
