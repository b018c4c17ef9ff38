/** RunLoop.mark / rewind: a run restored from a checkpoint counts on from it (crash recovery). */
import { describe, expect, it } from 'vitest';
import { parseRlConfig } from '../src/core/rl/config';
import { RunLoop } from '../src/core/rl/run';
import type { Trainer } from '../src/core/rl/trainer';

/** A stand-in Trainer: each step skips one update and rectifies twice (salvaging one). */
function fakeTrainer(iters: number, at = 0): Trainer {
  const cfg = parseRlConfig({ task: 'add', algo: 'scope', iters, evalEvery: 100, checkpointEvery: 0 });
  const evalResult = {
    testAcc: 0.5,
    testAccSampled: 0.5,
    oodAcc: 0,
    passAt8: 0,
    diversity: 0,
    correctPaths: 0,
  };
  const t = {
    cfg,
    iter: at,
    policy: {
      describe: async () => ({ backend: 'fake' }),
      checkpoint: async () => ({ manifestJson: '{}', blob: new Uint8Array() }),
    },
    evaluate: async () => evalResult,
    step: async () => {
      t.iter++;
      return { metrics: { iter: t.iter, skippedUpdates: 1, rectifications: 2, salvaged: 1 }, rollouts: [] };
    },
  };
  return t as unknown as Trainer;
}

describe('RunLoop rewind', () => {
  it('drops the counts of the iterations after the mark, and the run ends at its iters', async () => {
    const loop = new RunLoop(fakeTrainer(5));
    await loop.next();
    await loop.next();
    const mark = loop.mark();
    expect(mark).toEqual({ done: 2, rectified: 4, salvaged: 2, skipped: 2 });
    await loop.next();
    await loop.next(); // iterations 3 and 4 are lost in a crash
    loop.rewind(fakeTrainer(5, 2), mark);
    expect(loop.done).toBe(2);
    while (!loop.finished) await loop.next();
    expect(loop.trainer.iter).toBe(5);
    const s = loop.summary();
    expect(s.iters).toBe(5);
    expect(s.skippedUpdates).toBe(5);
    expect(s.rectifications).toBe(10);
    expect(s.salvageRate).toBe(0.5);
  });
});
