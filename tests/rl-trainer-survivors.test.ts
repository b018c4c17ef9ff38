/**
 * Tests written against the mutants that survived the first mutation run of the RL core (issue 16,
 * docs/testing.md): phase timing of every algorithm, which rollouts count as truncated, the
 * per-prompt choices of the resets and SCOPE with two prompts, the teacher's path after a prefix
 * (a non-leftmost arith order, an invalid prefix longer than the solution), PRM false accepts with a
 * partly valid prefix, and the token-matched control with nothing to train.
 */
import { describe, expect, it } from 'vitest';
import { parseCompletion, renderCompletion } from '../src/core/format';
import { teacherPath } from '../src/core/rl/algos/scope';
import { ALGOS, parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask, arithTask } from '../src/core/tasks';
import type { Problem } from '../src/core/tasks/types';
import { ScriptedPolicy, ScriptedPrm } from './support/scripted-services';

const cfgOf = (over: Partial<RlConfig>) =>
  parseRlConfig({ seed: 1, promptsPerIter: 1, groupSize: 4, ...over });
function problemsOf(cfg: RlConfig): Problem[] {
  const rng = new Rng(`rl/${cfg.task}/${cfg.algo}/${cfg.seed}`);
  return Array.from({ length: cfg.promptsPerIter }, () => addTask.sample(rng, 'train'));
}
const teacher = (p: Problem) => renderCompletion(addTask.solve(p));

describe('phase timing', () => {
  it('every algorithm reports exactly the five phases, each between 0 and the wall time of the step', async () => {
    for (const algo of ALGOS) {
      const cfg = cfgOf({ algo, prmMode: 'oracle', groupSize: 4 });
      const [p] = problemsOf(cfg);
      const sol = addTask.solve(p);
      const policy = new ScriptedPolicy((req, i) =>
        req.completionPrefix === undefined
          ? i % 2 === 0
            ? teacher(p)
            : renderCompletion([sol[0], '9+9+9=27', '>1'])
          : renderCompletion(sol.slice(parseCompletion(req.completionPrefix).steps.length)),
      );
      const t0 = performance.now();
      const { metrics } = await new Trainer(addTask, cfg, policy, null).step();
      const wall = performance.now() - t0;
      expect(Object.keys(metrics.timeMs).sort(), algo).toEqual([
        'generate',
        'prm',
        'rectify',
        'total',
        'update',
      ]);
      for (const [phase, ms] of Object.entries(metrics.timeMs)) {
        expect(ms, `${algo} ${phase}`).toBeGreaterThanOrEqual(0);
        expect(ms, `${algo} ${phase}`).toBeLessThanOrEqual(wall + 1);
      }
      const { generate, prm, rectify, update, total } = metrics.timeMs;
      expect(generate + prm + rectify + update, algo).toBeLessThanOrEqual(total + 1e-6);
    }
  });
});

describe('truncation counts only the policy rollouts', () => {
  it("LUFFY: a teacher solution (always finished) does not dilute the policy's truncation ratio", async () => {
    const cfg = cfgOf({ algo: 'luffy' });
    const [p] = problemsOf(cfg); // 777+86 = 863
    const policy = new ScriptedPolicy((_r, i) => ['>1.', '>0', '>863.', '>863.'][i]);
    const { metrics, rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    expect(rollouts[0].completion).toBe(teacher(p));
    // Policy rollouts left: '>0' (no EOS), '>863.', '>863.' -> 1/3.
    expect(metrics.truncationRatio).toBeCloseTo(1 / 3, 12);
  });
});

describe('prm-dense reports the diversity of its samples', () => {
  it('distinct step sequences per group / G', async () => {
    const cfg = cfgOf({ algo: 'prm-dense', prmMode: 'oracle' });
    const policy = new ScriptedPolicy((_r, i) => ['>1.', '>1.', '>2.', '>3.'][i]);
    const { metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.diversity).toBe(0.75);
  });
});

describe('resets with two prompts: parents and group A per prompt', () => {
  it("a failure of prompt 0 is never prompt 1's parent, and group A holds only its prompt's samples", async () => {
    const cfg = cfgOf({ algo: 'rrpo', promptsPerIter: 2, resetMaxAttempts: 1 });
    const [p0, p1] = problemsOf(cfg);
    // First draw (H + 1 = 3 each): prompt 0 [fail, ok, ok]; prompt 1 [ok, ok, ok]. No search.
    const policy = new ScriptedPolicy((req, i) => {
      if (req.completionPrefix !== undefined) return '>0.';
      return i === 0 ? '>0.' : teacher(req.prompt === p0.prompt ? p0 : p1);
    });
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.resetParents).toBe(1);
    // Group B of prompt 0 resets from '>0.'; prompt 1 has no parent: H plain samples join its group A.
    expect(policy.requests[1].map((r) => [r.prompt, r.completionPrefix])).toEqual([
      [p0.prompt, ''],
      [p0.prompt, ''],
      [p1.prompt, ''],
      [p1.prompt, ''],
    ]);
    const byGroup = (g: number) =>
      rollouts.filter((r) => r.group === g).map((r) => [r.problem.prompt, r.origin]);
    expect(byGroup(0)).toEqual([
      [p0.prompt, 'sample'],
      [p0.prompt, 'sample'],
    ]);
    expect(byGroup(1)).toEqual([
      [p0.prompt, 'reset'],
      [p0.prompt, 'reset'],
    ]);
    expect(byGroup(2)).toEqual(Array(4).fill([p1.prompt, 'sample']));
    // The reset rollouts of an empty prefix have one segment, the policy's.
    for (const r of rollouts.filter((x) => x.origin === 'reset'))
      expect(r.segments.map((s) => s.role)).toEqual(['on']);
  });

  it('RRPO from a parent without a terminated step: k = 1, no draw from an empty range', async () => {
    const cfg = cfgOf({ algo: 'rrpo' });
    const [p] = problemsOf(cfg);
    const policy = new ScriptedPolicy((req, i) =>
      req.completionPrefix === undefined ? [teacher(p), '9+9', teacher(p)][i] : '>0.',
    );
    const { metrics, rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.resetK).toBe(1);
    expect(rollouts.filter((r) => r.origin === 'reset').map((r) => r.segments.length)).toEqual([1, 1]);
  });
});

