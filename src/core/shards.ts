/**
 * Optimisation steps over row shards, so that a second core can share an update: the RL update
 * (./loss.ts) and the SFT step (../train.ts `sftLoss`).
 *
 * The batch's rows are split into contiguous shards. Each loss is a weighted sum over tokens whose
 * weights were normalised on the whole batch (the SFT loss divides by the whole batch's token
 * count), so the shards' losses add up to the batch loss and their gradients to its gradient; the
 * statistics divide by whole-batch counts for the same reason. The coordinating worker sums the
 * shards in order, then clips and applies Adam as an unsharded step does. A shard may run on
 * another worker (a GradientHelper: a copy of the model that is sent the current weights with each
 * shard): each row's forward and backward pass is the same float arithmetic in any batch, and the
 * sum's order is fixed, so a run's numbers depend on the shard count, never on where shards run or
 * how many cores there are. One shard is exactly the unsharded step. Two shards differ from one
 * by float rounding only (the order in which rows' contributions to a weight's gradient are added).
 */
import type { ModelConfig, Params } from './model';
import { tokenLogProbs } from './model';
import { countOn, type LossHyper, rlLoss, type UpdateBatch } from './rl/loss';
import * as tf from './tf';
import { type Adam, applyClipped, flatGradient, type PaddedBatch, type StepResult, sftLoss } from './train';

/** What an RL shard's loss needs besides its rows. */
export interface ShardHyper extends LossHyper {
  temperature: number;
}

/** Whole-batch counts the RL statistics divide by. */
export interface BatchCounts {
  /** On-policy tokens (clip fraction, KL). */
  on: number;
  /** Trained tokens, i.e. non-zero weight (entropy). */
  trained: number;
}

/**
 * One shard's loss. RL statistics: [loss, clipFraction, kl, entropy]; SFT: [loss]. `tokens`: the
 * whole SFT batch's masked token count, the mean's divisor.
 */
export type ShardJob =
  | { kind: 'rl'; rows: UpdateBatch; hyper: ShardHyper; counts: BatchCounts }
  | { kind: 'sft'; rows: PaddedBatch; mask: Float32Array; tokens: number };

/** One shard's gradient (flat, Adam's parameter order) and its parts of the statistics. */
export interface ShardResult<G> {
  grad: G;
  stats: Float32Array;
}

/** Computes shards on another worker; `weights` are the model's, flattened in parameter order. */
export interface GradientHelper {
  gradient(weights: Float32Array, job: ShardJob): Promise<ShardResult<Float32Array>>;
}

/** Where a step's shards may go: a helper (dropped when it fails) and how many it computed. */
export interface HelperSlot {
  helper: GradientHelper | null;
  helperShards: number;
}

type Model = { cfg: ModelConfig; params: Params; opt: Adam };

export function batchCounts(batch: UpdateBatch): BatchCounts {
  return {
    on: countOn(batch),
    trained: Math.max(
      1,
      batch.weights.reduce((n, w) => n + (w !== 0 ? 1 : 0), 0),
    ),
  };
}

/** [lo, hi) row ranges of min(n, B) contiguous shards; the earlier shards take the extra rows. */
export function shardRanges(B: number, n: number): [number, number][] {
  const k = Math.max(1, Math.min(n, B));
  return Array.from({ length: k }, (_, i) => [
    i * Math.floor(B / k) + Math.min(i, B % k),
    (i + 1) * Math.floor(B / k) + Math.min(i + 1, B % k),
  ]);
}

/**
 * Rows [lo, hi) of a batch, copied (a view sent to a worker would clone the whole batch's buffer);
 * all of it is the batch itself (one shard, never sent).
 */
export function sliceRows(batch: UpdateBatch, lo: number, hi: number): UpdateBatch {
  if (lo === 0 && hi === batch.B) return batch;
  const { T } = batch;
  const tok = (a: Float32Array) => a.slice(lo * (T - 1), hi * (T - 1));
  return {
    B: hi - lo,
    T,
    ids: batch.ids.slice(lo * T, hi * T),
    roles: batch.roles.slice(lo * (T - 1), hi * (T - 1)),
    oldLogps: tok(batch.oldLogps),
    advantages: tok(batch.advantages),
    weights: tok(batch.weights),
    ...(batch.refLogps ? { refLogps: tok(batch.refLogps) } : {}),
  };
}

/** An RL update batch as `n` shard jobs. */
export function rlJobs(batch: UpdateBatch, n: number, hyper: ShardHyper): ShardJob[] {
  const counts = batchCounts(batch);
  return shardRanges(batch.B, n).map(([lo, hi]) => ({
    kind: 'rl',
    rows: sliceRows(batch, lo, hi),
    hyper,
    counts,
  }));
}

/** An SFT batch and its loss mask ([B, T-1]) as `n` shard jobs. */
export function sftJobs(batch: PaddedBatch, mask: Float32Array, n: number): ShardJob[] {
  const { T } = batch;
  const tokens = Math.max(
    1,
    mask.reduce((a, b) => a + b, 0),
  );
  return shardRanges(batch.B, n).map(([lo, hi]) => ({
    kind: 'sft',
    rows: { B: hi - lo, T, ids: batch.ids.slice(lo * T, hi * T) },
    mask: mask.slice(lo * (T - 1), hi * (T - 1)),
    tokens,
  }));
}

