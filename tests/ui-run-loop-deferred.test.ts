/**
 * The page's run loop (issue 20 items 1 and 3): a starting evaluation computed elsewhere does not
 * hold up the first iteration and still lands in the history and the summary; a pause postpones a
 * due periodic evaluation to the resume, where it is reported for the same iteration.
 */
import { describe, expect, it } from 'vitest';
import type { EvalResult } from '../src/core/evaluate';
import { parseRlConfig } from '../src/core/rl/config';
import { RunLoop } from '../src/core/rl/run';
import type { Trainer } from '../src/core/rl/trainer';

function fakeTrainer(iters: number, evalEvery: number) {
  const cfg = parseRlConfig({ task: 'add', algo: 'grpo', iters, evalEvery, checkpointEvery: 0 });
  const log: string[] = [];
  const t = {
    cfg,
    iter: 0,
    policy: {
      describe: async () => ({ backend: 'fake' }),
      checkpoint: async () => ({ manifestJson: '{}', blob: new Uint8Array() }),
    },
    evaluate: async () => {
      log.push(`eval@${t.iter}`);
      return { testAcc: t.iter / 10, testAccSampled: t.iter / 10 } as EvalResult;
    },
    step: async () => {
      t.iter++;
      log.push(`step${t.iter}`);
      return {
        metrics: { iter: t.iter, skippedUpdates: 0, rectifications: null, salvaged: null },
        rollouts: [],
      };
    },
  };
  return { trainer: t as unknown as Trainer, log };
}

describe('RunLoop.beginDeferred', () => {
  it('iterates before the starting evaluation arrives; reports it at iteration 0; the summary has it', async () => {
    const { trainer, log } = fakeTrainer(3, 100);
    const evals: [number, number][] = [];
    const loop = new RunLoop(trainer, { onEval: (i, e) => void evals.push([i, e.testAccSampled]) });
    let release!: (e: EvalResult) => void;
    loop.beginDeferred(new Promise<EvalResult>((r) => (release = r)));
    await loop.next();
    await loop.next();
    expect(log).toEqual(['step1', 'step2']); // no evaluation ran inline
    expect(() => loop.summary()).toThrow();
    release({ testAcc: 0.85, testAccSampled: 0.27 } as EvalResult);
    await loop.settled();
    await loop.next(); // the last: evaluated inline
    expect(evals).toEqual([
      [0, 0.27],
      [3, 0.3],
    ]);
    const s = loop.summary();
    expect(s.start.testAccSampled).toBe(0.27);
    expect(s.end.testAccSampled).toBe(0.3);
    expect(s.minTestAccSampled).toBe(0.27);
  });

  it('a failed starting evaluation fails settled()', async () => {
    const { trainer } = fakeTrainer(2, 100);
    const loop = new RunLoop(trainer);
    loop.beginDeferred(Promise.reject(new Error('evaluator crashed')));
    await expect(loop.settled()).rejects.toThrow('evaluator crashed');
  });
});

describe('postponeEval', () => {
  it('a pause postpones a due evaluation to the next iteration, reported for its own iteration', async () => {
    const { trainer, log } = fakeTrainer(6, 2);
    const evals: number[] = [];
    let pausing = false;
    const loop = new RunLoop(trainer, { onEval: (i) => void evals.push(i), postponeEval: () => pausing });
    await loop.begin();
    await loop.next();
    pausing = true;
    const r2 = await loop.next(); // eval due at 2, postponed
    expect(r2.metrics.eval).toBeUndefined();
    expect(log).toEqual(['eval@0', 'step1', 'step2']);
    pausing = false;
    await loop.next(); // resume: the postponed evaluation first, on the same weights
    expect(log).toEqual(['eval@0', 'step1', 'step2', 'eval@2', 'step3']);
    expect(evals).toEqual([0, 2]);
    pausing = true;
    // Postponed at 4 and run at the next call; the last evaluation (6) is never postponed.
    while (!loop.finished) await loop.next();
    expect(evals).toEqual([0, 2, 4, 6]);
    expect(log.indexOf('eval@4')).toBe(log.indexOf('step5') - 1);
  });
});
