/**
 * Non-finite loss or gradients (issue 9, item 5), injected through the Trainer's test hook: the
 * update is skipped, counted per iteration and in the run summary, the weights and the optimizer
 * state stay exactly as they were, and training goes on.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel } from '../src/core/agents';
import { parseRlConfig } from '../src/core/rl/config';
import { faultAt, parseFaultInjection } from '../src/core/rl/faults';
import { runTraining } from '../src/core/rl/run';
import { LocalPolicyService } from '../src/core/rl/services';
import { type IterationMetrics, Trainer } from '../src/core/rl/trainer';
import { addTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';

beforeAll(async () => {
  await useBackend('wasm');
});

/** Every weight and Adam moment of the policy, copied to the host. */
async function snapshot(policy: PolicyModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of policy.params) out.set(name, p.dataSync() as Float32Array);
  for (const { name, data } of await policy.opt.readState()) out.set(name, data);
  return out;
}

function sameValues(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  return [...a].every(([name, x]) => {
    const y = b.get(name)!;
    return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  });
}

const allFinite = (s: Map<string, Float32Array>) => [...s.values()].every((x) => x.every(Number.isFinite));

describe('non-finite updates are skipped, counted and shown', () => {
  it('a NaN loss at iteration 2 and infinite gradients at 3 leave the weights as they were; training goes on', async () => {
    const policy = PolicyModel.create(addTask, 7, { nLayer: 1, dModel: 32, nHead: 2, dMlp: 64 });
    const service = new LocalPolicyService(addTask, policy);
    // sft-control trains on teacher solutions (advantage 1), so every healthy update moves the weights.
    const cfg = parseRlConfig({
      algo: 'sft-control',
      iters: 4,
      promptsPerIter: 2,
      groupSize: 4,
      lr: 1e-3,
      warmupIters: 0,
      evalN: 4,
      evalEvery: 100,
      checkpointEvery: 0,
    });
    const trainer = new Trainer(addTask, cfg, service, null);
    trainer.injectFaults({ nonFiniteLossAt: [2], nonFiniteGradientAt: [3] });

    const metrics: IterationMetrics[] = [];
    const after: Map<string, Float32Array>[] = [await snapshot(policy)];
    const adamSteps: number[] = [];
    const summary = await runTraining(trainer, {
      onIteration: async ({ metrics: m }) => {
        metrics.push(m);
        after.push(await snapshot(policy));
        adamSteps.push(policy.opt.iterations);
      },
    });

    expect(metrics.map((m) => m.skippedUpdates)).toEqual([0, 1, 1, 0]);
    expect(summary.skippedUpdates).toBe(2);
    expect(summary.iters).toBe(4);
    // What the skipped iterations report: the NaN loss itself; a finite loss with a non-finite norm.
    expect(metrics[1].loss).toBeNaN();
    expect(Number.isFinite(metrics[2].loss)).toBe(true);
    expect(Number.isFinite(metrics[2].gradNorm)).toBe(false);
    // Iteration 1 trained; 2 and 3 changed nothing (weights and Adam moments bit for bit, and
    // Adam's step count); 4 trained again from where 1 left off.
    expect(sameValues(after[0], after[1])).toBe(false);
    expect(sameValues(after[1], after[2])).toBe(true);
    expect(sameValues(after[2], after[3])).toBe(true);
    expect(sameValues(after[3], after[4])).toBe(false);
    expect(adamSteps).toEqual([1, 1, 1, 2]);
    for (const s of after) expect(allFinite(s)).toBe(true);
    expect(Number.isFinite(summary.end.testAcc)).toBe(true);
    policy.dispose();
  });

  it('every inner epoch of a poisoned iteration is skipped and counted', async () => {
    const policy = PolicyModel.create(addTask, 8, { nLayer: 1, dModel: 32, nHead: 2, dMlp: 64 });
    const cfg = parseRlConfig({
      algo: 'sft-control',
      promptsPerIter: 1,
      groupSize: 2,
      innerEpochs: 3,
      warmupIters: 0,
    });
    const trainer = new Trainer(addTask, cfg, new LocalPolicyService(addTask, policy), null);
    trainer.injectFaults({ nonFiniteGradientAt: [1] });
    const before = await snapshot(policy);
    const { metrics } = await trainer.step();
    expect(metrics.skippedUpdates).toBe(3);
    expect(sameValues(before, await snapshot(policy))).toBe(true);
    expect((await trainer.step()).metrics.skippedUpdates).toBe(0);
    expect(policy.opt.iterations).toBe(3);
    policy.dispose();
  });

  it('the hook is validated, and off unless set', () => {
    expect(() => parseFaultInjection({ nonFiniteLossAt: [0] })).toThrow(/nonFiniteLossAt\.0/);
    expect(() => parseFaultInjection({ nonFiniteLossAt: [1.5] })).toThrow(/nonFiniteLossAt/);
    expect(() => parseFaultInjection({ nanAt: [1] })).toThrow(/invalid fault injection/);
    expect(() => parseFaultInjection('2')).toThrow(/invalid fault injection/);
    const spec = parseFaultInjection({ nonFiniteLossAt: [2] });
    expect(spec.nonFiniteGradientAt).toEqual([]);
    expect([1, 2, 3].map((i) => faultAt(spec, i))).toEqual([undefined, 'loss', undefined]);
    expect(faultAt(null, 2)).toBeUndefined();
    const trainer = new Trainer(
      addTask,
      parseRlConfig({ algo: 'grpo' }),
      new LocalPolicyService(addTask, {} as PolicyModel),
      null,
    );
    expect(() => trainer.injectFaults({ nonFiniteGradientAt: [-1] })).toThrow(/nonFiniteGradientAt/);
  });
});
