/**
 * The loss side of training (issue 16), on hand-computed numbers:
 *   - rlLoss (src/core/rl/loss.ts, the one definition of the per-token losses): value, gradient,
 *     clip fraction and KL of single tokens of each role, weights, masking;
 *   - the update on a real (tiny, random) policy: beta > 0 pulls the policy toward the reference,
 *     innerEpochs = 2 makes the second pass's ratio leave 1 and clip;
 *   - both through the Trainer, with scripted texts whose behaviour log-probs are the model's own.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel } from '../src/core/agents';
import { renderCompletion } from '../src/core/format';
import { tokenLogProbs } from '../src/core/model';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { ROLE, type Role, rlLoss, type UpdateBatch } from '../src/core/rl/loss';
import {
  type GenerateRequest,
  LocalPolicyService,
  type PolicyService,
  type UpdateOptions,
} from '../src/core/rl/services';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { useBackend } from '../src/node/backend';
import { k3Kl } from './support/loss-reference';

beforeAll(async () => {
  await useBackend('wasm');
});

interface Tok {
  role: Role;
  logp: number;
  old?: number;
  adv?: number;
  w?: number;
  ref?: number;
}

/** One sequence whose predictions are the given tokens; loss, d loss / d logp, clip fraction, KL. */
function lossOf(
  toks: Tok[],
  h: Partial<{ epsLow: number; epsHigh: number; gamma: number; beta: number }> = {},
) {
  const n = toks.length;
  const batch: UpdateBatch = {
    B: 1,
    T: n + 1,
    ids: new Int32Array(n + 1),
    roles: Uint8Array.from(toks, (t) => t.role),
    oldLogps: Float32Array.from(toks, (t) => t.old ?? 0),
    advantages: Float32Array.from(toks, (t) => t.adv ?? 0),
    weights: Float32Array.from(toks, (t) => t.w ?? 1),
    refLogps: toks.some((t) => t.ref !== undefined) ? Float32Array.from(toks, (t) => t.ref ?? 0) : undefined,
  };
  const hyper = { epsLow: 0.2, epsHigh: 0.2, gamma: 0.1, beta: 0, ...h };
  const logp = tf.tensor2d(
    toks.map((t) => t.logp),
    [1, n],
  );
  const [loss, clipFraction, kl] = tf.tidy(() => {
    const out = rlLoss(logp, batch, hyper);
    return [out.loss, out.clipFraction, out.kl].map((x) => x.dataSync()[0]);
  });
  const grad = tf.tidy(() =>
    Array.from(
      tf
        .grad((x: tf.Tensor) => rlLoss(x as tf.Tensor2D, batch, hyper).loss)(logp)
        .dataSync(),
    ),
  );
  logp.dispose();
  return { loss, grad, clipFraction, kl };
}

const L = Math.log;