/** A shard's gradient and statistics. `poison` may replace the loss (services.ts's fault hook). */
export async function shardGradient(
  model: Model,
  job: ShardJob,
  poison?: (loss: tf.Scalar) => tf.Scalar,
): Promise<ShardResult<tf.Tensor1D>> {
  let side: tf.Tensor[] = [];
  const { value, flat } = flatGradient(model.params, model.opt, () => {
    if (job.kind === 'sft') {
      const loss = sftLoss(model.cfg, model.params, job.rows, job.mask, job.tokens);
      return poison ? poison(loss) : loss;
    }
    const { rows, hyper, counts } = job;
    const ids = tf.tensor2d(rows.ids, [rows.B, rows.T], 'int32');
    const { logp, entropy } = tokenLogProbs(model.cfg, model.params, ids, hyper.temperature);
    const out = rlLoss(logp, rows, hyper, counts.on);
    const trained = tf.tensor2d(
      Float32Array.from(rows.weights, (w) => (w !== 0 ? 1 : 0)),
      [rows.B, rows.T - 1],
    );
    const entropyPart = tf.div(tf.sum(tf.mul(entropy(), trained)), counts.trained);
    side = [tf.keep(out.clipFraction), tf.keep(out.kl), tf.keep(entropyPart)];
    return poison ? poison(out.loss) : out.loss;
  });
  const packed = tf.stack([value, ...side]);
  const stats = (await packed.data()) as Float32Array;
  tf.dispose([packed, value, ...side]);
  return { grad: flat, stats };
}

/**
 * One optimisation step over shard jobs: jobs 1.. go to the slot's helper (at the current weights)
 * while this worker computes job 0; the gradients are summed in order, clipped to `clipNorm` and
 * applied by Adam. Returns the step and the statistics summed over shards.
 */
export async function shardedStep(
  model: Model,
  slot: HelperSlot,
  jobs: ShardJob[],
  o: {
    lr: number;
    clipNorm: number;
    lrByParam?: Readonly<Record<string, number>>;
    poison?: (l: tf.Scalar) => tf.Scalar;
  },
): Promise<StepResult & { stats: number[] }> {
  const helper = jobs.length > 1 ? slot.helper : null;
  const weights = helper ? await readFlatWeights(model.params) : null;
  const remote = jobs.slice(1).map((job) => helper?.gradient(weights!, job));
  // (Handled below, after this worker's shard; a failure before then is not an unhandled rejection.)
  for (const r of remote) r?.catch(() => {});
  const parts = [await shardGradient(model, jobs[0], o.poison)];
  for (const [i, r] of remote.entries()) parts.push(await fromHelper(model, slot, r, jobs[i + 1]));
  const flat = parts.slice(1).reduce((sum, part) => {
    const next = tf.add(sum, part.grad) as tf.Tensor1D;
    tf.dispose([sum, part.grad]);
    return next;
  }, parts[0].grad);
  const stats = Array.from(parts[0].stats, (_, k) => parts.reduce((a, x) => a + x.stats[k], 0));
  const res = await applyClipped(model.opt, tf.scalar(stats[0]), flat, o.lr, o.clipNorm, o.lrByParam);
  return { ...res, stats };
}

/**
 * A shard from the helper, or computed here when there is none or it failed (a failed helper is
 * dropped; the numbers are the same either way).
 */
async function fromHelper(
  model: Model,
  slot: HelperSlot,
  pending: Promise<ShardResult<Float32Array>> | undefined,
  job: ShardJob,
): Promise<ShardResult<tf.Tensor1D>> {
  if (pending) {
    try {
      const { grad, stats } = await pending;
      slot.helperShards++;
      return { grad: tf.tensor1d(grad), stats };
    } catch (e) {
      console.warn(`the gradient helper failed (${(e as Error).message}); its shards run here`);
      slot.helper = null;
    }
  }
  return shardGradient(model, job);
}

/** The weights flattened in parameter order (what a GradientHelper is sent). */
export async function readFlatWeights(params: Params): Promise<Float32Array> {
  const flat = tf.tidy(() => tf.concat([...params.values()].map((p) => tf.reshape(p, [-1]))));
  const host = (await flat.data()) as Float32Array;
  flat.dispose();
  return host;
}

/** Overwrite the weights from a flat vector in parameter order (bit for bit). */
export function writeFlatWeights(params: Params, flat: Float32Array): void {
  const total = [...params.values()].reduce((n, p) => n + p.size, 0);
  if (flat.length !== total) throw new Error(`weights: ${flat.length} values for ${total} parameters`);
  let off = 0;
  tf.tidy(() => {
    for (const p of params.values()) {
      p.assign(tf.tensor(flat.subarray(off, off + p.size), p.shape));
      off += p.size;
    }
  });
}

/** The helper's side: a copy of the model that computes shards at the weights it is sent. */
export class ShardWorker implements GradientHelper {
  constructor(private readonly model: Model) {}

  async gradient(weights: Float32Array, job: ShardJob) {
    writeFlatWeights(this.model.params, weights);
    const { grad, stats } = await shardGradient(this.model, job);
    const host = (await grad.data()) as Float32Array;
    grad.dispose();
    return { grad: host, stats };
  }
}
