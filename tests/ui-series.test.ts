import { describe, expect, it } from 'vitest';
import type { EvalResult } from '../src/core/evaluate';
import type { IterationMetrics } from '../src/core/rl/trainer';
import { CHARTS, chartData, chartSpec, latestSummary, type RunHistory } from '../src/ui/series';

function metrics(iter: number, over: Partial<IterationMetrics> = {}): IterationMetrics {
  return {
    iter,
    algo: 'scope',
    rewardMean: 0.1 * iter,
    rewardStd: 0.4,
    zeroStdGroupFrac: 0,
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
    rectifications: 4,
    salvaged: 3,
    salvageRate: 0.75,
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

function evalAt(testAccSampled: number): EvalResult {
  return {
    testAcc: 0.8,
    testAccSampled,
    oodAcc: 0.3,
    passAt8: 0.8,
    diversity: 0.81,
    correctPaths: 1,
    prmFirstErrorAcc: null,
    prmStepAuc: null,
    failedFirstErrorAtLeast2: 0.5,
    greedyFailedFirstErrorAtLeast2: 0.9,
  };
}

const runA: RunHistory = {
  label: 'SCOPE',
  metrics: [metrics(1), metrics(2), metrics(3)],
  evals: [
    { iter: 0, result: evalAt(0.26) },
    { iter: 2, result: evalAt(0.28) },
  ],
};

describe('chart data', () => {
  it('has a chart for every metric the issue asks for', () => {
    expect(CHARTS.map((c) => c.id)).toEqual([
      'accuracy',
      'reward',
      'diversity',
      'salvage',
      'entropy',
      'time',
    ]);
    expect(() => chartSpec('nope')).toThrow(/unknown chart 'nope'/);
  });

  it('eval lines have points only at evaluations (iteration 0 included)', () => {
    const d = chartData(chartSpec('accuracy'), [runA]);
    expect(d.x).toEqual([0, 2]);
    expect(d.series.map((s) => s.label)).toEqual(['test (sampled)', 'test (greedy)', 'OOD (greedy)']);
    expect(d.series[0].values).toEqual([0.26, 0.28]);
  });

  it('mixes iteration and eval lines on the union of iterations, with gaps as null', () => {
    const d = chartData(chartSpec('diversity'), [runA]);
    expect(d.x).toEqual([0, 1, 2, 3]);
    expect(d.series[0].values).toEqual([null, 0.8, 0.8, 0.8]);
    expect(d.series[1].values).toEqual([0.81, null, 0.81, null]);
  });

  it('overlays two runs of different length, labelled by run', () => {
    const runB: RunHistory = {
      label: 'GRPO',
      metrics: [metrics(1, { algo: 'grpo', salvageRate: null, rewardMean: 0.5 })],
      evals: [{ iter: 0, result: evalAt(0.26) }],
    };
    const d = chartData(chartSpec('reward'), [runA, runB]);
    expect(d.x).toEqual([1, 2, 3]);
    expect(d.series.map((s) => [s.label, s.run, s.hidden])).toEqual([
      ["SCOPE · policy's own samples: reward", 0, false],
      ['SCOPE · reward of trained-on rollouts (includes teacher steps)', 0, true],
      ["GRPO · policy's own samples: reward", 1, false],
      ['GRPO · reward of trained-on rollouts (includes teacher steps)', 1, true],
    ]);
    expect(d.series[0].values.map((v) => v?.toFixed(1))).toEqual(['0.1', '0.2', '0.3']);
    expect(d.series[2].values).toEqual([0.5, null, null]);
    const salvage = chartData(chartSpec('salvage'), [runA, runB]);
    expect(salvage.series[1].values).toEqual([null, null, null]);
  });

  it('turns non-finite values into gaps', () => {
    const d = chartData(chartSpec('entropy'), [{ ...runA, metrics: [metrics(1, { entropy: Number.NaN })] }]);
    expect(d.series[0].values).toEqual([null]);
  });
});

describe('reward: the comparable one by default (issue 15)', () => {
  it("plots the policy's own samples' reward; the trained-on reward is a separate line, off by default", () => {
    const run: RunHistory = {
      label: 'SCOPE',
      metrics: [metrics(1, { rewardMean: 0.25, trainRewardMean: 0.6 }), metrics(2, { rewardMean: 0.3 })],
      evals: [],
    };
    const spec = chartSpec('reward');
    const d = chartData(spec, [run]);
    expect(d.series.map((s) => [s.label, s.hidden])).toEqual([
      ["policy's own samples: reward", false],
      ['reward of trained-on rollouts (includes teacher steps)', true],
    ]);
    expect(d.series[0].values).toEqual([0.25, 0.3]);
    // Records from before trainRewardMean existed have a gap, not the own reward.
    expect(d.series[1].values).toEqual([0.6, null]);
    // The text alternative reads only the lines shown.
    expect(latestSummary(spec, d)).toBe("policy's own samples: reward 0.3 at iteration 2");
  });

  it('every chart labels its y-axis with a unit', () => {
    for (const c of CHARTS) expect(c.yLabel).toMatch(/\(.+\)/);
  });
});

describe('text alternative', () => {
  it('reads each line latest value and where it is from', () => {
    const spec = chartSpec('accuracy');
    expect(latestSummary(spec, chartData(spec, [runA]))).toBe(
      'test (sampled) 28.0% at iteration 2; test (greedy) 80.0% at iteration 2; OOD (greedy) 30.0% at iteration 2',
    );
    expect(latestSummary(spec, chartData(spec, [{ label: 'x', metrics: [], evals: [] }]))).toBe(
      'no data yet',
    );
    const time = chartSpec('time');
    expect(latestSummary(time, chartData(time, [runA]))).toMatch(
      /^generate 100 ms at iteration 3; PRM 50 ms/,
    );
  });
});