describe('rlLoss, on-policy tokens: -min(r A, clip(r, 1-epsLow, 1+epsHigh) A), r = exp(logp - old)', () => {
  it('A > 0: r = 1.5 is clipped at 1.2 (no gradient); r = 0.5 is not (gradient -r A)', () => {
    const hi = lossOf([{ role: ROLE.on, logp: L(1.5), adv: 1 }]);
    expect(hi.loss).toBeCloseTo(-1.2, 5);
    expect(hi.grad[0]).toBe(0);
    expect(hi.clipFraction).toBe(1);
    const lo = lossOf([{ role: ROLE.on, logp: L(0.5), adv: 1 }]);
    expect(lo.loss).toBeCloseTo(-0.5, 5);
    expect(lo.grad[0]).toBeCloseTo(-0.5, 5);
    expect(lo.clipFraction).toBe(0);
  });

  it('A < 0: r = 0.5 is clipped at 0.8; r = 1.5 is not (gradient -r A = 1.5)', () => {
    const lo = lossOf([{ role: ROLE.on, logp: L(0.5), adv: -1 }]);
    expect(lo.loss).toBeCloseTo(0.8, 5);
    expect(lo.grad[0]).toBe(0);
    expect(lo.clipFraction).toBe(1);
    const hi = lossOf([{ role: ROLE.on, logp: L(1.5), adv: -1 }]);
    expect(hi.loss).toBeCloseTo(1.5, 5);
    expect(hi.grad[0]).toBeCloseTo(1.5, 5);
    expect(hi.clipFraction).toBe(0);
  });

  it('the ratio is against the behaviour log-prob: logp -1.2, old -1.3, A = 2 -> loss = grad = -2 e^0.1', () => {
    const s = lossOf([{ role: ROLE.on, logp: -1.2, old: -1.3, adv: 2 }]);
    expect(s.loss).toBeCloseTo(-2 * Math.exp(0.1), 5);
    expect(s.grad[0]).toBeCloseTo(-2 * Math.exp(0.1), 5);
    expect(s.clipFraction).toBe(0);
  });

  it('epsHigh bounds r from above and epsLow from below, each on its own', () => {
    // r = 1.25, A = 1: inside [0.8, 1.28] with epsHigh 0.28, clipped at 1.2 with 0.2.
    expect(lossOf([{ role: ROLE.on, logp: L(1.25), adv: 1 }], { epsHigh: 0.28 }).loss).toBeCloseTo(-1.25, 5);
    const c = lossOf([{ role: ROLE.on, logp: L(1.25), adv: 1 }], { epsLow: 0.28 });
    expect([c.loss, c.clipFraction]).toEqual([expect.closeTo(-1.2, 5), 1]);
    // r = 0.7, A = -1: inside with epsLow 0.4 (1 - 0.4 = 0.6), clipped at 0.8 with 0.2.
    const w = lossOf([{ role: ROLE.on, logp: L(0.7), adv: -1 }], { epsLow: 0.4 });
    expect([w.loss, w.clipFraction]).toEqual([expect.closeTo(0.7, 5), 0]);
    const n = lossOf([{ role: ROLE.on, logp: L(0.7), adv: -1 }], { epsHigh: 0.4 });
    expect([n.loss, n.clipFraction]).toEqual([expect.closeTo(0.8, 5), 1]);
  });

  it('A = 0: zero loss and gradient, nothing clipped however far r is from 1', () => {
    const s = lossOf([{ role: ROLE.on, logp: L(3), adv: 0 }]);
    expect([s.loss, s.grad[0], s.clipFraction]).toEqual([0, 0, 0]);
  });
});

describe('rlLoss, off-policy (teacher) tokens: -A p/(p + gamma), no ratio', () => {
  it('p = 0.3, gamma = 0.1, A = 2: loss -1.5, gradient -A p gamma/(p+gamma)^2 = -0.375', () => {
    const s = lossOf([{ role: ROLE.off, logp: L(0.3), adv: 2, old: -5 }]);
    expect(s.loss).toBeCloseTo(-1.5, 5);
    expect(s.grad[0]).toBeCloseTo(-0.375, 5);
    expect(s.clipFraction).toBe(0); // off-policy tokens are never counted as clipped
  });

  it('gamma is the knob: gamma = 0.3 gives f = 0.5, loss -1, gradient -2 * 0.09 / 0.36 = -0.5', () => {
    const s = lossOf([{ role: ROLE.off, logp: L(0.3), adv: 2 }], { gamma: 0.3 });
    expect(s.loss).toBeCloseTo(-1, 5);
    expect(s.grad[0]).toBeCloseTo(-0.5, 5);
  });
});

describe('rlLoss, pg tokens (resets, supervised control): -A log p', () => {
  it('logp = log 0.25, A = -0.5: loss 0.5 log 0.25, gradient 0.5', () => {
    const s = lossOf([{ role: ROLE.pg, logp: L(0.25), adv: -0.5, old: 3 }]);
    expect(s.loss).toBeCloseTo(0.5 * L(0.25), 5);
    expect(s.grad[0]).toBeCloseTo(0.5, 5);
  });
});

