import { describe, expect, it } from 'vitest';
import type { IterationMetrics } from '../src/core/rl/trainer';
import { iterationSummary, iterationSummaryText } from '../src/ui/iteration-summary';

function metrics(over: Partial<IterationMetrics> = {}): IterationMetrics {
  return {
    iter: 7,
    algo: 'scope',
    rewardMean: 0.25,
    rewardStd: 0.4,
    zeroStdGroupFrac: 0.375,
    trainRewardMean: 0.6,
    diversity: 0.8,
    completionLen: 30,
    truncationRatio: 0,
    loss: 0,
    entropy: 0.2,
    clipFraction: 0,
    kl: 0,
    gradNorm: 1,
    skippedUpdates: 0,
    trainedTokens: 100,
    rectifications: 12,
    salvaged: 9,
    salvageRate: 0.75,
    answerStepCorrections: null,
    prmFalseAccepts: 2,
    firstErrorPos: 2,
    firstErrorRel: 0.5,
    prmFirstErrorAcc: 0.9,
    resetParents: null,
    resetK: null,
    resetSuffixReward: null,
    timeMs: { generate: 100, prm: 50, rectify: 10, update: 300, total: 460 },
    ...over,
  };
}

const cfg = { promptsPerIter: 8, groupSize: 8 };

describe('this iteration, in one line', () => {
  it("SCOPE: the policy's own success, rectified, salvaged, PRM false accepts, groups with no signal", () => {
    expect(iterationSummaryText(metrics(), cfg)).toBe(
      "Iteration 7: 25% of the policy's own samples right, 12 rectified, 9 salvaged by the policy, " +
        '2 PRM false accepts, 3 of 8 groups with no signal (all right or all wrong).',
    );
  });

  it('GRPO has no rectification parts; RRPO counts resets; skipped updates show', () => {
    const grpo = iterationSummary(
      metrics({
        algo: 'grpo',
        rectifications: null,
        salvaged: null,
        prmFalseAccepts: null,
        zeroStdGroupFrac: 1,
      }),
      cfg,
    );
    expect(grpo.map((p) => p.id)).toEqual(['own', 'no-signal']);
    expect(grpo[1].text).toBe('8 of 8 groups with no signal (all right or all wrong)');
    const rrpo = iterationSummary(
      metrics({ algo: 'rrpo', rectifications: null, salvaged: null, resetParents: 1, skippedUpdates: 1 }),
      cfg,
    );
    expect(rrpo.map((p) => p.text)).toContain('1 reset');
    expect(rrpo.map((p) => p.text)).toContain('1 skipped update');
  });

  it('sft-control: no own samples, nothing but what happened', () => {
    const m = metrics({
      algo: 'sft-control',
      rewardMean: null,
      zeroStdGroupFrac: null,
      rectifications: null,
      salvaged: null,
      prmFalseAccepts: null,
    });
    expect(iterationSummaryText(m, cfg)).toBe('Iteration 7: trained.');
  });
});
