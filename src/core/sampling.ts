/**
 * Batched autoregressive sampling with a KV cache. Prefixes of different lengths are left-padded and
 * carry their own position ids, so every sequence decodes in lockstep exactly as it would alone.
 * Token choice happens on the host from our seeded RNG: the same seed gives the same samples on
 * every backend (up to float ties), and temperature / top-p are plain, testable code.
 */

import { decodeStep, forwardHidden, type KvCache, lmHead, type ModelConfig, type Params } from './model';
import type { Rng } from './rng';
import * as tf from './tf';

export interface SampleOptions {
  /** Largest number of new tokens per sequence (also bounded by the model's blockSize). */
  maxNewTokens: number;
  temperature: number;
  /** Nucleus sampling mass in (0, 1]; 1 disables it. */
  topP: number;
  /** Argmax decoding (temperature and topP ignored for the choice; log-probs still at `temperature`). */
  greedy?: boolean;
  rng: Rng;
  /** Generation of a sequence stops after this token. */
  stopId: number;
  /** Padding id: never sampled. */
  padId: number;
}

export interface SampleResult {
  /** New tokens per sequence, the stop token included when it was produced. */
  tokens: Int32Array[];
  /** log p(token) under softmax(logits / temperature), per new token. */
  logps: Float32Array[];
  /** True when the sequence produced the stop token. */
  finished: boolean[];
}

/** chooseToken's working buffers, reused across calls (it is synchronous, so never shared). */
let scratch = { probs: new Float64Array(0), order: new Int32Array(0) };

/** Choose a token from one row of logits; returns [id, logp]. Pure host code. */
export function chooseToken(
  logits: Float32Array,
  opts: Pick<SampleOptions, 'temperature' | 'topP' | 'greedy' | 'padId'>,
  rng: Rng,
): [number, number] {
  const V = logits.length;
  const t = opts.temperature > 0 ? opts.temperature : 1;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (i !== opts.padId && logits[i] / t > max) max = logits[i] / t;
  if (scratch.probs.length < V) scratch = { probs: new Float64Array(V), order: new Int32Array(V) };
  const probs = scratch.probs;
  let z = 0;
  for (let i = 0; i < V; i++) {
    probs[i] = i === opts.padId ? 0 : Math.exp(logits[i] / t - max);
    z += probs[i];
  }
  for (let i = 0; i < V; i++) probs[i] /= z;
  let choice = 0;
  if (opts.greedy || opts.temperature <= 0) {
    for (let i = 1; i < V; i++) if (probs[i] > probs[choice]) choice = i;
  } else {
    // Nucleus: the smallest set of most likely tokens whose mass reaches topP.
    // Token ids by probability, largest first, ties by id: an insertion sort into a reused buffer
    // (V is the vocabulary; this runs once per sequence per decoded token).
    const order = scratch.order;
    for (let i = 0; i < V; i++) {
      let j = i;
      while (j > 0 && probs[order[j - 1]] < probs[i]) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = i;
    }
    let keep = V;
    if (opts.topP < 1) {
      let mass = 0;
      for (let r = 0; r < V; r++) {
        mass += probs[order[r]];
        if (mass >= opts.topP) {
          keep = r + 1;
          break;
        }
      }
    }
    let total = 0;
    for (let r = 0; r < keep; r++) total += probs[order[r]];
    let u = rng.float() * total;
    choice = order[keep - 1];
    for (let r = 0; r < keep; r++) {
      u -= probs[order[r]];
      if (u < 0) {
        choice = order[r];
        break;
      }
    }
  }
  return [choice, Math.log(probs[choice])];
}

/** Logits [B, V] of the last position of each row of hidden states [B*T, d]. */
export function lastPositionLogits(
  cfg: ModelConfig,
  params: Params,
  hidden: tf.Tensor2D,
  B: number,
  T: number,
) {
  const last = tf.reshape(
    tf.slice(tf.reshape(hidden, [B, T, cfg.dModel]), [0, T - 1, 0], [B, 1, cfg.dModel]),
    [B, cfg.dModel],
  );
  return lmHead(params, last as tf.Tensor2D);
}

/** Per-row decoding state shared by the KV-cache sampler and the bench's no-cache reference. */
interface DecodeRows {
  tokens: number[][];
  logps: number[][];
  finished: boolean[];
  /** Position of each row's next token; blockSize once a row has no room left. */
  curPos: number[];
}

/**
 * Choose each unfinished row's next token from the host logits [B*V] and record it. Returns the
 * chosen ids (padId for rows that did not decode) and which rows stay active (not stopped, room
 * for one more position).
 */