describe('rlLoss: weights, masking, the clip fraction over on-policy tokens', () => {
  it('sum of w_t * token loss; masked tokens add nothing (even with a huge old log-prob)', () => {
    const s = lossOf([
      { role: ROLE.on, logp: L(0.5), adv: 1, w: 0.25 }, // -0.5, grad -0.5
      { role: ROLE.off, logp: L(0.3), adv: 2, w: 0.5 }, // -1.5, grad -0.375
      { role: ROLE.pg, logp: L(0.25), adv: -0.5, w: 2 }, // 0.5 log 0.25, grad 0.5
      { role: ROLE.masked, logp: -0.1, old: 100, adv: 7, w: 0 },
      { role: ROLE.on, logp: L(1.5), adv: 1, w: 1 }, // clipped: -1.2, grad 0
    ]);
    expect(s.loss).toBeCloseTo(0.25 * -0.5 + 0.5 * -1.5 + 2 * 0.5 * L(0.25) - 1.2, 5);
    const want = [0.25 * -0.5, 0.5 * -0.375, 2 * 0.5, 0, 0];
    s.grad.forEach((g, i) => {
      expect(g).toBeCloseTo(want[i], 5);
    });
    // One of the two on-policy tokens is clipped.
    expect(s.clipFraction).toBe(0.5);
    expect(s.kl).toBe(0);
  });

  it('a masked token with a non-zero weight still adds nothing (its role decides, not its weight)', () => {
    const s = lossOf([
      { role: ROLE.masked, logp: L(0.5), adv: 3, w: 1 },
      { role: ROLE.pg, logp: L(0.5), adv: 1, w: 1 },
    ]);
    expect(s.loss).toBeCloseTo(-L(0.5), 5);
    expect(s.grad[0]).toBe(0);
  });
});

