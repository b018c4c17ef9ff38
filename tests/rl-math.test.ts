import { describe, expect, it } from 'vitest';
import {
  aggregationWeights,
  defaultRectificationCap,
  firstErrorFromPrm,
  groupAdvantages,
  prmDenseReward,
  resetGroupAdvantages,
  selectRectifications,
  selfLocalise,
} from '../src/core/rl/math';

const close = (got: number[], want: number[], digits = 9) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(g).toBeCloseTo(want[i], digits);
  });
};

describe('groupAdvantages', () => {
  it('group scaling: [1,0,0,1] -> +-1/(0.5+1e-6)', () => {
    // mean 0.5, population std sqrt(mean(0.25)) = 0.5, so A = +-0.5/(0.5+1e-6)
    const a = 0.5 / (0.5 + 1e-6);
    close(groupAdvantages([1, 0, 0, 1], [4], 'group'), [a, -a, -a, a], 12);
  });

  it('all three scalings on two groups', () => {
    const r = [1, 0, 0, 0, 1, 1, 0, 1];
    // group 1: mean 0.25, centred [0.75,-0.25,-0.25,-0.25]; group 2: mean 0.75, centred [0.25,0.25,-0.75,0.25]
    const centred = [0.75, -0.25, -0.25, -0.25, 0.25, 0.25, -0.75, 0.25];
    close(groupAdvantages(r, [4, 4], 'none'), centred, 12);
    // each group's pop. std = sqrt(0.75*0.25) = sqrt(0.1875) = 0.4330127...
    const sg = Math.sqrt(0.1875) + 1e-6;
    close(
      groupAdvantages(r, [4, 4], 'group'),
      centred.map((c) => c / sg),
      12,
    );
    // group: 0.75/0.4330137 = 1.7320468 (≈ sqrt(3) minus the epsilon effect)
    expect(groupAdvantages(r, [4, 4], 'group')[0]).toBeCloseTo(1.7320468, 6);
    // batch: all 8 rewards have mean 0.5 and pop. std 0.5 -> centred / (0.5 + 1e-6)
    close(
      groupAdvantages(r, [4, 4], 'batch'),
      centred.map((c) => c / (0.5 + 1e-6)),
      12,
    );
  });

  it('zero-std groups give exactly 0, also under batch scaling', () => {
    expect(groupAdvantages([1, 1, 0, 0, 0.1, 0.1, 0.1], [2, 2, 3], 'group')).toEqual([0, 0, 0, 0, 0, 0, 0]);
    // batch [1,1,0,1]: mean 0.75, pop. std sqrt(0.1875); group 2 [0,1] centred [-0.5,0.5]
    const s = Math.sqrt(0.1875) + 1e-6;
    close(groupAdvantages([1, 1, 0, 1], [2, 2], 'batch'), [0, 0, -0.5 / s, 0.5 / s], 12);
  });

  it('rejects group sizes that do not partition the rewards', () => {
    expect(() => groupAdvantages([1, 0, 1], [2], 'group')).toThrow(/partition/);
  });
});

describe('resetGroupAdvantages', () => {
  it('normalises each group separately with population std and no epsilon', () => {
    // group A [1,0,0,0]: mean 0.25, std sqrt(0.1875) = sqrt(3)/4 -> [sqrt(3), -1/sqrt(3) x3]
    // group B [1,0,1,1]: mean 0.75, std sqrt(3)/4 -> [1/sqrt(3), -sqrt(3), 1/sqrt(3), 1/sqrt(3)]
    const s3 = Math.sqrt(3);
    close(
      resetGroupAdvantages([1, 0, 0, 0, 1, 0, 1, 1], [4, 4]),
      [s3, -1 / s3, -1 / s3, -1 / s3, 1 / s3, -s3, 1 / s3, 1 / s3],
      12,
    );
  });

  it('std < 1e-8 gives zeros', () => {
    // [0.5, 0.5+1e-9]: std = 5e-10 < 1e-8 -> 0; [0,0]: std 0 -> 0
    expect(resetGroupAdvantages([0.5, 0.5 + 1e-9, 0, 0], [2, 2])).toEqual([0, 0, 0, 0]);
  });
});

describe('aggregationWeights', () => {
  it('each mode on lengths [2,4]', () => {
    close(aggregationWeights([2, 4], 'token-mean'), [1 / 6, 1 / 6]); // 1/(2+4)
    close(aggregationWeights([2, 4], 'seq-mean-token-mean'), [0.25, 0.125]); // 1/(2*2), 1/(2*4)
    close(aggregationWeights([2, 4], 'seq-mean-token-sum-norm'), [0.125, 0.125]); // 1/(N=2 * maxLen=4)
  });

  it('empty sequences and batches', () => {
    // N=2 still counts the empty sequence: 1/(2*4)
    close(aggregationWeights([0, 4], 'seq-mean-token-mean'), [0, 0.125]);
    expect(aggregationWeights([0, 0], 'token-mean')).toEqual([0, 0]);
    expect(aggregationWeights([], 'seq-mean-token-sum-norm')).toEqual([]);
  });
});

