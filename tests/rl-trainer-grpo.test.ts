/**
 * GRPO through the real Trainer on a hand-made iteration (issue 16): which tokens are trained, with
 * which role, weight, behaviour log-prob and advantage, under every `scaleRewards` and `lossAgg`;
 * the update options and the metrics the loop fills in. The policy is scripted (tests/support), so
 * every number below is computed by hand.
 *
 * The iteration: seed 1, P = 2 prompts, G = 4. The trainer draws 28+627 (= 655) and 5576+15 (= 5591).
 *   group 0: '>655.' (reward 1, 5 tokens), '>0.' x3 (0, 3 tokens each)
 *   group 1: '>5591.' x2 (1, 6 tokens each), '>1.' (0, 3 tokens), '>5591' (0: no EOS, 5 tokens)
 * Rewards [1,0,0,0 | 1,1,0,0]; 34 completion tokens in all.
 */
import { describe, expect, it } from 'vitest';
import { ROLE } from '../src/core/rl/batch';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { Trainer } from '../src/core/rl/trainer';
import { addTask } from '../src/core/tasks';
import { tokenizerFor } from '../src/core/tokenizer';
import { rowOf, SCRIPTED_STATS, ScriptedPolicy } from './support/scripted-services';

const COMPLETIONS = ['>655.', '>0.', '>0.', '>0.', '>5591.', '>5591.', '>1.', '>5591'];
const PROMPTS = ['28+627', '5576+15'];
const LENGTHS = COMPLETIONS.map((c) => c.length); // [5,3,3,3,6,6,3,5]

async function iteration(over: Partial<RlConfig> = {}) {
  const cfg = parseRlConfig({ algo: 'grpo', seed: 1, promptsPerIter: 2, groupSize: 4, ...over });
  const policy = new ScriptedPolicy((_req, i) => COMPLETIONS[i]);
  const trainer = new Trainer(addTask, cfg, policy, null);
  const result = await trainer.step();
  return { ...result, policy, batch: policy.updates[0], cfg, trainer };
}

const close = (got: number[], want: number[], digits = 6) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    expect(g).toBeCloseTo(want[i], digits);
  });
};