describe('rlLoss, the k3 KL to the reference (beta > 0), on on-policy tokens', () => {
  // d = ref - logp. logp log 0.5, ref log 0.25: d = -log 2, k3 = e^d - d - 1 = log 2 - 0.5 = 0.1931.
  const k3Down = Math.LN2 - 0.5;
  // logp log 0.25, ref log 0.5: d = log 2, k3 = 2 - log 2 - 1 = 1 - log 2 = 0.3069.
  const k3Up = 1 - Math.LN2;

  it('k3 by hand: the reference formula agrees', () => {
    expect(k3Kl(L(0.5), L(0.25))).toBeCloseTo(k3Down, 12);
    expect(k3Kl(L(0.25), L(0.5))).toBeCloseTo(k3Up, 12);
  });

  it('value: loss = beta * w * k3, kl = mean k3 over on-policy tokens; gradient beta w (1 - e^d)', () => {
    const s = lossOf(
      [
        { role: ROLE.on, logp: L(0.5), old: L(0.5), ref: L(0.25), w: 0.5 },
        { role: ROLE.on, logp: L(0.25), old: L(0.25), ref: L(0.5), w: 0.5 },
        { role: ROLE.off, logp: L(0.5), ref: L(0.01), w: 0.5 }, // off-policy: no KL
        { role: ROLE.pg, logp: L(0.5), ref: L(0.01), w: 0.5 }, // pg: no KL
      ],
      { beta: 0.2 },
    );
    expect(s.kl).toBeCloseTo((k3Down + k3Up) / 2, 5);
    expect(s.loss).toBeCloseTo(0.2 * 0.5 * (k3Down + k3Up), 5);
    // Sign: where the policy is above the reference the gradient is positive (descent lowers logp);
    // where it is below, negative (descent raises it): both pull toward the reference.
    expect(s.grad[0]).toBeCloseTo(0.2 * 0.5 * (1 - 0.5), 5);
    expect(s.grad[1]).toBeCloseTo(0.2 * 0.5 * (1 - 2), 5);
    expect(s.grad[2]).toBe(0);
    expect(s.grad[3]).toBe(0);
  });

  it('beta = 0: no KL term and kl = 0, even when reference log-probs are given', () => {
    const s = lossOf([{ role: ROLE.on, logp: L(0.5), old: L(0.5), ref: L(0.25), adv: 0 }], { beta: 0 });
    expect([s.loss, s.kl, s.grad[0]]).toEqual([0, 0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// A real tiny policy.

const TINY = { nLayer: 1, dModel: 32, nHead: 2, dMlp: 64 };

/** Per-prediction log-probs [T-1] of `text` under `model` (char-level: one token per character). */
async function logpsOf(model: PolicyModel, text: string, temperature = 1): Promise<Float32Array> {
  const t = tf.tidy(
    () => logProbsOf(model, tf.tensor2d(model.tok.encode(text), [1, text.length], 'int32'), temperature).logp,
  );
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}
const logProbsOf = (m: PolicyModel, ids: tf.Tensor2D, temperature: number) =>
  tokenLogProbs(m.cfg, m.params, ids, temperature);

/**
 * The trainer's policy for these tests: the texts follow a script, but their behaviour log-probs are
 * the real model's (so on-policy ratios start at exactly 1), and updates train the real model.
 */
class ForcedTextPolicy implements PolicyService {
  constructor(
    readonly inner: LocalPolicyService,
    private readonly script: (req: GenerateRequest, i: number) => string,
  ) {}
  describe() {
    return this.inner.describe();
  }
  async generate(reqs: GenerateRequest[], opts: { temperature: number; topP: number }) {
    const texts = reqs.map((r, i) => this.script(r, i));
    const logps = await Promise.all(
      texts.map(async (text, i) => {
        const head = `${reqs[i].prompt}:${reqs[i].completionPrefix ?? ''}`;
        const all = await logpsOf(this.inner.policy, head + text, opts.temperature);
        // Prediction t is of character t+1: the new text's characters are predicted from head.length-1.
        return all.slice(head.length - 1, head.length - 1 + text.length);
      }),
    );
    return { texts, logps };
  }
  update(batch: UpdateBatch, o: UpdateOptions) {
    return this.inner.update(batch, o);
  }
  evaluate(o: Parameters<PolicyService['evaluate']>[0]) {
    return this.inner.evaluate(o);
  }
  checkpoint(meta: Record<string, unknown>) {
    return this.inner.checkpoint(meta);
  }
  load(ck: Parameters<PolicyService['load']>[0]) {
    return this.inner.load(ck);
  }
  numTensors() {
    return this.inner.numTensors();
  }
}

/** Mean k3 KL of `policy` to `ref` over the trained (weight != 0) predictions of a batch. */
async function batchKl(policy: PolicyModel, ref: PolicyModel, batch: UpdateBatch): Promise<number> {
  let sum = 0;
  let n = 0;
  for (let b = 0; b < batch.B; b++) {
    const ids = tf.tensor2d(batch.ids.subarray(b * batch.T, (b + 1) * batch.T), [1, batch.T], 'int32');
    const [lp, lr] = await Promise.all(
      [policy, ref].map(async (m) => {
        const t = tf.tidy(() => logProbsOf(m, ids, 1).logp);
        const v = (await t.data()) as Float32Array;
        t.dispose();
        return v;
      }),
    );
    ids.dispose();
    for (let t = 0; t < batch.T - 1; t++)
      if (batch.weights[b * (batch.T - 1) + t] !== 0) {
        sum += k3Kl(lp[t], lr[t]);
        n++;
      }
  }
  return sum / n;
}

/** Flat copy of every parameter. */
async function weightsOf(model: PolicyModel): Promise<number[]> {
  const out: number[] = [];
  for (const v of model.params.values()) out.push(...((await v.data()) as Float32Array));
  return out;
}

/** A GRPO trainer on the tiny policy (seed 7) with reference seed 8, every sample '>0.' unless told. */
function realTrainer(
  over: Partial<RlConfig>,
  script: (req: GenerateRequest, i: number) => string = () => '>0.',
) {
  const policy = PolicyModel.create(addTask, 7, TINY);
  const reference = PolicyModel.create(addTask, 8, TINY);
  const local = new LocalPolicyService(addTask, policy, () => reference);
  const recorded: UpdateBatch[] = [];
  const service = new ForcedTextPolicy(local, script);
  const update = service.update.bind(service);
  service.update = (batch, o) => {
    recorded.push(batch);
    return update(batch, o);
  };
  const cfg = parseRlConfig({
    algo: 'grpo',
    seed: 3,
    promptsPerIter: 1,
    groupSize: 2,
    warmupIters: 0,
    outputGainLr: 0,
    ...over,
  });
  const trainer = new Trainer(addTask, cfg, service, null);
  const dispose = () => {
    policy.dispose();
    reference.dispose();
  };
  return { trainer, policy, reference, recorded, dispose };
}

describe('beta > 0 through the trainer: the KL pulls the policy toward the reference', () => {
  it('zero advantages (all samples fail) and beta = 1: the k3 KL to the reference falls; kl is its k3 value', async () => {
    const { trainer, policy, reference, recorded, dispose } = realTrainer({ beta: 1, lr: 1e-4 });
    const start = PolicyModel.create(addTask, 7, TINY); // the policy's starting weights (same seed)
    const { metrics, rollouts } = await trainer.step();
    expect(rollouts.every((r) => r.advantage === 0)).toBe(true);
    const batch = recorded[0];
    expect(batch.refLogps).toBeUndefined(); // the service fills in the reference itself
    const before = await batchKl(start, reference, batch);
    const after = await batchKl(policy, reference, batch);
    start.dispose();
    expect(before).toBeGreaterThan(0.01);
    // The reported kl is the k3 mean in the step's forward pass, at the starting weights.
    expect(metrics.kl).toBeCloseTo(before, 4);
    expect(after).toBeLessThan(before);
    dispose();
  });

  it('control: the same step with beta = 0 and zero advantages leaves every weight where it was', async () => {
    const { trainer, policy, dispose } = realTrainer({ beta: 0, lr: 1e-2 });
    const w0 = await weightsOf(policy);
    const { metrics } = await trainer.step();
    expect(await weightsOf(policy)).toEqual(w0);
    expect(metrics.kl).toBe(0);
    dispose();
  });
});

describe('innerEpochs through the trainer', () => {
  /** One prompt, G = 2: one right answer and one wrong one, so the advantages are +-1. */
  const mixed = (req: GenerateRequest, i: number) =>
    i === 0 ? `>${Number(req.prompt.split('+')[0]) + Number(req.prompt.split('+')[1])}.` : '>0.';

  it('innerEpochs = 1: the single pass is at ratio 1, nothing clipped', async () => {
    const { trainer, policy, dispose } = realTrainer({ innerEpochs: 1, lr: 5e-2 }, mixed);
    const { metrics, rollouts } = await trainer.step();
    expect(rollouts.map((r) => r.reward)).toEqual([1, 0]);
    expect(metrics.clipFraction).toBe(0);
    expect(policy.step).toBe(1);
    dispose();
  });

  it('innerEpochs = 2: two optimiser steps; the second pass sees ratios moved off 1 and clips some', async () => {
    const { trainer, policy, dispose } = realTrainer({ innerEpochs: 2, lr: 5e-2 }, mixed);
    const { metrics } = await trainer.step();
    expect(policy.step).toBe(2);
    expect(metrics.clipFraction).toBeGreaterThan(0);
    dispose();
  });
});

describe('LocalPolicyService.update: the reference, the stats', () => {
  /** A one-sequence batch over a teacher solution, every completion token `role`, advantage `a`. */
  async function batchFor(
    policy: PolicyModel,
    role: Role,
    a: number,
  ): Promise<UpdateBatch & { text: string }> {
    const p = addTask.sample(new Rng(11), 'train');
    const text = `${p.prompt}:${renderCompletion(addTask.solve(p))}`;
    const T = text.length;
    const roles = new Uint8Array(T - 1).fill(ROLE.masked).fill(role, p.prompt.length);
    const n = T - 1 - p.prompt.length;
    return {
      text,
      B: 1,
      T,
      ids: policy.tok.encode(text),
      roles,
      oldLogps: await logpsOf(policy, text),
      advantages: new Float32Array(T - 1).fill(a),
      weights: Float32Array.from(roles, (r) => (r === ROLE.masked ? 0 : 1 / n)),
    };
  }
  const opts = (o: Partial<UpdateOptions> = {}): UpdateOptions => ({
    lr: 1e-3,
    clipNorm: 1,
    innerEpochs: 1,
    temperature: 1,
    epsLow: 0.2,
    epsHigh: 0.2,
    gamma: 0.1,
    beta: 0,
    ...o,
  });

  it('beta > 0 without a reference is an error; the reference is made once, and not when the batch has one', async () => {
    const policy = PolicyModel.create(addTask, 7, TINY);
    const batch = await batchFor(policy, ROLE.on, 1);
    await expect(new LocalPolicyService(addTask, policy).update(batch, opts({ beta: 0.1 }))).rejects.toThrow(
      /beta > 0 needs a reference policy/,
    );
    let made = 0;
    const ref = PolicyModel.create(addTask, 8, TINY);
    const service = new LocalPolicyService(addTask, policy, () => {
      made++;
      return ref;
    });
    await service.update(batch, opts({ beta: 0.1 }));
    await service.update(batch, opts({ beta: 0.1 }));
    expect(made).toBe(1);
    await service.update(batch, opts({ beta: 0 }));
    await service.update({ ...batch, refLogps: batch.oldLogps }, opts({ beta: 0.1 }));
    expect(made).toBe(1);
    policy.dispose();
    ref.dispose();
  });

  it('loss, clip fraction, KL and entropy are those of the forward pass at the starting weights', async () => {
    const policy = PolicyModel.create(addTask, 7, TINY);
    const start = PolicyModel.create(addTask, 7, TINY);
    const ref = PolicyModel.create(addTask, 8, TINY);
    const batch = await batchFor(policy, ROLE.on, 0.5);
    const service = new LocalPolicyService(addTask, policy, () => ref);
    const stats = await service.update(batch, opts({ beta: 0.3 }));
    // Expected: rlLoss and the mean entropy over trained tokens, on the starting weights.
    const refLogps = await logpsOf(ref, batch.text);
    const want = tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [1, batch.T], 'int32');
      const { logp, entropy } = logProbsOf(start, ids, 1);
      const out = rlLoss(logp, { ...batch, refLogps }, { epsLow: 0.2, epsHigh: 0.2, gamma: 0.1, beta: 0.3 });
      const trained = tf.tensor2d(
        Float32Array.from(batch.weights, (w) => (w !== 0 ? 1 : 0)),
        [1, batch.T - 1],
      );
      const ent = tf.div(tf.sum(tf.mul(entropy(), trained)), tf.sum(trained));
      return [out.loss, out.clipFraction, out.kl, ent].map((x) => x.dataSync()[0]);
    });
    expect(stats.loss).toBeCloseTo(want[0], 5);
    expect(stats.clipFraction).toBe(want[1]);
    expect(stats.kl).toBeCloseTo(want[2], 5);
    expect(stats.kl).toBeGreaterThan(0);
    expect(stats.entropy).toBeCloseTo(want[3], 5);
    expect(stats.entropy).toBeGreaterThan(0.1);
    expect(stats.gradNorm).toBeGreaterThan(0);
    expect(stats.skipped).toBe(0);
    for (const m of [policy, start, ref]) m.dispose();
  });
});

describe('LocalPolicyService: the rest of the service', () => {
  it('describe, generate from the policy RNG, checkpoint/load round trip, tensor count', async () => {
    const policy = PolicyModel.create(addTask, 7, TINY);
    const service = new LocalPolicyService(addTask, policy);
    const params = [...policy.params.values()].reduce((n, v) => n + v.size, 0);
    expect(await service.describe()).toEqual({
      backend: tf.getBackend(),
      task: 'add',
      params,
      step: 0,
      helperShards: 0,
    });
    const twin = PolicyModel.create(addTask, 7, TINY); // same weights and RNG
    const reqs = [{ prompt: '12+34' }, { prompt: '5+6', completionPrefix: '5+6+0=11;' }];
    const a = await service.generate(reqs, { temperature: 1, topP: 1 });
    const b = await twin.generate(reqs, { temperature: 1, topP: 1, rng: twin.rng });
    expect(a.texts).toEqual(b.texts);
    expect(a.logps.map((x) => Array.from(x))).toEqual(b.logps.map((x) => Array.from(x)));
    // A second call continues the RNG (different samples), as the model's own would.
    const a2 = await service.generate(reqs, { temperature: 1, topP: 1 });
    const b2 = await twin.generate(reqs, { temperature: 1, topP: 1, rng: twin.rng });
    expect(a2.texts).toEqual(b2.texts);
    const ck = await service.checkpoint({ note: 'x' });
    const other = new LocalPolicyService(addTask, PolicyModel.create(addTask, 9, TINY));
    await other.load(ck);
    expect(await weightsOf(other.policy)).toEqual(await weightsOf(policy));
    expect(await service.numTensors()).toBe(tf.memory().numTensors);
    for (const m of [policy, twin, other.policy]) m.dispose();
  });
});
