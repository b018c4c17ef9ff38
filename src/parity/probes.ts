/**
 * Everything the trainer computes with the models, on the active tfjs backend, read back to host:
 * forward passes, every parameter's gradient for the three losses, and KV-cache decoding.
 * Each probe runs through `guard` (on WebGPU: inside device error scopes, readback included).
 */
import type { PolicyModel, PrmModel } from '../core/agents';
import { decodeStep, forwardHidden, type KvCache, lmHead, type Params, tokenLogProbs } from '../core/model';
import { type LossHyper, rlLoss, type UpdateBatch } from '../core/rl/loss';
import { Rng } from '../core/rng';
import * as tf from '../core/tf';
import { prmLogits, prmLoss, sftLoss } from '../core/train';
import type { Output } from './compare';
import { DECODE_STEPS, type Fixture, GREEDY_MAX_TOKENS } from './fixture';

/** Runs one probe (named for error messages); must return only after its readback. */
export type Guard = <T>(probe: string, op: () => Promise<T>) => Promise<T>;

export interface ProbeContext {
  policy: PolicyModel;
  prm: PrmModel;
  fx: Fixture;
  rl: UpdateBatch;
  hyper: LossHyper;
  guard: Guard;
}

/** Read a tensor back as a fresh array (copied: webgpu/wasm may reuse the buffer) and dispose it. */
async function read(t: tf.Tensor): Promise<Float32Array> {
  const data = Float32Array.from((await t.data()) as Float32Array);
  t.dispose();
  return data;
}

/** Loss value and every parameter's gradient, named `<prefix>.loss` and `<prefix>.grad/<param>`. */
async function lossAndGrads(
  prefix: string,
  params: Params,
  lossFn: () => tf.Scalar,
  out: Map<string, Output>,
): Promise<void> {
  const names = [...params.keys()];
  const { value, grads } = tf.variableGrads(
    lossFn,
    names.map((n) => params.get(n)!),
  );
  out.set(`${prefix}.loss`, await read(value));
  for (const n of names) {
    const g = grads[params.get(n)!.name];
    if (!g) throw new Error(`${prefix}: no gradient for parameter '${n}'`);
    out.set(`${prefix}.grad/${n}`, await read(g));
  }
}

/** Left-pad prefixes exactly as the sampler does: ids, position ids and key validity, [B, L]. */
function leftPad(seqs: readonly Int32Array[], padId: number) {
  const B = seqs.length;
  const L = Math.max(...seqs.map((s) => s.length));
  const ids = new Int32Array(B * L).fill(padId);
  const pos = new Int32Array(B * L);
  const valid = new Float32Array(B * L);
  seqs.forEach((s, b) => {
    const off = L - s.length;
    for (let t = 0; t < s.length; t++) {
      ids[b * L + off + t] = s[t];
      pos[b * L + off + t] = t;
      valid[b * L + off + t] = 1;
    }
  });
  return { B, L, ids, pos, valid };
}

/** tf.tidy over a step that returns logits + KV cache (tidy's container type has no KvCache). */
function tidyStep(nLayer: number, fn: () => { logits: tf.Tensor2D; cache: KvCache }) {
  const flat = tf.tidy(() => {
    const r = fn();
    return [r.logits, ...r.cache.k, ...r.cache.v];
  });
  return {
    logits: flat[0] as tf.Tensor2D,
    cache: { k: flat.slice(1, 1 + nLayer), v: flat.slice(1 + nLayer) } as KvCache,
  };
}