describe('firstErrorFromPrm', () => {
  it('first step below tau', () => {
    expect(firstErrorFromPrm([0.9, 0.8, 0.3, 0.2], 0.5)).toBe(3);
    expect(firstErrorFromPrm([0.4], 0.5)).toBe(1);
  });
  it('argmin (first on ties) when none is below tau, -1 for no steps', () => {
    expect(firstErrorFromPrm([0.9, 0.6, 0.7, 0.6], 0.5)).toBe(2);
    expect(firstErrorFromPrm([0.5, 0.9], 0.5)).toBe(1); // 0.5 is not < 0.5; argmin is step 1
    expect(firstErrorFromPrm([], 0.5)).toBe(-1);
  });
});

describe('selectRectifications', () => {
  const cands = [
    { index: 0, k: 1 },
    { index: 1, k: 3 },
    { index: 2, k: 2 },
    { index: 3, k: 3 },
    { index: 4, k: 4 },
    { index: 5, k: -1 },
  ];
  it('filters k < 2, prefers the largest k, ties by index, respects the cap', () => {
    expect(selectRectifications(cands, 2)).toEqual([4, 1]);
    expect(selectRectifications(cands, 10)).toEqual([4, 1, 3, 2]);
    expect(selectRectifications(cands, 0)).toEqual([]);
    expect(selectRectifications([{ index: 7, k: 1 }], 3)).toEqual([]);
  });
  it('default cap is ceil(G/4)', () => {
    expect([1, 4, 5, 8, 16].map(defaultRectificationCap)).toEqual([1, 1, 2, 2, 4]);
  });
});

describe('selfLocalise (pMin 0.2, log 0.2 = -1.609)', () => {
  it('first step with a token below pMin', () => {
    // step 3 has exp(-2.0) = 0.135 < 0.2; step 4 too, but step 3 comes first
    expect(selfLocalise([[-0.1, -0.2], [-0.5, -1.0], [-0.1, -2.0], [-3.0]], 0.2)).toBe(3);
  });
  it('else the step with the lowest mean log-prob', () => {
    // no token below 0.2 (exp(-1.5) = 0.223); means -0.15, -0.8, -0.9 -> step 3
    expect(
      selfLocalise(
        [
          [-0.1, -0.2],
          [-1.5, -0.1],
          [-0.9, -0.9],
        ],
        0.2,
      ),
    ).toBe(3);
    // ties (all means -0.5): the first; empty steps are skipped
    expect(selfLocalise([[], [-0.5], [-1, 0], [-0.5]], 0.2)).toBe(2);
    expect(selfLocalise([], 0.2)).toBe(-1);
  });
});

describe('prmDenseReward', () => {
  it('outcome + lambda * mean score', () => {
    expect(prmDenseReward(0, [0.8, 0.4], 0.5)).toBeCloseTo(0.3, 12); // 0 + 0.5*0.6
    expect(prmDenseReward(1, [], 0.5)).toBe(1); // mean of no scores = 0
  });
});

describe('boundaries the training code relies on (mutants of the first mutation run)', () => {
  it('group sizes must be non-negative integers that add up', () => {
    expect(() => groupAdvantages([1, 0], [3, -1], 'group')).toThrow(/do not partition/);
    expect(() => groupAdvantages([1, 0], [0.5, 1.5], 'group')).toThrow(/do not partition/);
    expect(() => resetGroupAdvantages([1, 0, 1], [2, 2])).toThrow(/do not partition/);
    expect(groupAdvantages([1, 0], [0, 2], 'none')).toEqual([0.5, -0.5]); // an empty group is fine
  });

  it('resets: a std of exactly 1e-8 is normalised (only std < 1e-8 gives zeros)', () => {
    // [0, 2e-8]: mean 1e-8, population std exactly 1e-8.
    close(resetGroupAdvantages([0, 2e-8], [2]), [-1, 1], 12);
  });

  it('Dr. GRPO weights are 0, not Infinity, when no sequence has a token', () => {
    expect(aggregationWeights([0, 0], 'seq-mean-token-sum-norm')).toEqual([0, 0]);
  });

  it('a PRM score equal to tau is not an error', () => {
    expect(firstErrorFromPrm([0.9, 0.5, 0.1], 0.5)).toBe(3);
  });

  it('rectification ties go to the smaller index whatever the input order', () => {
    expect(
      selectRectifications(
        [
          { index: 3, k: 3 },
          { index: 1, k: 3 },
          { index: 2, k: 3 },
        ],
        3,
      ),
    ).toEqual([1, 2, 3]);
  });

  it('selfLocalise: strictly below pMin; a doubtful first step is step 1; the first step can be the lowest mean', () => {
    // Step 1 has a token at exactly pMin (not doubtful); step 2 one below it.
    expect(selfLocalise([[Math.log(0.5), 0], [Math.log(0.4)]], 0.5)).toBe(2);
    // Step 1 doubtful, step 2 lower still: the first doubtful step wins.
    expect(selfLocalise([[Math.log(0.1)], [Math.log(0.05)]], 0.2)).toBe(1);
    // Nothing doubtful, step 1 has the lowest mean.
    expect(selfLocalise([[Math.log(0.6)], [Math.log(0.9)]], 0.2)).toBe(1);
  });
});