describe('SCOPE with two prompts', () => {
  it('each group rectifies only its own failures', async () => {
    const cfg = cfgOf({ algo: 'scope', prmMode: 'oracle', promptsPerIter: 2, rectifyCap: 2 });
    const [p0, p1] = problemsOf(cfg);
    const sol0 = addTask.solve(p0);
    const wrong0 = renderCompletion([...sol0.slice(0, 2), '9+9+9=27', '>1']);
    const policy = new ScriptedPolicy((req, i) => {
      if (req.completionPrefix !== undefined)
        return renderCompletion(sol0.slice(parseCompletion(req.completionPrefix).steps.length));
      return i === 1 ? wrong0 : teacher(req.prompt === p0.prompt ? p0 : p1);
    });
    const { metrics, rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    expect(metrics.rectifications).toBe(1);
    expect(rollouts.filter((r) => r.origin === 'rectified').map((r) => r.group)).toEqual([0]);
    expect(policy.requests[1]).toHaveLength(1);
  });

  it('a kept prefix with a valid step and an invalid one is a PRM false accept', async () => {
    // The PRM passes steps 1-2 and flags step 3 (k = 3); the oracle finds step 2 invalid.
    const cfg = cfgOf({ algo: 'scope', prmMode: 'learned' });
    const [p] = problemsOf(cfg);
    const sol = addTask.solve(p);
    const bad = renderCompletion([sol[0], '9+9+9=27', sol[2], sol[3], '>1']);
    const prm = new ScriptedPrm((c) => parseCompletion(c).steps.map((_, i) => (i < 2 ? 0.9 : 0.1)));
    const policy = new ScriptedPolicy((req) => (req.completionPrefix === undefined ? bad : '>1.'));
    const { metrics, rollouts } = await new Trainer(addTask, cfg, policy, prm).step();
    expect(metrics.prmFalseAccepts).toBe(1);
    expect(rollouts[0].rectification!.prmFalseAccept).toBe(true);
    expect(rollouts[0].rectification!.k).toBe(3);
  });
});

describe("the teacher's path after a kept prefix", () => {
  it('arith: continues from the policy order, not the leftmost one', () => {
    const p = { prompt: '2*3+4*5', answer: '26' };
    expect(teacherPath(arithTask, p, ['4*5=20'])).toEqual(['2*3=6', '6+20=26', '>26']);
  });

  it('add: an invalid prefix longer than the solution gets the answer step', () => {
    const p = { prompt: '47+85', answer: '132' }; // 7+5+0=12;4+8+1=13;>132
    expect(teacherPath(addTask, p, ['7+5+0=12', '9+9+9=27', '1+1+1=3'])).toEqual(['>132']);
    // Shorter invalid prefix: the true step k onwards.
    expect(teacherPath(addTask, p, ['7+5+0=13'])).toEqual(['4+8+1=13', '>132']);
  });
});

describe('scope-sft-control with nothing to train', () => {
  it('all samples correct: one fully masked row of the first sample, advantage 0, no trained token', async () => {
    const cfg = cfgOf({ algo: 'scope-sft-control', prmMode: 'oracle' });
    const [p] = problemsOf(cfg);
    const policy = new ScriptedPolicy(() => teacher(p));
    const { rollouts, metrics } = await new Trainer(addTask, cfg, policy, null).step();
    expect(rollouts).toHaveLength(1);
    expect(rollouts[0].origin).toBe('sample');
    expect(rollouts[0].advantage).toBe(0);
    expect(rollouts[0].segments).toEqual([{ text: teacher(p), role: 'masked' }]);
    expect(metrics.trainedTokens).toBe(0);
    expect(Array.from(policy.updates[0].weights).every((w) => w === 0)).toBe(true);
    expect(metrics.rectifications).toBe(0);
  });

  it('a rectification trains a teacher-origin row', async () => {
    const cfg = cfgOf({ algo: 'scope-sft-control', prmMode: 'oracle' });
    const [p] = problemsOf(cfg);
    const sol = addTask.solve(p);
    const policy = new ScriptedPolicy((_r, i) =>
      i === 0 ? renderCompletion([sol[0], '9+9+9=27', '>1']) : teacher(p),
    );
    const { rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    expect(rollouts.map((r) => r.origin)).toEqual(['teacher']);
    expect(rollouts[0].segments.map((s) => s.role)).toEqual(['masked', 'off']);
  });
});
