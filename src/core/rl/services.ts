/**
 * What the coordinator needs from the models, as async interfaces: in Node they are the in-process
 * objects below; in the browser the same classes live in workers behind comlink. Everything that
 * crosses is plain data and typed arrays.
 */
import type { PolicyModel, PrmModel } from '../agents';
import { type EvalOptions, type EvalResult, evaluatePolicy } from '../evaluate';
import { tokenLogProbs } from '../model';
import { type GradientHelper, type HelperSlot, rlJobs, shardedStep } from '../shards';
import type { Task } from '../tasks/types';
import * as tf from '../tf';
import type { NonFiniteKind } from './faults';
import type { LossHyper, UpdateBatch } from './loss';

export interface GenerateRequest {
  prompt: string;
  /** Completion text already written (a kept prefix, a reset state); the sample continues it. */
  completionPrefix?: string;
}

export interface GenerateResult {
  /** New text per request. */
  texts: string[];
  /** Behaviour log-prob of each new character (char-level: one token each). */
  logps: Float32Array[];
}

export interface UpdateOptions extends LossHyper {
  lr: number;
  /** Learning rates of named parameters that do not use `lr` (plain data: it crosses to workers). */
  lrByParam?: Record<string, number>;
  clipNorm: number;
  innerEpochs: number;
  /** Row shards of the batch whose gradients are summed (../shards.ts); 1 when absent. */
  shards?: number;
  temperature: number;
  /** Test hook (see faults.ts): poison this update so the non-finite guard must skip it. */
  injectNonFinite?: NonFiniteKind;
}

export interface UpdateStats {
  loss: number;
  gradNorm: number;
  clipFraction: number;
  kl: number;
  /** Mean policy entropy over trained tokens (nats). */
  entropy: number;
  /** Updates skipped because the loss or a gradient was not finite. */
  skipped: number;
}

export interface StoredCheckpoint {
  manifestJson: string;
  blob: Uint8Array;
}

export interface PolicyService {
  /** `helperShards`: update shards a gradient helper has computed so far (../shards.ts). */
  describe(): Promise<{ backend: string; task: string; params: number; step: number; helperShards?: number }>;
  generate(
    requests: GenerateRequest[],
    opts: { temperature: number; topP: number; greedy?: boolean },
  ): Promise<GenerateResult>;
  update(batch: UpdateBatch, opts: UpdateOptions): Promise<UpdateStats>;
  evaluate(opts: Partial<EvalOptions>): Promise<EvalResult>;
  checkpoint(meta: Record<string, unknown>): Promise<StoredCheckpoint>;
  load(ck: StoredCheckpoint): Promise<void>;
  numTensors(): Promise<number>;
}

export interface PrmService {
  /** P(step valid) for each terminated step of each completion. */
  scoreSteps(items: { prompt: string; completion: string }[]): Promise<number[][]>;
}

/** The policy service over an in-process PolicyModel (Node, or inside a browser worker). */
export class LocalPolicyService implements PolicyService, HelperSlot {
  /** Computes some of the update's shards on another worker (../shards.ts); the numbers are the same without it. */
  helper: GradientHelper | null = null;
  /** Update shards the helper has computed. */
  helperShards = 0;
  /** Frozen copy of the starting weights, made on the first update that needs a KL reference. */
  private reference: PolicyModel | null = null;

  constructor(
    readonly task: Task,
    readonly policy: PolicyModel,
    private readonly makeReference?: () => PolicyModel,
  ) {}

  async describe() {
    return {
      backend: tf.getBackend(),
      task: this.task.name,
      params: [...this.policy.params.values()].reduce((n, v) => n + v.size, 0),
      step: this.policy.step,
      helperShards: this.helperShards,
    };
  }

  async generate(requests: GenerateRequest[], opts: { temperature: number; topP: number; greedy?: boolean }) {
    const gen = await this.policy.generate(requests, { ...opts, rng: this.policy.rng });
    return { texts: gen.texts, logps: gen.logps };
  }

  async update(batch: UpdateBatch, o: UpdateOptions): Promise<UpdateStats> {
    const p = this.policy;
    const ids = () => tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32');
    if (o.beta > 0 && !batch.refLogps) {
      this.reference ??= this.makeReference?.() ?? null;
      if (!this.reference) throw new Error('beta > 0 needs a reference policy');
      const ref = this.reference;
      const t = tf.tidy(() => tokenLogProbs(ref.cfg, ref.params, ids(), o.temperature).logp);
      batch = { ...batch, refLogps: (await t.data()) as Float32Array };
      t.dispose();
    }
    const hyper = {
      epsLow: o.epsLow,
      epsHigh: o.epsHigh,
      gamma: o.gamma,
      beta: o.beta,
      temperature: o.temperature,
    };
    const jobs = rlJobs(batch, o.shards ?? 1, hyper);
    const fault = o.injectNonFinite;
    const poison = fault ? (loss: tf.Scalar) => poisonLoss(loss, fault) : undefined;
    const stats: UpdateStats = { loss: 0, gradNorm: 0, clipFraction: 0, kl: 0, entropy: 0, skipped: 0 };
    for (let e = 0; e < o.innerEpochs; e++) {
      const res = await shardedStep(p, this, jobs, {
        lr: o.lr,
        clipNorm: o.clipNorm,
        lrByParam: o.lrByParam,
        poison,
      });
      const [, clipFraction, kl, entropy] = res.stats;
      p.step++;
      Object.assign(stats, { loss: res.loss, gradNorm: res.gradNorm, clipFraction, kl, entropy });
      if (res.skipped) stats.skipped++;
    }
    return stats;
  }

  evaluate(opts: Partial<EvalOptions>) {
    return evaluatePolicy(this.task, this.policy, null, opts);
  }

  checkpoint(meta: Record<string, unknown>) {
    return this.policy.toCheckpoint(meta);
  }

  async load(ck: StoredCheckpoint) {
    this.policy.loadCheckpoint(ck.manifestJson, ck.blob);
  }

  async numTensors() {
    return tf.memory().numTensors;
  }
}

/**
 * Test hook (faults.ts): the loss with the poison applied: `loss * NaN`, or the identity whose
 * gradient is infinite (every parameter's gradient then carries an Inf or a NaN, so the global
 * norm is not finite).
 */
function poisonLoss(loss: tf.Scalar, kind: NonFiniteKind): tf.Scalar {
  if (kind === 'loss') return tf.mul(loss, Number.NaN) as tf.Scalar;
  const infiniteGrad = tf.customGrad((...inputs) => ({
    value: tf.clone(inputs[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, Number.POSITIVE_INFINITY),
  }));
  return infiniteGrad(loss) as tf.Scalar;
}

export class LocalPrmService implements PrmService {
  constructor(readonly prm: PrmModel) {}

  scoreSteps(items: { prompt: string; completion: string }[]) {
    return this.prm.scoreSteps(items);
  }
}
