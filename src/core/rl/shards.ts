/**
 * The RL update's gradient, summed over row shards, so that a second core can share the update.
 *
 * The batch's rows are split into `shards` contiguous parts. The loss is a weighted sum over tokens
 * whose weights were normalised on the whole batch (./loss.ts), so the parts' losses add up to the
 * batch loss and their gradients to its gradient; the statistics divide by whole-batch counts for
 * the same reason. The coordinating worker sums the parts in shard order. A shard may run on
 * another worker (a GradientHelper: a copy of the model that is sent the current weights with each
 * shard): each row's forward and backward pass is the same float arithmetic in any batch, and the
 * sum's order is fixed, so a run's numbers depend on the shard count, never on where shards run or
 * how many cores there are. One shard is exactly the unsharded update. Two shards differ from one
 * by float rounding only (the order in which rows' contributions to a weight's gradient are added).
 */
import type { ModelConfig, Params } from '../model';
import { tokenLogProbs } from '../model';
import * as tf from '../tf';
import { type Adam, flatGradient } from '../train';
import { countOn, type LossHyper, rlLoss, type UpdateBatch } from './loss';

/** What a shard's loss needs besides its rows. */
export interface ShardHyper extends LossHyper {
  temperature: number;
}

/** Whole-batch counts the statistics divide by. */
export interface BatchCounts {
  /** On-policy tokens (clip fraction, KL). */
  on: number;
  /** Trained tokens, i.e. non-zero weight (entropy). */
  trained: number;
}

/** One shard's share: statistics [loss, clipFraction, kl, entropy] (parts of the batch's). */
export interface ShardResult<G> {
  grad: G;
  stats: Float32Array;
}

/** Computes shards on another worker; `weights` are the policy's, flattened in parameter order. */
export interface GradientHelper {
  gradient(
    weights: Float32Array,
    shard: UpdateBatch,
    hyper: ShardHyper,
    counts: BatchCounts,
  ): Promise<ShardResult<Float32Array>>;
}

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

/** Rows [lo, hi) of a batch, copied (a view sent to a worker would clone the whole batch's buffer). */
export function sliceRows(batch: UpdateBatch, lo: number, hi: number): UpdateBatch {
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

/**
 * A shard's flat gradient (Adam's parameter order) and statistics. `poison` may replace the loss
 * (the fault-injection hook of services.ts).
 */
export async function shardGradient(
  model: { cfg: ModelConfig; params: Params; opt: Adam },
  shard: UpdateBatch,
  h: ShardHyper,
  counts: BatchCounts,
  poison?: (loss: tf.Scalar) => tf.Scalar,
): Promise<ShardResult<tf.Tensor1D>> {
  const shape: [number, number] = [shard.B, shard.T - 1];
  let side: tf.Tensor[] = [];
  const { value, flat } = flatGradient(model.params, model.opt, () => {
    const ids = tf.tensor2d(shard.ids, [shard.B, shard.T], 'int32');
    const { logp, entropy } = tokenLogProbs(model.cfg, model.params, ids, h.temperature);
    const out = rlLoss(logp, shard, h, counts.on);
    const trained = tf.tensor2d(
      Float32Array.from(shard.weights, (w) => (w !== 0 ? 1 : 0)),
      shape,
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

/** The helper's side: a copy of the policy that computes shards at the weights it is sent. */
export class ShardWorker implements GradientHelper {
  constructor(private readonly model: { cfg: ModelConfig; params: Params; opt: Adam }) {}

  async gradient(weights: Float32Array, shard: UpdateBatch, h: ShardHyper, counts: BatchCounts) {
    writeFlatWeights(this.model.params, weights);
    const { grad, stats } = await shardGradient(this.model, shard, h, counts);
    const host = (await grad.data()) as Float32Array;
    grad.dispose();
    return { grad: host, stats };
  }
}