export function chooseNextTokens(
  host: Float32Array,
  rows: DecodeRows,
  opts: SampleOptions,
  blockSize: number,
): { nextIds: Int32Array; active: boolean[] } {
  const B = rows.tokens.length;
  const V = host.length / B;
  const nextIds = new Int32Array(B).fill(opts.padId);
  for (let b = 0; b < B; b++) {
    if (rows.finished[b] || rows.curPos[b] >= blockSize) continue;
    const [id, lp] = chooseToken(host.subarray(b * V, (b + 1) * V), opts, opts.rng);
    rows.tokens[b].push(id);
    rows.logps[b].push(lp);
    nextIds[b] = id;
    if (id === opts.stopId) rows.finished[b] = true;
  }
  const active = Array.from(
    nextIds,
    (id, b) => id !== opts.padId && !rows.finished[b] && rows.curPos[b] + 1 < blockSize,
  );
  return { nextIds, active };
}

/**
 * After a step: a row that decoded a token moves one position on; a row that is still running but
 * has no room left is parked at blockSize (it decodes no more).
 */
export function advancePositions(
  curPos: number[],
  nextIds: Int32Array,
  active: boolean[],
  finished: boolean[],
  padId: number,
  blockSize: number,
): void {
  for (let b = 0; b < curPos.length; b++) {
    if (nextIds[b] !== padId) curPos[b]++;
    if (!active[b] && !finished[b]) curPos[b] = blockSize;
  }
}

/** Sample continuations of every prefix (token ids) in one batched decode. */
export async function sampleBatch(
  cfg: ModelConfig,
  params: Params,
  prefixes: readonly Int32Array[],
  opts: SampleOptions,
): Promise<SampleResult> {
  const B = prefixes.length;
  const tokens: number[][] = prefixes.map(() => []);
  const logps: number[][] = prefixes.map(() => []);
  const finished = new Array<boolean>(B).fill(false);
  if (B === 0) return { tokens: [], logps: [], finished: [] };
  const lens = prefixes.map((p) => p.length);
  if (lens.some((n) => n === 0)) throw new Error('sampleBatch: empty prefix');
  const L = Math.max(...lens);
  if (L > cfg.blockSize) throw new Error(`prefix of length ${L} exceeds blockSize ${cfg.blockSize}`);

  const ids = new Int32Array(B * L).fill(opts.padId);
  const pos = new Int32Array(B * L);
  const valid = new Float32Array(B * L);
  for (let b = 0; b < B; b++) {
    const off = L - lens[b];
    for (let t = 0; t < lens[b]; t++) {
      ids[b * L + off + t] = prefixes[b][t];
      pos[b * L + off + t] = t;
      valid[b * L + off + t] = 1;
    }
  }
  const keyValidRows: number[][] = Array.from({ length: B }, (_, b) =>
    Array.from(valid.subarray(b * L, (b + 1) * L)),
  );

  let { logits, cache } = unpack(
    tf.tidy(() => {
      const out = forwardHidden(cfg, params, tf.tensor2d(ids, [B, L], 'int32'), {
        posIds: tf.tensor2d(pos, [B, L], 'int32'),
        keyValid: tf.tensor2d(valid, [B, L]),
        returnCache: true,
      });
      return pack(lastPositionLogits(cfg, params, out.hidden, B, L), out.cache as KvCache);
    }),
  );

  const curPos = lens.slice();
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const host = (await logits.data()) as Float32Array;
      const { nextIds, active } = chooseNextTokens(
        host,
        { tokens, logps, finished, curPos },
        opts,
        cfg.blockSize,
      );
      if (!active.some(Boolean) || step === opts.maxNewTokens - 1) break;
      for (let b = 0; b < B; b++) keyValidRows[b].push(nextIds[b] !== opts.padId ? 1 : 0);
      const posNow = Int32Array.from(curPos, (p) => Math.min(p, cfg.blockSize - 1));
      const t = keyValidRows[0].length;
      const flatValid = new Float32Array(B * t);
      for (let b = 0; b < B; b++) flatValid.set(keyValidRows[b], b * t);
      const prev = cache;
      const next = unpack(
        tf.tidy(() => {
          const out = decodeStep(cfg, params, nextIds, posNow, prev, flatValid);
          return pack(out.logits, out.cache);
        }),
      );
      tf.dispose(pack(logits, cache));
      ({ logits, cache } = next);
      advancePositions(curPos, nextIds, active, finished, opts.padId, cfg.blockSize);
    }
  } finally {
    tf.dispose(pack(logits, cache));
  }
  return {
    tokens: tokens.map((t) => Int32Array.from(t)),
    logps: logps.map((l) => Float32Array.from(l)),
    finished,
  };
}

/** tf.tidy keeps plain tensor containers: flatten logits + cache into one list and back. */
function pack(logits: tf.Tensor2D, cache: KvCache): tf.Tensor[] {
  return [logits, ...cache.k, ...cache.v];
}

function unpack(ts: tf.Tensor[]): { logits: tf.Tensor2D; cache: KvCache } {
  const n = (ts.length - 1) / 2;
  return {
    logits: ts[0] as tf.Tensor2D,
    cache: { k: ts.slice(1, 1 + n) as tf.Tensor4D[], v: ts.slice(1 + n) as tf.Tensor4D[] },
  };
}