describe('GRPO through the trainer: the update batch', () => {
  it('draws the expected problems and asks for G samples of each at the run temperature and top-p', async () => {
    const { policy, rollouts } = await iteration({ temperature: 0.7, topP: 0.9 });
    expect(policy.requests).toHaveLength(1);
    expect(policy.requests[0].map((r) => r.prompt)).toEqual([
      ...Array(4).fill(PROMPTS[0]),
      ...Array(4).fill(PROMPTS[1]),
    ]);
    expect(policy.requests[0].every((r) => r.completionPrefix === undefined)).toBe(true);
    expect(policy.generateOptions[0]).toEqual({ temperature: 0.7, topP: 0.9 });
    expect(rollouts.map((r) => r.group)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(rollouts.map((r) => r.reward)).toEqual([1, 0, 0, 0, 1, 1, 0, 0]);
    expect(rollouts.every((r) => r.origin === 'sample')).toBe(true);
  });

  it('ids, roles and behaviour log-probs: prompt masked, every completion token on-policy, padding masked', async () => {
    const { batch } = await iteration();
    const tok = tokenizerFor(addTask);
    // T = the longest text, '5576+15:>5591.' (14 characters).
    expect([batch.B, batch.T]).toEqual([8, 14]);
    COMPLETIONS.forEach((c, b) => {
      const prompt = PROMPTS[b < 4 ? 0 : 1];
      const text = `${prompt}:${c}`;
      const ids = Array.from(batch.ids.subarray(b * batch.T, (b + 1) * batch.T));
      expect(ids).toEqual([...tok.encode(text), ...Array(batch.T - text.length).fill(0)]);
      // Prediction t predicts token t+1: positions 0..|prompt|-1 predict the prompt's rest and ':'.
      const pad = batch.T - 1 - prompt.length - c.length;
      expect(rowOf(batch.roles, batch, b)).toEqual([
        ...Array(prompt.length).fill(ROLE.masked),
        ...Array(c.length).fill(ROLE.on),
        ...Array(pad).fill(ROLE.masked),
      ]);
      close(rowOf(batch.oldLogps, batch, b), [
        ...Array(prompt.length).fill(0),
        ...Array.from(c, (_, j) => -0.01 * (j + 1)),
        ...Array(pad).fill(0),
      ]);
    });
  });

  it("scaleRewards 'group': (r - mean_g) / (std_g + 1e-6) on every trained token of the sequence", async () => {
    const { batch, rollouts } = await iteration({ scaleRewards: 'group' });
    // group 0: mean 1/4, std sqrt(3)/4; group 1: mean 1/2, std 1/2.
    const s0 = Math.sqrt(3) / 4 + 1e-6;
    const s1 = 0.5 + 1e-6;
    const want = [0.75 / s0, -0.25 / s0, -0.25 / s0, -0.25 / s0, 0.5 / s1, 0.5 / s1, -0.5 / s1, -0.5 / s1];
    close(
      rollouts.map((r) => r.advantage),
      want,
      9,
    );
    want.forEach((a, b) => {
      const prompt = PROMPTS[b < 4 ? 0 : 1];
      close(rowOf(batch.advantages, batch, b, prompt.length, LENGTHS[b]), Array(LENGTHS[b]).fill(a));
    });
  });

  it("scaleRewards 'batch': divided by the std of all 8 rewards (+1e-6), centred per group", async () => {
    const { rollouts } = await iteration({ scaleRewards: 'batch' });
    // All rewards: mean 3/8, std sqrt(3/8 * 5/8) = sqrt(15)/8.
    const s = Math.sqrt(15) / 8 + 1e-6;
    close(
      rollouts.map((r) => r.advantage),
      [0.75 / s, -0.25 / s, -0.25 / s, -0.25 / s, 0.5 / s, 0.5 / s, -0.5 / s, -0.5 / s],
      9,
    );
  });

  it("scaleRewards 'none': centred only", async () => {
    const { rollouts } = await iteration({ scaleRewards: 'none' });
    close(
      rollouts.map((r) => r.advantage),
      [0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5],
      12,
    );
  });

  it("lossAgg 'token-mean': weight 1/34 on each of the 34 completion tokens, 0 elsewhere", async () => {
    const { batch, metrics } = await iteration({ lossAgg: 'token-mean' });
    const trained = Array.from(batch.weights).filter((w) => w !== 0);
    expect(trained).toHaveLength(34);
    expect(trained).toEqual(Array(34).fill(Math.fround(1 / 34)));
    expect(metrics.trainedTokens).toBe(34);
    // Exactly the on-policy positions carry a weight.
    batch.roles.forEach((role, k) => {
      expect(batch.weights[k] !== 0).toBe(role !== ROLE.masked);
    });
  });

  it("lossAgg 'seq-mean-token-mean': 1/(N len_i) per sequence (original GRPO)", async () => {
    const { batch } = await iteration({ lossAgg: 'seq-mean-token-mean' });
    LENGTHS.forEach((len, b) => {
      const prompt = PROMPTS[b < 4 ? 0 : 1];
      expect(rowOf(batch.weights, batch, b, prompt.length, len)).toEqual(
        Array(len).fill(Math.fround(1 / (8 * len))),
      );
      expect(rowOf(batch.weights, batch, b, 0, prompt.length).every((w) => w === 0)).toBe(true);
    });
  });

  it("lossAgg 'seq-mean-token-sum-norm': 1/(N maxLen) = 1/48 on every trained token (Dr. GRPO)", async () => {
    const { batch } = await iteration({ lossAgg: 'seq-mean-token-sum-norm' });
    const trained = Array.from(batch.weights).filter((w) => w !== 0);
    expect(trained).toHaveLength(34);
    expect(trained).toEqual(Array(34).fill(Math.fround(1 / 48)));
  });
});

describe('GRPO through the trainer: options and metrics', () => {
  it('passes every loss and optimiser knob of the config to the update', async () => {
    const { policy } = await iteration({
      lr: 3e-4,
      warmupIters: 0,
      outputGainLr: 7e-3,
      clipNorm: 0.5,
      innerEpochs: 3,
      updateShards: 3,
      temperature: 0.8,
      epsLow: 0.1,
      epsHigh: 0.28,
      gamma: 0.3,
      beta: 0.05,
    });
    expect(policy.options[0]).toEqual({
      lr: 3e-4,
      lrByParam: { 'lnf.g': 7e-3 },
      clipNorm: 0.5,
      innerEpochs: 3,
      shards: 3,
      temperature: 0.8,
      epsLow: 0.1,
      epsHigh: 0.28,
      gamma: 0.3,
      beta: 0.05,
      injectNonFinite: undefined,
    });
  });

  it('fills the metrics from the samples and the update stats', async () => {
    const { metrics } = await iteration();
    expect(metrics.iter).toBe(1);
    expect(metrics.algo).toBe('grpo');
    expect(metrics.rewardMean).toBe(3 / 8);
    expect(metrics.rewardStd).toBeCloseTo(Math.sqrt(15) / 8, 12);
    expect(metrics.trainRewardMean).toBe(3 / 8);
    expect(metrics.zeroStdGroupFrac).toBe(0);
    // Distinct step sequences per group / G: group 0 {>655, >0} 2/4, group 1 {>5591, >1, none} 3/4.
    expect(metrics.diversity).toBe(0.625);
    expect(metrics.completionLen).toBe(34 / 8);
    expect(metrics.truncationRatio).toBe(1 / 8); // '>5591' has no EOS
    expect({
      loss: metrics.loss,
      gradNorm: metrics.gradNorm,
      clipFraction: metrics.clipFraction,
      kl: metrics.kl,
      entropy: metrics.entropy,
      skippedUpdates: metrics.skippedUpdates,
    }).toEqual({ ...SCRIPTED_STATS, skippedUpdates: SCRIPTED_STATS.skipped, skipped: undefined });
    // SCOPE's and the resets' metrics do not apply.
    for (const k of [
      'rectifications',
      'salvaged',
      'salvageRate',
      'answerStepCorrections',
      'prmFalseAccepts',
      'firstErrorPos',
      'firstErrorRel',
      'prmFirstErrorAcc',
      'resetParents',
      'resetK',
      'resetSuffixReward',
    ] as const)
      expect(metrics[k]).toBeNull();
    for (const t of Object.values(metrics.timeMs)) expect(t).toBeGreaterThanOrEqual(0);
  });

  it('a group whose rewards are all equal gets zero advantages and counts as zero-std', async () => {
    const cfg = parseRlConfig({ algo: 'grpo', seed: 1, promptsPerIter: 2, groupSize: 4 });
    const policy = new ScriptedPolicy((_req, i) => (i < 4 ? '>0.' : COMPLETIONS[i]));
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(rollouts.slice(0, 4).map((r) => r.advantage)).toEqual([0, 0, 0, 0]);
    expect(metrics.zeroStdGroupFrac).toBe(0.5);
  });

  it('evaluate: n, temperature and top-p of the run; the edge evaluation only when full', async () => {
    const cfg = parseRlConfig({ algo: 'grpo', evalN: 17, temperature: 0.6, topP: 0.95, edgeEvalN: 5 });
    const policy = new ScriptedPolicy(() => '>0.');
    const trainer = new Trainer(addTask, cfg, policy, null);
    await trainer.evaluate();
    await trainer.evaluate(true);
    expect(policy.evaluations).toEqual([
      { n: 17, temperature: 0.6, topP: 0.95, edgeN: 0 },
      { n: 17, temperature: 0.6, topP: 0.95, edgeN: 5 },
    ]);
  });

  it('trainSplit with trainMix: the first round(P * trainMix) prompts from train, the rest from trainSplit', async () => {
    const { addEdgeSplitOf, addSplitOf } = await import('../src/core/tasks/add');
    const cfg = parseRlConfig({
      algo: 'grpo',
      promptsPerIter: 4,
      groupSize: 2,
      trainSplit: 'edge-train',
      trainMix: 0.6, // round(2.4) = 2
    });
    const policy = new ScriptedPolicy(() => '>0.');
    await new Trainer(addTask, cfg, policy, null).step();
    const prompts = policy.requests[0].filter((_, i) => i % 2 === 0).map((r) => r.prompt);
    expect(prompts.map((p) => addSplitOf(p))).toEqual(['train', 'train', 'ood', 'ood']);
    expect(prompts.slice(2).map((p) => addEdgeSplitOf(p))).toEqual(['edge-train', 'edge-train']);
  });
});
