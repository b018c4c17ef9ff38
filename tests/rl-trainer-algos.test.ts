/**
 * Each algorithm's defining step through the real Trainer, on hand-made iterations (issue 16):
 * LUFFY's replacement, prm-dense's reward, the resets' parents, reset points, masks and groups,
 * SCOPE's location metrics, cap, tau and kept originals. The policy and the PRM are scripted
 * (tests/support), so every expected number is computed by hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import { parseCompletion, renderCompletion, stepPrefix } from '../src/core/format';
import { ROLE } from '../src/core/rl/batch';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask } from '../src/core/tasks';
import type { Problem } from '../src/core/tasks/types';
import { rowOf, ScriptedPolicy, ScriptedPrm } from './support/scripted-services';

const cfgOf = (over: Partial<RlConfig>) =>
  parseRlConfig({ seed: 1, promptsPerIter: 1, groupSize: 4, ...over });
/** The trainer's problems for a config (it draws them from its own seeded RNG). */
function problemsOf(cfg: RlConfig): Problem[] {
  const rng = new Rng(`rl/${cfg.task}/${cfg.algo}/${cfg.seed}`);
  return Array.from({ length: cfg.promptsPerIter }, () => addTask.sample(rng, 'train'));
}
const teacher = (p: Problem) => renderCompletion(addTask.solve(p));
const close = (got: number[], want: number[], digits = 9) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    expect(g).toBeCloseTo(want[i], digits);
  });
};

