/**
 * The last non-equivalent survivors of the RL core's mutation run (docs/testing.md): the zero-std
 * boundary of the group metric, the first failure of a parent search batch, and the in-process PRM
 * service passing the model's scores through.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel, PrmModel } from '../src/core/agents';
import { renderCompletion } from '../src/core/format';
import { zeroStdGroupFrac } from '../src/core/rl/algos/common';
import type { Rollout } from '../src/core/rl/algos/types';
import { parseRlConfig } from '../src/core/rl/config';
import { LocalPrmService } from '../src/core/rl/services';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { ScriptedPolicy } from './support/scripted-services';

describe('zeroStdGroupFrac', () => {
  it('a group counts as zero-std only below 1e-8 (std exactly 1e-8 has a signal)', () => {
    const of = (group: number, reward: number) => ({ group, reward }) as Rollout;
    // Group 0: [0, 2e-8] has population std exactly 1e-8; group 1: [1, 1] has 0.
    expect(zeroStdGroupFrac([of(0, 0), of(0, 2e-8), of(1, 1), of(1, 1)])).toBe(0.5);
  });
});

describe('parent search', () => {
  it('the first failure of a search batch becomes the parent, not a later one', async () => {
    const cfg = parseRlConfig({
      algo: 'rrpo',
      seed: 1,
      promptsPerIter: 1,
      groupSize: 4,
      resetMaxAttempts: 2,
    });
    const p = addTask.sample(new Rng(`rl/add/rrpo/${cfg.seed}`), 'train');
    const ok = renderCompletion(addTask.solve(p));
    // First draw all correct; the search batch (H = 2) has two different failures.
    const policy = new ScriptedPolicy((req, i, call) =>
      req.completionPrefix !== undefined ? '>0.' : call === 1 ? ['>1.', '>2.'][i] : ok,
    );
    const { rollouts } = await new Trainer(addTask, cfg, policy, null).step();
    const reset = rollouts.filter((r) => r.origin === 'reset');
    expect(reset.map((r) => r.reset!.parentCompletion)).toEqual(['>1.', '>1.']);
  });
});

describe('LocalPrmService', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  it("passes the model's step scores through", async () => {
    const policy = PolicyModel.create(addTask, 3, { nLayer: 1, dModel: 32, nHead: 2, dMlp: 64 });
    const prm = PrmModel.fromPolicy(policy, 4);
    const items = [{ prompt: '47+85', completion: '7+5+0=12;4+8+1=13;>132.' }];
    const want = await prm.scoreSteps(items);
    expect(want[0]).toHaveLength(3);
    expect(await new LocalPrmService(prm).scoreSteps(items)).toEqual(want);
    policy.dispose();
    prm.dispose();
  });
});
