/**
 * The config the trainer runs on (issue 16): validation across fields, the error message, which
 * algorithms need the learned PRM, and what the trainer does with the PRM setting: a learned-PRM
 * method without a PRM is refused, the oracle PRM scores steps from the task's labels.
 */
import { describe, expect, it } from 'vitest';
import { renderCompletion } from '../src/core/format';
import { ALGOS, DEFAULT_RL, needsLearnedPrm, parseRlConfig } from '../src/core/rl/config';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask, arithTask } from '../src/core/tasks';
import { ScriptedPolicy, ScriptedPrm } from './support/scripted-services';

describe('parseRlConfig', () => {
  it('defaults, overrides and the registry order of the algorithms', () => {
    expect(parseRlConfig({})).toEqual(DEFAULT_RL);
    expect(parseRlConfig({ beta: 0.02, lossAgg: 'seq-mean-token-mean' })).toEqual({
      ...DEFAULT_RL,
      beta: 0.02,
      lossAgg: 'seq-mean-token-mean',
    });
    expect(ALGOS).toEqual([
      'grpo',
      'prm-dense',
      'luffy',
      'scope',
      'rrpo',
      'srpo',
      'sft-control',
      'scope-sft-control',
    ]);
  });

  it('names the first bad field and its value in one line', () => {
    expect(() => parseRlConfig({ tau: 1 })).toThrow(/^invalid tau 1: /);
    expect(() => parseRlConfig({ scaleRewards: 'seq' })).toThrow(/^invalid scaleRewards "seq": /);
    expect(() => parseRlConfig({ innerEpochs: 0 })).toThrow(/^invalid innerEpochs 0: /);
    expect(() => parseRlConfig({ epsHigh: -0.1 })).toThrow(/^invalid epsHigh -0.1: /);
  });

  it('cross-field rules: the split must exist for the task, edge evaluation needs edge splits, resets need even G', () => {
    expect(() => parseRlConfig({ task: 'arith', trainSplit: 'edge-train' })).toThrow(
      /^invalid trainSplit "edge-train": task arith has no split edge-train$/,
    );
    expect(parseRlConfig({ task: 'add', trainSplit: 'edge-train' }).trainSplit).toBe('edge-train');
    expect(() => parseRlConfig({ task: 'arith', edgeEvalN: 10 })).toThrow(
      /^invalid edgeEvalN 10: task arith has no edge splits$/,
    );
    expect(parseRlConfig({ task: 'arith', edgeEvalN: 0 }).edgeEvalN).toBe(0);
    expect(parseRlConfig({ task: 'add', edgeEvalN: 10 }).edgeEvalN).toBe(10);
    for (const algo of ['rrpo', 'srpo'])
      expect(() => parseRlConfig({ algo, groupSize: 5 })).toThrow(
        new RegExp(`^invalid groupSize 5: ${algo} splits G in two groups: G must be even$`),
      );
    expect(parseRlConfig({ algo: 'grpo', groupSize: 5 }).groupSize).toBe(5);
    expect(parseRlConfig({ algo: 'srpo', groupSize: 6 }).groupSize).toBe(6);
  });
});

describe('the learned PRM: who needs it', () => {
  it('the PRM methods with prmMode learned, nobody with the oracle', () => {
    const needs = (algo: string, prmMode = 'learned') => needsLearnedPrm(parseRlConfig({ algo, prmMode }));
    expect(ALGOS.filter((a) => needs(a))).toEqual(['prm-dense', 'scope', 'scope-sft-control']);
    expect(ALGOS.filter((a) => needs(a, 'oracle'))).toEqual([]);
  });

  it('the trainer refuses a learned-PRM method without a PRM, and accepts it with the oracle', () => {
    const policy = new ScriptedPolicy(() => '>0.');
    expect(() => new Trainer(addTask, parseRlConfig({ algo: 'scope' }), policy, null)).toThrow(
      /^scope needs a PRM$/,
    );
    expect(
      () => new Trainer(addTask, parseRlConfig({ algo: 'scope', prmMode: 'oracle' }), policy, null),
    ).not.toThrow();
    expect(() => new Trainer(addTask, parseRlConfig({ algo: 'grpo' }), policy, null)).not.toThrow();
  });

  it('prmMode oracle scores each step 1/0 from the task labels and never asks the PRM', async () => {
    const cfg = parseRlConfig({
      algo: 'prm-dense',
      prmMode: 'oracle',
      promptsPerIter: 1,
      groupSize: 2,
      prmLambda: 1,
    });
    const p = addTask.sample(new Rng(`rl/add/prm-dense/${cfg.seed}`), 'train');
    const sol = addTask.solve(p);
    const wrong = renderCompletion([sol[0], '9+9+9=27', ...sol.slice(2)]); // step 2 invalid, then all
    const prm = new ScriptedPrm(() => {
      throw new Error('the oracle mode must not ask the PRM');
    });
    const policy = new ScriptedPolicy((_r, i) => (i === 0 ? renderCompletion(sol) : wrong));
    const { rollouts } = await new Trainer(addTask, cfg, policy, prm).step();
    expect(rollouts[0].prmScores).toEqual(sol.map(() => 1));
    expect(rollouts[1].prmScores).toEqual([1, ...sol.slice(1).map(() => 0)]);
    // The wrong one still has the right answer: outcome 1, plus lambda * mean(1, 0, ...).
    expect(rollouts[1].reward).toBeCloseTo(1 + 1 / sol.length, 12);
    expect(rollouts[1].oracleFirstError).toBe(2);
    expect(rollouts[0].oracleFirstError).toBe(0);
    expect(rollouts[1].oracle).toEqual([true, ...sol.slice(1).map(() => false)]);
  });
});

describe('the trainer on the arith task', () => {
  it('uses the task it is given (tokenizer, problems, reward)', async () => {
    const cfg = parseRlConfig({ task: 'arith', algo: 'grpo', promptsPerIter: 1, groupSize: 2 });
    const p = arithTask.sample(new Rng(`rl/arith/grpo/${cfg.seed}`), 'train');
    const policy = new ScriptedPolicy((_r, i) => (i === 0 ? renderCompletion(arithTask.solve(p)) : '>0.'));
    const { rollouts } = await new Trainer(arithTask, cfg, policy, null).step();
    expect(policy.requests[0].map((r) => r.prompt)).toEqual([p.prompt, p.prompt]);
    expect(rollouts.map((r) => r.reward)).toEqual([1, p.answer === '0' ? 1 : 0]);
  });
});