describe('LUFFY: the first failure of each group is replaced by the teacher solution', () => {
  // Problems 777+86 (= 863) and 148+77 (= 225).
  const cfg = cfgOf({ algo: 'luffy', promptsPerIter: 2 });
  const [p0, p1] = problemsOf(cfg);
  const fresh = ['>0.', '>863.', '>1.', '>0.', '>225.', '>225.', '>225.', '>225.'];

  it('which rollouts are replaced, their roles and the advantages over the mixed group', async () => {
    expect([p0.answer, p1.answer]).toEqual(['863', '225']);
    const policy = new ScriptedPolicy((_r, i) => fresh[i]);
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    // Group 0: index 0 (the first failure) becomes the teacher's solution; '>1.' and '>0.' stay.
    expect(rollouts.map((r) => r.origin)).toEqual(['teacher', ...Array(7).fill('sample')]);
    expect(rollouts.map((r) => r.completion)).toEqual([teacher(p0), ...fresh.slice(1)]);
    expect(rollouts[0].segments).toEqual([{ text: teacher(p0), role: 'off' }]);
    expect(rollouts.map((r) => r.group)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    // Rewards [1,1,0,0 | 1,1,1,1]: +-0.5/(0.5 + 1e-6) in group 0; group 1 has no failure, all 0.
    const a = 0.5 / (0.5 + 1e-6);
    close(
      rollouts.map((r) => r.advantage),
      [a, a, -a, -a, 0, 0, 0, 0],
    );
    // Every teacher token is off-policy (no behaviour log-prob), every sampled one on-policy.
    const batch = policy.updates[0];
    const n = teacher(p0).length;
    expect(rowOf(batch.roles, batch, 0, p0.prompt.length, n)).toEqual(Array(n).fill(ROLE.off));
    expect(rowOf(batch.oldLogps, batch, 0, p0.prompt.length, n)).toEqual(Array(n).fill(0));
    expect(rowOf(batch.roles, batch, 1, p0.prompt.length, 5)).toEqual(Array(5).fill(ROLE.on));
    // Metrics of the policy's own samples (before replacement) and of what was trained.
    expect(metrics.rewardMean).toBe(5 / 8);
    expect(metrics.trainRewardMean).toBe(6 / 8);
    expect(metrics.diversity).toBe((3 / 4 + 1 / 4) / 2); // sampled: {>0, >863, >1} and {>225}
    expect(metrics.truncationRatio).toBe(0); // over the policy's rollouts only
  });
});

describe('prm-dense: r = outcome + lambda * mean PRM step score', () => {
  // Problem 512+1882 (= 2394); solution 2+2+0=4;1+8+0=9;5+8+0=13;0+1+1=2;>2394.
  const scores: Record<string, number[]> = {
    '2+2+0=4;1+8+0=9;5+8+0=13;0+1+1=2;>2394.': [1, 0.8, 0.6, 0.4, 0.2], // mean 0.6
    '2+2+0=4;1+8+0=8;>2393.': [0.9, 0.3, 0], // mean 0.4
    '>0.': [0.5],
    '2+2+0': [], // no terminated step: mean of none = 0
  };
  const fresh = Object.keys(scores);

  async function run(over: Partial<RlConfig>) {
    const cfg = cfgOf({ algo: 'prm-dense', prmMode: 'learned', prmLambda: 0.5, ...over });
    expect(problemsOf(cfg)[0].answer).toBe('2394');
    const policy = new ScriptedPolicy((_r, i) => fresh[i]);
    const prm = new ScriptedPrm((c) => scores[c]);
    const out = await new Trainer(addTask, cfg, policy, prm).step();
    return { ...out, policy, prm };
  }

  it('the shaped rewards and their advantages (scaleRewards none), on every trained token', async () => {
    const { rollouts, metrics, policy, prm } = await run({ scaleRewards: 'none' });
    // 1 + 0.5*0.6 = 1.3; 0 + 0.5*0.4 = 0.2; 0 + 0.5*0.5 = 0.25; 0 + 0.
    close(
      rollouts.map((r) => r.reward),
      [1.3, 0.2, 0.25, 0],
      12,
    );
    // mean 0.4375
    const adv = [0.8625, -0.2375, -0.1875, -0.4375];
    close(
      rollouts.map((r) => r.advantage),
      adv,
      12,
    );
    const batch = policy.updates[0];
    fresh.forEach((c, b) => {
      const row = rowOf(batch.advantages, batch, b, '512+1882'.length, c.length);
      row.forEach((x) => {
        expect(x).toBeCloseTo(adv[b], 6);
      });
    });
    // The PRM scored every sample (not only failures), by prompt and completion.
    expect(prm.asked).toEqual([fresh.map((completion) => ({ prompt: '512+1882', completion }))]);
    expect(rollouts.map((r) => r.prmScores)).toEqual(fresh.map((c) => scores[c]));
    expect(metrics.rewardMean).toBe(0.25); // the 0/1 outcome
    expect(metrics.trainRewardMean).toBeCloseTo(1.75 / 4, 12);
  });

  it("group scaling divides by the shaped rewards' std", async () => {
    const { rollouts } = await run({ scaleRewards: 'group' });
    const s = Math.sqrt((0.8625 ** 2 + 0.2375 ** 2 + 0.1875 ** 2 + 0.4375 ** 2) / 4) + 1e-6;
    close(
      rollouts.map((r) => r.advantage),
      [0.8625 / s, -0.2375 / s, -0.1875 / s, -0.4375 / s],
    );
  });

  it('lambda = 0 is plain GRPO on the outcome', async () => {
    const { rollouts } = await run({ prmLambda: 0, scaleRewards: 'none' });
    close(
      rollouts.map((r) => r.reward),
      [1, 0, 0, 0],
      12,
    );
  });
});

describe('RRPO / SRPO', () => {
  it('no failure in any attempt: G plain samples as one group, parent search bounded by resetMaxAttempts', async () => {
    const cfg = cfgOf({ algo: 'rrpo', resetMaxAttempts: 3 });
    const [p] = problemsOf(cfg);
    const policy = new ScriptedPolicy(() => teacher(p));
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    // First draw H+1 = 3, two more searches of H = 2, then H = 2 plain samples for group B's slots.
    expect(policy.requests.map((r) => r.length)).toEqual([3, 2, 2, 2]);
    expect(policy.requests[3].every((r) => r.completionPrefix === '')).toBe(true);
    expect(rollouts).toHaveLength(4);
    expect(rollouts.every((r) => r.group === 0 && r.origin === 'sample' && !r.reset)).toBe(true);
    expect(rollouts.every((r) => r.advantage === 0)).toBe(true);
    expect(metrics.resetParents).toBe(0);
    expect(metrics.resetK).toBeNull();
    expect(metrics.resetSuffixReward).toBeNull();
    expect(metrics.rewardMean).toBe(1); // the first draw
  });

  it('a parent found in the search (not the first draw) is used, with its own group index', async () => {
    const cfg = cfgOf({ algo: 'rrpo', promptsPerIter: 2, resetMaxAttempts: 4 });
    const [p0, p1] = problemsOf(cfg);
    const wrong1 = '>0.';
    // First draw: all correct for both prompts. Search 1: prompt 1 fails. Search 2: prompt 0 fails.
    const policy = new ScriptedPolicy((req, i, call) => {
      const p = req.prompt === p0.prompt ? p0 : p1;
      if (req.completionPrefix !== undefined) return teacher(p).slice(req.completionPrefix.length);
      if (call === 1 && p === p1 && i % 2 === 1) return wrong1;
      if (call === 2 && p === p0) return wrong1;
      return teacher(p);
    });
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    // The search stops once both have parents: first draw, search 1 (2 prompts), search 2 (prompt 0 only).
    expect(policy.requests.map((r) => r.length)).toEqual([6, 4, 2, 4]);
    expect(policy.requests[2].every((r) => r.prompt === p0.prompt)).toBe(true);
    expect(metrics.resetParents).toBe(2);
    // A parent '>0.' has one step: the reset point is k = 1, the prefix empty.
    const b = rollouts.filter((r) => r.origin === 'reset');
    expect(b.map((r) => r.group)).toEqual([1, 1, 3, 3]);
    expect(
      b.every((r) => r.reset!.k === 1 && r.reset!.prefix === '' && r.reset!.parentCompletion === wrong1),
    ).toBe(true);
    expect(metrics.resetK).toBe(1);
    expect(metrics.resetSuffixReward).toBe(1);
  });

  it('SRPO resets at the first step with a token below pMin; the prefix is masked, the suffix pg', async () => {
    const cfg = cfgOf({ algo: 'srpo', seed: 2, pMin: 0.2 });
    const [p] = problemsOf(cfg); // 39+333 = 372: 9+3+0=12;3+3+1=7;0+3+0=3;>372.
    const sol = addTask.solve(p);
    const parent = renderCompletion([sol[0], sol[1], sol[2], '>371']);
    // Token log-probs: all log 0.9 except one token of step 3 at log 0.1 (< log 0.2), and step 2's
    // terminator at log 0.25 (above pMin, so step 2 is not chosen).
    const step3At = (sol[0] + sol[1]).length + 2 + 1;
    const logps = (text: string) =>
      Array.from(text, (_, j) =>
        text === parent && j === step3At
          ? Math.log(0.1)
          : text === parent && j === sol[0].length + sol[1].length + 1
            ? Math.log(0.25)
            : Math.log(0.9),
      );
    const policy = new ScriptedPolicy((req, i) => {
      if (req.completionPrefix === undefined) return i === 0 ? parent : teacher(p);
      const done = parseCompletion(req.completionPrefix).steps.length;
      return i === 0 ? renderCompletion(sol.slice(done)) : '>0.';
    }, logps);
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    const prefix = stepPrefix(sol.slice(0, 2), 2);
    expect(metrics.resetK).toBe(3);
    expect(policy.requests[1].map((r) => r.completionPrefix)).toEqual([prefix, prefix]);
    const groupB = rollouts.filter((r) => r.origin === 'reset');
    expect(groupB.map((r) => r.completion)).toEqual([
      prefix + renderCompletion(sol.slice(2)),
      `${prefix}>0.`,
    ]);
    // Group A (the 2 correct first-draw samples) has no signal; group B [1, 0] -> +-1 (std 0.5, no eps).
    expect(rollouts.map((r) => r.advantage)).toEqual([0, 0, 1, -1]);
    const batch = policy.updates[0];
    const start = p.prompt.length;
    expect(rowOf(batch.roles, batch, 2, start, prefix.length)).toEqual(
      Array(prefix.length).fill(ROLE.masked),
    );
    const sufLen = groupB[0].completion.length - prefix.length;
    expect(rowOf(batch.roles, batch, 2, start + prefix.length, sufLen)).toEqual(Array(sufLen).fill(ROLE.pg));
    // Group A's whole completions are trained too (pg); the token-mean counts only trained tokens.
    const lenA = teacher(p).length;
    expect(rowOf(batch.roles, batch, 0, start, lenA)).toEqual(Array(lenA).fill(ROLE.pg));
    const total = 2 * lenA + sufLen + 3;
    expect(Array.from(batch.weights).filter((w) => w !== 0)).toEqual(
      Array(total).fill(Math.fround(1 / total)),
    );
    expect(metrics.resetSuffixReward).toBe(0.5);
    expect(metrics.resetParents).toBe(1);
  });

  it('SRPO without a doubtful token: the step with the lowest mean log-prob', async () => {
    const cfg = cfgOf({ algo: 'srpo', seed: 2, pMin: 0.2 });
    const [p] = problemsOf(cfg);
    const sol = addTask.solve(p);
    const parent = renderCompletion([sol[0], sol[1], sol[2], '>371']);
    // Step 2's tokens (with its terminator) at log 0.3, the rest at log 0.9.
    const s2 = [sol[0].length + 1, sol[0].length + sol[1].length + 1];
    const logps = (text: string) =>
      Array.from(text, (_, j) =>
        text === parent && j >= s2[0] && j <= s2[1] ? Math.log(0.3) : Math.log(0.9),
      );
    const policy = new ScriptedPolicy(
      (req, i) => (req.completionPrefix === undefined && i === 0 ? parent : '>0.'),
      logps,
    );
    const { metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.resetK).toBe(2);
  });

  it('resetClipped trains every token with the clipped surrogate (role on) instead of -A log p', async () => {
    const cfg = cfgOf({ algo: 'rrpo', resetClipped: true });
    const [p] = problemsOf(cfg);
    const policy = new ScriptedPolicy((req, i) =>
      req.completionPrefix === undefined && i === 1 ? '>0.' : teacher(p),
    );
    await new Trainer(addTask, cfg, policy, null).step();
    const batch = policy.updates[0];
    const trained = Array.from(batch.roles).filter((r) => r !== ROLE.masked);
    expect(new Set(trained)).toEqual(new Set([ROLE.on]));
  });
});

describe('SCOPE: location metrics, the cap, tau and kept originals', () => {
  // Problem 753+6066 (= 6819): 3+6+0=9;5+6+0=11;7+0+1=8;0+6+0=6;>6819.
  const cfg0 = cfgOf({ algo: 'scope', prmMode: 'learned' });
  const [p] = problemsOf(cfg0);
  const sol = addTask.solve(p);
  const wrongAt = (k: number) => renderCompletion([...sol.slice(0, k - 1), '9+9+9=27', '>1.']);
  /** Fresh: correct, wrong at 3, wrong at 2, wrong at 4; PRM scores 0.9 before the error, then 0.1. */
  const fresh = [teacher(p), wrongAt(3), wrongAt(2), wrongAt(4)];
  const prmOf = (tauScore = 0.1) =>
    new ScriptedPrm((c) => {
      const labels = addTask.checkSteps(p, parseCompletion(c).steps);
      return labels.map((ok) => (ok ? 0.9 : tauScore));
    });
  const policyOf = () =>
    new ScriptedPolicy((req, i) =>
      req.completionPrefix === undefined
        ? fresh[i]
        : renderCompletion(sol.slice(parseCompletion(req.completionPrefix).steps.length)),
    );

  it('first error metrics, the PRM asked only about failures, cap 2 picks the two largest k', async () => {
    const cfg = cfgOf({ algo: 'scope', prmMode: 'learned', rectifyCap: 2 });
    expect(p.answer).toBe('6819');
    const policy = policyOf();
    const prm = prmOf();
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, prm).step();
    expect(prm.asked).toHaveLength(1);
    expect(prm.asked[0].map((x) => x.completion)).toEqual(fresh.slice(1));
    // Failures: k = 3 (of 4 steps), 2 (of 3), 4 (of 5): mean 3, relative (3/4 + 2/3 + 4/5)/3.
    expect(metrics.firstErrorPos).toBe(3);
    expect(metrics.firstErrorRel).toBeCloseTo((3 / 4 + 2 / 3 + 4 / 5) / 3, 12);
    expect(metrics.prmFirstErrorAcc).toBe(1);
    expect(metrics.prmFalseAccepts).toBe(0);
    // Cap 2: k = 4 and k = 3 (largest first); the k = 2 failure stays as sampled.
    expect(rollouts.map((r) => r.origin)).toEqual(['sample', 'rectified', 'sample', 'rectified']);
    expect(rollouts.map((r) => r.rectification?.k)).toEqual([undefined, 3, undefined, 4]);
    expect(metrics.rectifications).toBe(2);
    expect(metrics.salvaged).toBe(2);
    expect(policy.requests[1].map((r) => r.completionPrefix)).toEqual([
      stepPrefix(sol.slice(0, 3), 3) + sol[3] + ';',
      stepPrefix(sol.slice(0, 2), 2) + sol[2] + ';',
    ]);
  });

  it('the default cap is ceil(G/4): G = 4 -> 1 rectification, G = 5 -> 2', async () => {
    for (const [G, want] of [
      [4, 1],
      [5, 2],
    ]) {
      const cfg = cfgOf({ algo: 'scope', prmMode: 'learned', groupSize: G });
      const policy = new ScriptedPolicy((req, i) =>
        req.completionPrefix === undefined
          ? [...fresh, wrongAt(3)][i]
          : renderCompletion(sol.slice(parseCompletion(req.completionPrefix).steps.length)),
      );
      const { metrics } = await new Trainer(addTask, cfg, policy, prmOf()).step();
      expect(metrics.rectifications).toBe(want);
    }
  });

  it('tau decides what is an error: no score below tau -> the lowest-scored step', async () => {
    // Scores 0.9 / 0.45: with tau 0.5 the error is at 0.45; with tau 0.4 nothing is below it and
    // the argmin is the same step, so the first errors are unchanged...
    const cfgHi = cfgOf({ algo: 'scope', prmMode: 'learned', rectifyCap: 3, tau: 0.5 });
    const a = await new Trainer(addTask, cfgHi, policyOf(), prmOf(0.45)).step();
    const cfgLo = cfgOf({ algo: 'scope', prmMode: 'learned', rectifyCap: 3, tau: 0.4 });
    const b = await new Trainer(addTask, cfgLo, policyOf(), prmOf(0.45)).step();
    expect(a.metrics.firstErrorPos).toBe(3);
    expect(b.metrics.firstErrorPos).toBe(3);
    // ...but with tau above 0.9 every step is an error: k = 1 for all, nothing to rectify.
    const cfgAll = cfgOf({ algo: 'scope', prmMode: 'learned', tau: 0.95 });
    const c = await new Trainer(addTask, cfgAll, policyOf(), prmOf(0.45)).step();
    expect(c.metrics.firstErrorPos).toBe(1);
    expect(c.metrics.rectifications).toBe(0);
  });

  it('scopeKeepOriginal keeps the failure beside its rectified version (G + 1 rollouts, same group)', async () => {
    const cfg = cfgOf({ algo: 'scope', prmMode: 'learned', scopeKeepOriginal: true });
    const { rollouts } = await new Trainer(addTask, cfg, policyOf(), prmOf()).step();
    expect(rollouts.map((r) => r.origin)).toEqual(['sample', 'sample', 'sample', 'sample', 'rectified']);
    expect(rollouts[4].rectification!.originalCompletion).toBe(wrongAt(4));
    expect(rollouts.every((r) => r.group === 0)).toBe(true);
    // Rewards [1, 0, 0, 0, 1]: mean 0.4, std sqrt(0.24).
    const s = Math.sqrt(0.24) + 1e-6;
    close(
      rollouts.map((r) => r.advantage),
      [0.6 / s, -0.4 / s, -0.4 / s, -0.4 / s, 0.6 / s],
    );
  });

  it("the rectified rollout's tokens: own prefix on (own log-probs), teacher step off, continuation on", async () => {
    const policy = policyOf();
    const { rollouts } = await new Trainer(addTask, cfg0, policy, prmOf()).step();
    const b = rollouts.findIndex((r) => r.origin === 'rectified');
    const r = rollouts[b];
    expect(r.rectification!.k).toBe(4);
    const prefix = stepPrefix(sol.slice(0, 3), 3);
    const corrected = `${sol[3]};`;
    const cont = renderCompletion(sol.slice(4));
    expect(r.segments.map((s) => [s.text, s.role])).toEqual([
      [prefix, 'on'],
      [corrected, 'off'],
      [cont, 'on'],
    ]);
    expect(r.rectification!.original).toBe('9+9+9=27');
    expect(r.rectification!.corrected).toBe(sol[3]);
    expect(r.rectification!.continuation).toBe(cont);
    const batch = policy.updates[0];
    const at = p.prompt.length;
    expect(rowOf(batch.roles, batch, b, at)).toEqual([
      ...Array(prefix.length).fill(ROLE.on),
      ...Array(corrected.length).fill(ROLE.off),
      ...Array(cont.length).fill(ROLE.on),
      ...Array(batch.T - 1 - at - r.completion.length).fill(ROLE.masked),
    ]);
    const olds = rowOf(batch.oldLogps, batch, b, at, r.completion.length);
    close(
      olds,
      [
        ...Array.from(prefix, (_, j) => Math.fround(-0.01 * (j + 1))),
        ...Array(corrected.length).fill(0),
        ...Array.from(cont, (_, j) => Math.fround(-0.01 * (j + 1))),
      ],
      7,
    );
  });
});
