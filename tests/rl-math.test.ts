import { describe, expect, it } from 'vitest';
import {
  aggregationWeights,
  clippedSurrogate,
  defaultRectificationCap,
  firstErrorFromPrm,
  groupAdvantages,
  k3Kl,
  k3KlGrad,
  prmDenseReward,
  resetGroupAdvantages,
  resetLoss,
  scopeTokenRoles,
  selectRectifications,
  selfLocalise,
  shapedTokenLoss,
  shapedWeight,
  suffixOnlyMask,
} from '../src/core/rl/math';

const close = (got: number[], want: number[], digits = 9) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(g).toBeCloseTo(want[i], digits);
  });
};

/** Central finite difference of f at x. */
const fd = (f: (x: number) => number, x: number, h = 1e-6) => (f(x + h) - f(x - h)) / (2 * h);

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
    close(aggregationWeights([2, 4], 'seq-mean-token-sum-norm', 8), [1 / 16, 1 / 16]); // 1/(2*8)
  });

  it('empty sequences and batches', () => {
    // N=2 still counts the empty sequence: 1/(2*4)
    close(aggregationWeights([0, 4], 'seq-mean-token-mean'), [0, 0.125]);
    expect(aggregationWeights([0, 0], 'token-mean')).toEqual([0, 0]);
    expect(aggregationWeights([], 'seq-mean-token-sum-norm')).toEqual([]);
  });
});

describe('clippedSurrogate (eps 0.2)', () => {
  const L15 = Math.log(1.5);
  const L05 = Math.log(0.5);
  it('A > 0: clipped above 1+eps, unclipped below', () => {
    // r=1.5, A=1: min(1.5, 1.2) = 1.2 -> loss -1.2, clipped, gradient 0
    let s = clippedSurrogate(L15, 0, 1, 0.2, 0.2);
    expect(s.loss).toBeCloseTo(-1.2, 12);
    expect(s.dLossDLogp).toBe(0);
    expect(s.clipped).toBe(true);
    // r=0.5, A=1: min(0.5, 0.8) = 0.5 -> loss -0.5, grad -r*A = -0.5
    s = clippedSurrogate(L05, 0, 1, 0.2, 0.2);
    expect(s.loss).toBeCloseTo(-0.5, 12);
    expect(s.dLossDLogp).toBeCloseTo(-0.5, 12);
    expect(s.clipped).toBe(false);
  });

  it('A < 0: clipped below 1-eps, unclipped above', () => {
    // r=0.5, A=-1: min(-0.5, -0.8) = -0.8 -> loss 0.8, clipped, gradient 0
    let s = clippedSurrogate(L05, 0, -1, 0.2, 0.2);
    expect(s.loss).toBeCloseTo(0.8, 12);
    expect(s.dLossDLogp).toBe(0);
    expect(s.clipped).toBe(true);
    // r=1.5, A=-1: min(-1.5, -1.2) = -1.5 -> loss 1.5, grad -r*A = 1.5
    s = clippedSurrogate(L15, 0, -1, 0.2, 0.2);
    expect(s.loss).toBeCloseTo(1.5, 12);
    expect(s.dLossDLogp).toBeCloseTo(1.5, 12);
    expect(s.clipped).toBe(false);
  });

  it('inside the trust region, asymmetric eps, and gradient vs finite difference', () => {
    // r = exp(-1.2 - (-1.3)) = exp(0.1) = 1.1051709, A=2: loss -2.2103418, grad -2.2103418
    const s = clippedSurrogate(-1.2, -1.3, 2, 0.2, 0.2);
    expect(s.loss).toBeCloseTo(-2 * Math.exp(0.1), 12);
    expect(s.dLossDLogp).toBeCloseTo(-2 * Math.exp(0.1), 12);
    expect(s.dLossDLogp).toBeCloseTo(
      fd((x) => clippedSurrogate(x, -1.3, 2, 0.2, 0.2).loss, -1.2),
      6,
    );
    // r=1.25, epsHigh 0.28: 1.25 < 1.28 so unclipped (it would be clipped with 0.2)
    expect(clippedSurrogate(Math.log(1.25), 0, 1, 0.2, 0.28).clipped).toBe(false);
    expect(clippedSurrogate(Math.log(1.25), 0, 1, 0.2, 0.2).clipped).toBe(true);
    // A = 0: nothing to clip, zero loss and gradient
    const z = clippedSurrogate(L15, 0, 0, 0.2, 0.2);
    expect([z.loss === 0, z.dLossDLogp === 0, z.clipped]).toEqual([true, true, false]);
  });
});