export async function runProbes(ctx: ProbeContext): Promise<Map<string, Output>> {
  const { policy, prm, fx, rl, hyper, guard } = ctx;
  const out = new Map<string, Output>();
  const pc = policy.cfg;
  const pp = policy.params;
  const ids2d = () => tf.tensor2d(fx.batch.ids, [fx.batch.B, fx.batch.T], 'int32');

  // Policy forward, the sampler's layout: whole sequences left-padded, logits at every position [B*L, V].
  await guard('policy forward (left-padded)', async () => {
    const lp = leftPad(fx.seqs, policy.tok.padId);
    const logits = tf.tidy(() => {
      const { hidden } = forwardHidden(pc, pp, tf.tensor2d(lp.ids, [lp.B, lp.L], 'int32'), {
        posIds: tf.tensor2d(lp.pos, [lp.B, lp.L], 'int32'),
        keyValid: tf.tensor2d(lp.valid, [lp.B, lp.L]),
      });
      return lmHead(pp, hidden);
    });
    out.set('policy.logits', await read(logits));
  });

  // Policy forward, the training layout: teacher-forced log-probs and entropies, right-padded.
  await guard('policy token log-probs', async () => {
    const [logp, entropy] = tf.tidy(() => {
      const r = tokenLogProbs(pc, pp, ids2d());
      return [r.logp, r.entropy()];
    });
    out.set('policy.tokenLogp', await read(logp));
    out.set('policy.tokenEntropy', await read(entropy));
  });

  await guard('PRM per-token logits', async () => {
    out.set('prm.tokenLogits', await read(tf.tidy(() => prmLogits(prm.cfg, prm.params, fx.prmBatch))));
  });

  await guard('SFT loss gradients', () =>
    lossAndGrads('sft', pp, () => sftLoss(pc, pp, fx.batch, fx.sftMask), out),
  );
  await guard('RL loss gradients', () =>
    lossAndGrads('rl', pp, () => rlLoss(tokenLogProbs(pc, pp, ids2d()).logp, rl, hyper).loss, out),
  );
  await guard('PRM loss gradients', () =>
    lossAndGrads(
      'prm',
      prm.params,
      () => prmLoss(prm.cfg, prm.params, fx.prmBatch, fx.prmLabels, fx.prmWeights),
      out,
    ),
  );

  // KV-cache decoding: prefill the left-padded prompts, then decode the teacher's next tokens one
  // step at a time (fixed inputs, so every step's logits are comparable even if argmax differed).
  await guard('KV-cache decode', async () => {
    const prompts = fx.seqs.map((s, b) => s.subarray(0, fx.promptLens[b]));
    const lp = leftPad(prompts, policy.tok.padId);
    const V = pc.vocabSize;
    let { logits, cache } = tidyStep(pc.nLayer, () => {
      const r = forwardHidden(pc, pp, tf.tensor2d(lp.ids, [lp.B, lp.L], 'int32'), {
        posIds: tf.tensor2d(lp.pos, [lp.B, lp.L], 'int32'),
        keyValid: tf.tensor2d(lp.valid, [lp.B, lp.L]),
        returnCache: true,
      });
      const last = tf.reshape(
        tf.slice(tf.reshape(r.hidden, [lp.B, lp.L, pc.dModel]), [0, lp.L - 1, 0], [lp.B, 1, pc.dModel]),
        [lp.B, pc.dModel],
      ) as tf.Tensor2D;
      return { logits: lmHead(pp, last), cache: r.cache as KvCache };
    });
    out.set('decode.prefill.logits', await read(logits));
    const valid = Array.from({ length: lp.B }, (_, b) =>
      Array.from(lp.valid.subarray(b * lp.L, (b + 1) * lp.L)),
    );
    for (let step = 0; step < DECODE_STEPS; step++) {
      const next = Int32Array.from(fx.seqs, (s, b) => s[fx.promptLens[b] + step]);
      const pos = Int32Array.from(fx.promptLens, (n) => n + step);
      for (const row of valid) row.push(1);
      const prev = cache;
      ({ logits, cache } = tidyStep(pc.nLayer, () => decodeStep(pc, pp, next, pos, prev, valid.flat())));
      tf.dispose([...prev.k, ...prev.v]);
      const host = await read(logits);
      if (host.length !== lp.B * V) throw new Error(`decode step ${step}: logits of size ${host.length}`);
      out.set(`decode.step${step}.logits`, host);
    }
    tf.dispose([...cache.k, ...cache.v]);
  });

  // The production sampler end to end: greedy batched decode with the KV cache, tokens exact.
  await guard('greedy batched decode', async () => {
    const gen = await policy.generate(
      fx.prompts.map((prompt) => ({ prompt })),
      { temperature: 1, topP: 1, greedy: true, rng: new Rng(0), maxNewTokens: GREEDY_MAX_TOKENS },
    );
    // One flat array per output, each sequence followed by -1 so different lengths cannot align.
    out.set('greedy.tokens', Int32Array.from(gen.tokens.flatMap((t) => [...t, -1])));
    out.set('greedy.logps', Float32Array.from(gen.logps.flatMap((l) => [...l])));
  });
  return out;
}
