/**
 * The soak's rules (src/node/soak.ts) on made-up samples: steady figures pass; a tensor leak, a
 * growing heap, growing IndexedDB or broken retention each fail with a message that says so.
 */
import { describe, expect, it } from 'vitest';
import { judgeSoak, SOAK_RULES, type SoakSample } from '../src/node/soak';

const MiB = 2 ** 20;

/** 20 samples, every 50 iterations, of a healthy run; `change` edits sample i. */
function run(change: (s: SoakSample, i: number) => void = () => {}): SoakSample[] {
  return Array.from({ length: 20 }, (_, i) => {
    const s: SoakSample = {
      iter: i * 50,
      wallMs: i * 20_000,
      tensors: { policy: 308, prm: 270 },
      heap: { totalBytes: (20 + (i % 3)) * MiB, pageBytes: 6 * MiB, workerBytes: 14 * MiB },
      idb: {
        usageBytes: (i === 0 ? 0.1 : 4) * MiB + i * 50 * 600,
        checkpoints: i === 0 ? 0 : 3,
        metricsRows: i * 50,
      },
    };
    change(s, i);
    return s;
  });
}

describe('soak rules', () => {
  it('a steady run passes', () => {
    const v = judgeSoak(run(), 3);
    expect(v.failures).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.figures.maxCheckpointsStored).toBe(3);
  });

  it('one leaked tensor in either worker fails', () => {
    const policy = judgeSoak(
      run((s, i) => {
        if (i === 19) s.tensors.policy += 1;
      }),
      3,
    );
    expect(policy.failures).toEqual([
      expect.stringMatching(/policy tensors grew: 308 at iteration 0, 309 at 950/),
    ]);
    const prm = judgeSoak(
      run((s, i) => {
        if (i >= 10 && s.tensors.prm !== null) s.tensors.prm += i;
      }),
      3,
    );
    expect(prm.failures).toEqual([expect.stringMatching(/prm tensors grew/)]);
  });

  it('a heap growing past first-quarter max x 1.2 + slack fails; within it passes', () => {
    const firstMax = 22 * MiB;
    const bound = firstMax * SOAK_RULES.heapFactor + SOAK_RULES.heapSlackBytes;
    const over = judgeSoak(
      run((s, i) => {
        if (i === 18) s.heap.totalBytes = bound + 1;
      }),
      3,
    );
    expect(over.failures).toEqual([expect.stringMatching(/JS heap grew/)]);
    expect(
      judgeSoak(
        run((s, i) => {
          if (i === 18) s.heap.totalBytes = bound - 1;
        }),
        3,
      ).ok,
    ).toBe(true);
    // A slow leak of 2 MiB per sample.
    expect(
      judgeSoak(
        run((s, i) => (s.heap.totalBytes += i * 2 * MiB)),
        3,
      ).ok,
    ).toBe(false);
  });

  it('IndexedDB growing beyond its allowance fails, and so does broken retention', () => {
    // Checkpoints never deleted: 1.3 MB more per sample.
    const hoard = judgeSoak(
      run((s, i) => (s.idb.usageBytes += i * 1.3e6)),
      3,
    );
    expect(hoard.failures).toEqual([expect.stringMatching(/IndexedDB grew/)]);
    const kept = judgeSoak(
      run((s, i) => (s.idb.checkpoints = Math.min(i, 10))),
      3,
    );
    expect(kept.failures).toEqual([expect.stringMatching(/10 checkpoints stored, retention keeps 3/)]);
  });

  it('too few samples cannot pass', () => {
    expect(judgeSoak(run().slice(0, 3), 3).failures).toEqual([expect.stringMatching(/only 3 samples/)]);
    expect(judgeSoak([], 3).ok).toBe(false);
  });
});
