/**
 * The edges of each algorithm's step through the real Trainer (issue 16, mutants that survived the
 * first run): nothing failed, failures without a step, a continuation that ends wrong, a zero cap,
 * a parent without steps, the terminator of a step in SRPO's localisation, the supervised control's
 * metrics, and the loss with no on-policy token. Scripted services (tests/support); numbers by hand.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCompletion, renderCompletion, stepPrefix } from '../src/core/format';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { ROLE, rlLoss, type UpdateBatch } from '../src/core/rl/loss';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask } from '../src/core/tasks';
import type { Problem } from '../src/core/tasks/types';
import * as tf from '../src/core/tf';
import { useBackend } from '../src/node/backend';
import { ScriptedPolicy, ScriptedPrm } from './support/scripted-services';

const cfgOf = (over: Partial<RlConfig>) =>
  parseRlConfig({ seed: 1, promptsPerIter: 1, groupSize: 4, ...over });
function problemOf(cfg: RlConfig): Problem {
  return addTask.sample(new Rng(`rl/${cfg.task}/${cfg.algo}/${cfg.seed}`), 'train');
}
const teacher = (p: Problem) => renderCompletion(addTask.solve(p));

describe('SCOPE edges', () => {
  // 753+6066 = 6819: 3+6+0=9;5+6+0=11;7+0+1=8;0+6+0=6;>6819.
  const cfg0 = cfgOf({ algo: 'scope', prmMode: 'learned' });
  const p = problemOf(cfg0);
  const sol = addTask.solve(p);
  const wrongAt = (k: number) => renderCompletion([...sol.slice(0, k - 1), '9+9+9=27', '>1.']);
  const prm = () =>
    new ScriptedPrm((c) => addTask.checkSteps(p, parseCompletion(c).steps).map((ok) => (ok ? 0.9 : 0.1)));
  const continueWith = (fresh: string[], cont: (prefix: string) => string) =>
    new ScriptedPolicy((req, i) =>
      req.completionPrefix === undefined ? fresh[i] : cont(req.completionPrefix),
    );
  const teacherRest = (prefix: string) => renderCompletion(sol.slice(parseCompletion(prefix).steps.length));

  it('nothing failed: the PRM is not asked, no location metrics, no rectification', async () => {
    const policy = continueWith(Array(4).fill(teacher(p)), teacherRest);
    const scorer = prm();
    const { metrics, rollouts } = await new Trainer(addTask, cfg0, policy, scorer).step();
    expect(scorer.asked).toEqual([]);
    expect(policy.requests).toHaveLength(1);
    expect(metrics.firstErrorPos).toBeNull();
    expect(metrics.firstErrorRel).toBeNull();
    expect(metrics.prmFirstErrorAcc).toBeNull();
    expect(metrics.rectifications).toBe(0);
    expect(metrics.salvaged).toBe(0);
    expect(metrics.salvageRate).toBeNull();
    expect(metrics.prmFalseAccepts).toBe(0);
    expect(rollouts.every((r) => r.origin === 'sample' && r.prmFirstError === undefined)).toBe(true);
  });

  it('a failure without a terminated step is not scored; one with only valid steps is out of the PRM accuracy', async () => {
    // '3+6+0' (no step), and the full solution without its EOS (all steps valid, reward 0).
    const noEos = teacher(p).slice(0, -1);
    const fresh = [teacher(p), '3+6+0', noEos, wrongAt(3)];
    const scorer = prm();
    const { metrics } = await new Trainer(addTask, cfg0, continueWith(fresh, teacherRest), scorer).step();
    expect(scorer.asked[0].map((x) => x.completion)).toEqual([noEos, wrongAt(3)]);
    // noEos: 4 terminated steps all scored 0.9: no score below tau, argmin = step 1 -> k = 1.
    expect(metrics.firstErrorPos).toBe((1 + 3) / 2);
    expect(metrics.firstErrorRel).toBeCloseTo((1 / 4 + 3 / 4) / 2, 12);
    // Only wrongAt(3) has an oracle error (k* = 3), and the PRM found it.
    expect(metrics.prmFirstErrorAcc).toBe(1);
  });

  it('a policy continuation that ends wrong is rectified but not salvaged; the rectified rollout keeps the PRM data', async () => {
    const fresh = [teacher(p), wrongAt(3), teacher(p), teacher(p)];
    const { metrics, rollouts } = await new Trainer(
      addTask,
      cfg0,
      continueWith(fresh, () => '>1.'),
      prm(),
    ).step();
    expect(metrics.rectifications).toBe(1);
    expect(metrics.salvaged).toBe(0);
    expect(metrics.salvageRate).toBe(0);
    const r = rollouts[1];
    expect(r.origin).toBe('rectified');
    expect(r.reward).toBe(0);
    expect(r.rectification!.salvaged).toBe(false);
    expect(r.rectification!.continuation).toBe('>1.');
    expect(r.rectification!.originalCompletion).toBe(wrongAt(3));
    expect(r.prmFirstError).toBe(3);
    expect(r.prmScores).toEqual([0.9, 0.9, 0.1, 0.1]);
    expect(r.completion).toBe(`${stepPrefix(sol.slice(0, 2), 2)}${sol[2]};>1.`);
  });

  it('rectifyCap 0 rectifies nothing (0 is a cap, not "use the default")', async () => {
    const cfg = cfgOf({ algo: 'scope', prmMode: 'learned', rectifyCap: 0 });
    const fresh = [teacher(p), wrongAt(3), wrongAt(4), wrongAt(2)];
    const { metrics } = await new Trainer(addTask, cfg, continueWith(fresh, teacherRest), prm()).step();
    expect(metrics.rectifications).toBe(0);
    expect(metrics.firstErrorPos).toBe(3);
  });

  it('an answer-step correction has no continuation segment and asks the policy for nothing', async () => {
    const cfg = cfgOf({ algo: 'scope', prmMode: 'learned', scopeRectifyAnswerStep: true });
    const atAnswer = renderCompletion([...sol.slice(0, -1), '>1']);
    const policy = continueWith([atAnswer, teacher(p), teacher(p), teacher(p)], teacherRest);
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, prm()).step();
    expect(policy.requests).toHaveLength(1);
    const r = rollouts[0];
    expect(r.segments.map((s) => s.role)).toEqual(['on', 'off']);
    expect(r.segments[1].text).toBe(`${sol[sol.length - 1]}.`);
    expect(r.rectification!.continuation).toBe('');
    expect(r.rectification!.answerStep).toBe(true);
    expect(metrics.answerStepCorrections).toBe(1);
  });
});

describe('reset edges', () => {
  it("a parent without a terminated step resets at k = 1 (empty prefix); group A's diversity", async () => {
    const cfg = cfgOf({ algo: 'srpo' });
    const p = problemOf(cfg);
    // First draw: correct, a parent with no terminated step, another correct. Suffixes: '>0.'.
    const policy = new ScriptedPolicy((req, i) =>
      req.completionPrefix === undefined ? [teacher(p), '9+9', `${teacher(p)}`][i] : '>0.',
    );
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.resetK).toBe(1);
    expect(policy.requests[1].map((r) => r.completionPrefix)).toEqual(['', '']);
    expect(rollouts.filter((r) => r.origin === 'reset').map((r) => r.reset!.parentCompletion)).toEqual([
      '9+9',
      '9+9',
    ]);
    // Group A: the two correct samples, identical: 1 distinct of 2.
    expect(metrics.diversity).toBe(0.5);
    expect(metrics.resetSuffixReward).toBe(0);
  });

  it("SRPO: a step's tokens include its terminator", async () => {
    const cfg = cfgOf({ algo: 'srpo', seed: 2, pMin: 0.2 });
    const p = problemOf(cfg); // 39+333 = 372: 9+3+0=12;3+3+1=7;0+3+0=3;>372.
    const sol = addTask.solve(p);
    const parent = renderCompletion([sol[0], sol[1], sol[2], '>371']);
    // Only the ';' that ends step 2 is doubtful (p = 0.1 < pMin).
    const end2 = sol[0].length + 1 + sol[1].length;
    const logps = (text: string) =>
      Array.from(text, (_, j) => (text === parent && j === end2 ? Math.log(0.1) : Math.log(0.9)));
    const policy = new ScriptedPolicy(
      (req, i) => (req.completionPrefix === undefined && i === 0 ? parent : teacher(p)),
      logps,
    );
    const { metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.resetK).toBe(2);
  });
});

describe('the supervised control', () => {
  it('samples nothing: no sampled-reward metrics; G teacher paths per prompt, advantage 1, pg role', async () => {
    const cfg = cfgOf({ algo: 'sft-control', promptsPerIter: 2, groupSize: 3 });
    const policy = new ScriptedPolicy(() => {
      throw new Error('the control must not sample');
    });
    const { metrics, rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.rewardMean).toBeNull();
    expect(metrics.rewardStd).toBeNull();
    expect(metrics.zeroStdGroupFrac).toBeNull();
    expect(metrics.trainRewardMean).toBeNull();
    expect(metrics.truncationRatio).toBeNull();
    expect(rollouts.map((r) => r.group)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(rollouts.every((r) => r.origin === 'teacher' && r.advantage === 1 && r.reward === 1)).toBe(true);
    const batch = policy.updates[0];
    const trained = Array.from(batch.roles).filter((x) => x !== ROLE.masked);
    expect(new Set(trained)).toEqual(new Set([ROLE.pg]));
  });
});

describe('config error lines without a field value', () => {
  it('an unknown key names the config; a missing value names the field alone', () => {
    expect(() => parseRlConfig({ bogus: 1 })).toThrow(/^invalid config[^a-z]*: Unrecognized key/);
    expect(() => parseRlConfig({ seed: undefined })).toThrow(/^invalid seed: /);
  });
});

describe('rlLoss without on-policy tokens', () => {
  function stats(roles: number[], beta: number, ref?: number[]) {
    const n = roles.length;
    const batch: UpdateBatch = {
      B: 1,
      T: n + 1,
      ids: new Int32Array(n + 1),
      roles: Uint8Array.from(roles),
      oldLogps: new Float32Array(n),
      advantages: new Float32Array(n).fill(1),
      weights: new Float32Array(n).fill(1 / n),
      refLogps: ref ? Float32Array.from(ref) : undefined,
    };
    return tf.tidy(() => {
      const out = rlLoss(tf.tensor2d(Array(n).fill(Math.log(0.5)), [1, n]), batch, {
        epsLow: 0.2,
        epsHigh: 0.2,
        gamma: 0.1,
        beta,
      });
      return [out.loss, out.clipFraction, out.kl].map((x) => x.dataSync()[0]);
    });
  }

  beforeAll(async () => {
    await useBackend('wasm');
  });

  it('clip fraction and KL are 0, not NaN, when no token is on-policy', () => {
    const [loss, clipFraction, kl] = stats([ROLE.pg, ROLE.off], 0.5, [Math.log(0.1), Math.log(0.1)]);
    expect(clipFraction).toBe(0);
    expect(kl).toBe(0);
    // -1 * log 0.5 / 2 + -1 * (0.5/0.6) / 2
    expect(loss).toBeCloseTo((-Math.log(0.5) - 0.5 / 0.6) / 2, 5);
  });

  it('beta > 0 without reference log-probs adds no KL term', () => {
    const [loss, , kl] = stats([ROLE.on], 0.5);
    expect(kl).toBe(0);
    expect(loss).toBeCloseTo(-0.5, 5); // r = exp(log 0.5 - 0) = 0.5 inside the clip range: -r A
  });
});