describe('shaped weight (LUFFY / SCOPE off-policy tokens)', () => {
  it('values', () => {
    expect(shapedWeight(0.1, 0.1)).toBeCloseTo(0.5, 12); // 0.1/0.2
    expect(shapedWeight(0.9, 0.1)).toBeCloseTo(0.9, 12); // 0.9/1.0
    expect(shapedWeight(1, 0.1)).toBeCloseTo(1 / 1.1, 12); // 0.90909...
  });

  it('loss and gradient, checked against a finite difference', () => {
    // p=0.3, gamma=0.1, A=2: f = 0.3/0.4 = 0.75 -> loss -1.5;
    // grad = -A*p*gamma/(p+gamma)^2 = -2*0.03/0.16 = -0.375
    const s = shapedTokenLoss(Math.log(0.3), 2, 0.1);
    expect(s.loss).toBeCloseTo(-1.5, 12);
    expect(s.dLossDLogp).toBeCloseTo(-0.375, 12);
    for (const lp of [-5, -1, -0.1]) {
      const g = shapedTokenLoss(lp, -1.3, 0.1).dLossDLogp;
      expect(g).toBeCloseTo(
        fd((x) => shapedTokenLoss(x, -1.3, 0.1).loss, lp),
        6,
      );
    }
  });
});

describe('k3 KL', () => {
  it('value and gradient', () => {
    // d = log(0.25) - log(0.5) = -log 2: kl = 0.5 + log 2 - 1 = 0.19314718; grad = 1 - 0.5 = 0.5
    expect(k3Kl(Math.log(0.5), Math.log(0.25))).toBeCloseTo(Math.LN2 - 0.5, 12);
    expect(k3KlGrad(Math.log(0.5), Math.log(0.25))).toBeCloseTo(0.5, 12);
    expect(k3Kl(-1.7, -1.7)).toBe(0);
    expect(k3KlGrad(-1.7, -1.7)).toBe(0);
    expect(k3KlGrad(-0.3, -2.1)).toBeCloseTo(
      fd((x) => k3Kl(x, -2.1), -0.3),
      6,
    );
  });
});

describe('resetLoss', () => {
  it('-A * mean log p over unmasked tokens (token mean) and its gradient', () => {
    // unmasked: seq0 tokens 1,2 (-2,-3), seq1 tokens 0,1 (-0.5,-1.5): 4 tokens
    // loss = -(1*(-2-3) + (-1)*(-0.5-1.5)) / 4 = -(-5 + 2)/4 = 0.75
    const r = resetLoss(
      [
        [-1, -2, -3],
        [-0.5, -1.5],
      ],
      [1, -1],
      [
        [0, 1, 1],
        [1, 1],
      ],
    );
    expect(r.loss).toBeCloseTo(0.75, 12);
    // grad = -w*A*m with w = 1/4: seq0 [0, -1/4, -1/4], seq1 [1/4, 1/4]
    close(r.dLossDLogp[0], [0, -0.25, -0.25]);
    close(r.dLossDLogp[1], [0.25, 0.25]);
  });

  it('seq-mean-token-mean aggregation and default mask', () => {
    // seq means: (-1-3)/2 = -2 and -1; loss = -(1*(-2) + 2*(-1))/2 = 2
    const r = resetLoss([[-1, -3], [-1]], [1, 2], undefined, 'seq-mean-token-mean');
    expect(r.loss).toBeCloseTo(2, 12);
  });
});

describe('token masks', () => {
  it('SCOPE roles: prefix on, corrected step off, continuation on', () => {
    expect(scopeTokenRoles(2, 1, 3)).toEqual(['on', 'on', 'off', 'on', 'on', 'on']);
    expect(scopeTokenRoles(0, 2, 0)).toEqual(['off', 'off']);
  });

  it('suffix-only mask', () => {
    expect(suffixOnlyMask(3, 2)).toEqual([0, 0, 0, 1, 1]);
    expect(suffixOnlyMask(0, 1)).toEqual([1]);
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
