/**
 * The edge evaluation (issue 17): pass@k at n = 64 samples on hand-computed numbers, and the edge
 * statistics (pass@k, all-wrong groups, first-error histograms) on hand-made completions.
 */
import { describe, expect, it } from 'vitest';
import type { PolicyModel } from '../src/core/agents';
import { EDGE_SAMPLES, edgeStats, evaluatePolicy, formatEdge, PASS_KS } from '../src/core/evaluate';
import { ANSWER_MARK, isAnswerStep, renderCompletion } from '../src/core/format';
import { passAtK } from '../src/core/metrics';
import { Rng } from '../src/core/rng';
import { addEdgeSplitOf } from '../src/core/tasks/add';
import { addTask, type Problem } from '../src/core/tasks/index';

const right = (p: Problem) => renderCompletion(addTask.solve(p));
/** The teacher's steps 1..k-1, a wrong step k, then a wrong answer: first error at k, reward 0. */
function wrongAt(p: Problem, k: number): string {
  const steps = addTask.solve(p);
  const bad = addTask.corruptStep(new Rng(`bad/${p.prompt}/${k}`), p, steps.slice(0, k - 1));
  const tail = isAnswerStep(bad) ? [] : [ANSWER_MARK + (Number(p.answer) + 1)];
  return renderCompletion([...steps.slice(0, k - 1), bad, ...tail]);
}

describe('pass@k at 64 samples (hand-computed)', () => {
  it('matches 1 - C(n-c,k)/C(n,k)', () => {
    expect(passAtK(64, 1, 16)).toBeCloseTo(16 / 64, 12);
    // 1 - C(62,16)/C(64,16) = 1 - (48*47)/(64*63)
    expect(passAtK(64, 2, 16)).toBeCloseTo(1 - (48 * 47) / (64 * 63), 12);
    // 1 - C(32,4)/C(64,4) = 1 - 35960/635376
    expect(passAtK(64, 32, 4)).toBeCloseTo(1 - 35960 / 635376, 12);
    expect(passAtK(64, 1, 64)).toBe(1);
    expect(passAtK(64, 0, 64)).toBe(0);
    expect(passAtK(64, 3, 1)).toBeCloseTo(3 / 64, 12);
    // Stable where the binomials overflow a double: C(100000, 64) ~ 1e256.
    const big = passAtK(100_000, 10, 64);
    expect(big).toBeCloseTo(1 - ((100_000 - 64) / 100_000) ** 10, 6);
    expect(Number.isFinite(big)).toBe(true);
  });
});

describe('edgeStats', () => {
  const rng = new Rng('edge-stats');
  const a = addTask.sample(rng, 'edge-test');
  const b = addTask.sample(rng, 'edge-test');
  const o = addTask.sample(rng, 'edge-ood');
  const S = 16;
  // a: 4 right in the first group of 8, 12 wrong at step 1; b: all 16 wrong at step 2.
  const sampled = [
    ...Array.from({ length: S }, (_, i) => (i < 4 ? right(a) : wrongAt(a, 1))),
    ...Array.from({ length: S }, () => wrongAt(b, 2)),
  ];
  const e = edgeStats(addTask, [a, b], [o], [right(a), wrongAt(b, 2)], [wrongAt(o, 3)], sampled, S);

  it('pass@k is the mean over problems of the unbiased estimator (k <= samples only)', () => {
    expect(Object.keys(e.passAtK)).toEqual(['1', '4', '16']);
    expect(e.passAtK['1']).toBeCloseTo((4 / 16 + 0) / 2, 12);
    expect(e.passAtK['4']).toBeCloseTo((1 - 495 / 1820 + 0) / 2, 12); // C(12,4)/C(16,4)
    expect(e.passAtK['16']).toBeCloseTo(0.5, 12);
    // Per-problem pass@1 is 0.25 and 0: s = 0.25/sqrt(2), CI = 1.96 * s / sqrt(2) = 0.245.
    expect(e.passAt1Ci95).toBeCloseTo(1.96 * 0.125, 12);
  });

  it('greedy accuracies, all-wrong groups of 8 and first-error histograms', () => {
    expect(e.testAcc).toBe(0.5);
    expect(e.oodAcc).toBe(0);
    expect(e.allWrongGroups).toBeCloseTo(3 / 4, 12); // a's second group, both of b's
    expect(e.zeroSignalGroups).toBeCloseTo(3 / 4, 12);
    expect(e.greedyFirstError).toEqual({ 2: 1 });
    expect(e.sampledFirstError).toEqual({ 1: 12, 2: 16 });
    // a's first group: {right, wrong} = 2/8 distinct; second 1/8; b's groups 1/8 each.
    expect(e.diversity).toBeCloseTo((2 / 8 + 1 / 8 + 1 / 8 + 1 / 8) / 4, 12);
    expect(formatEdge(e).join('\n')).toMatch(/all-wrong 8-sample groups\s+75\.0%/);
  });
});

describe('evaluatePolicy with edgeN', () => {
  /** A stand-in policy: greedy decodes are right, samples are wrong at step 1; records the prompts. */
  function fakePolicy(seen: string[][]): PolicyModel {
    return {
      generate: async (prefixes: { prompt: string }[], opts: { greedy?: boolean }) => {
        seen.push(prefixes.map((p) => p.prompt));
        const texts = prefixes.map((x) => {
          const p = {
            prompt: x.prompt,
            answer: String(
              x.prompt
                .split('+')
                .map(Number)
                .reduce((s, y) => s + y),
            ),
          };
          return opts.greedy ? right(p) : wrongAt(p, 1);
        });
        return { texts, logps: texts.map(() => new Float32Array()) };
      },
    } as unknown as PolicyModel;
  }

  it('adds the edge evaluation on edgeN edge-test and edge-ood problems, 64 samples each', async () => {
    const seen: string[][] = [];
    const r = await evaluatePolicy(addTask, fakePolicy(seen), null, { n: 5, edgeN: 7 });
    expect(PASS_KS).toEqual([1, 4, 16, 64]);
    const edge = r.edge;
    if (!edge) throw new Error('no edge evaluation');
    expect(edge.n).toBe(7);
    expect(edge.samples).toBe(EDGE_SAMPLES);
    expect(edge.testAcc).toBe(1);
    expect(edge.oodAcc).toBe(1);
    expect(edge.passAtK).toEqual({ 1: 0, 4: 0, 16: 0, 64: 0 });
    expect(edge.allWrongGroups).toBe(1);
    expect(edge.sampledFirstError).toEqual({ 1: 7 * 64 });
    // After the ordinary test/ood/sampled decodes: edge-test greedy, edge-ood greedy, edge-test x 64.
    const [greedy, ood, samples] = seen.slice(-3);
    expect(seen).toHaveLength(6);
    expect(greedy.map(addEdgeSplitOf)).toEqual(Array(7).fill('edge-test'));
    expect(ood.map(addEdgeSplitOf)).toEqual(Array(7).fill('edge-ood'));
    expect(samples).toEqual(greedy.flatMap((p) => Array(64).fill(p)));
  });

  it('has no edge evaluation by default', async () => {
    const r = await evaluatePolicy(addTask, fakePolicy([]), null, { n: 5 });
    expect(r.edge).toBeUndefined();
  });
});
