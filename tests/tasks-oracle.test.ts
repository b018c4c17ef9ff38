/**
 * Task-oracle cases written against the survivors of the oracles' mutation run (issue 16,
 * docs/testing.md): malformed prompts, the edge splits' names, impossible splits, the teacher
 * continuing a non-leftmost arith prefix, random solution paths, corruptions at the answer step and
 * of each kind (which operand, recomputed sums, parenthesised illegal orders, zeros), the parser's
 * rejections and the ood rule.
 */
import { describe, expect, it } from 'vitest';
import { hashString, Rng } from '../src/core/rng';
import { addEdgeSplitOf } from '../src/core/tasks/add';
import { parseExpr, subtractsProduct } from '../src/core/tasks/arith';
import { randomSolution, solveWith } from '../src/core/tasks/common';
import { addTask, arithTask, type Problem, type Split, type Task } from '../src/core/tasks/index';

const corruptions = (task: Task, p: Problem, prefix: string[], n = 400, seed = 1) => {
  const rng = new Rng(seed);
  return new Set(Array.from({ length: n }, () => task.corruptStep(rng, p, prefix)));
};

describe('add oracle', () => {
  const p = (prompt: string): Problem => {
    const [a, b] = prompt.split('+').map(Number);
    return { prompt, answer: String(a + b) };
  };

  it('a malformed prompt is an error, not a silent parse of part of it', () => {
    for (const prompt of ['x47+85', '47+85x', '47-85', '47+'])
      expect(() => addTask.solve({ prompt, answer: '0' })).toThrow(`add: malformed prompt '${prompt}'`);
  });

  it('edge split names: a chain of exactly 3 is edge-train/edge-test by the hash rule, 4 is edge-ood', () => {
    expect(addEdgeSplitOf('9999+1')).toBe('edge-ood');
    expect(addEdgeSplitOf('9999+9999')).toBe('edge-ood');
    for (const prompt of ['999+1', '1999+1', '995+5', '899+101'])
      expect(addEdgeSplitOf(prompt)).toBe(hashString(prompt) % 10 === 0 ? 'edge-test' : 'edge-train');
    expect(addEdgeSplitOf('99+1')).toBeNull();
  });

  it('an impossible split ends in an error after bounded tries', () => {
    expect(() => addTask.sample(new Rng(1), 'nope' as Split)).toThrow("add: could not sample split 'nope'");
  });

  it('corruptions: both operands get miscopied, forgotten carries with a consistent sum, zeros appear', () => {
    const seen = corruptions(addTask, p('47+85'), ['7+5+0=12']);
    // Column 2 is 4+8+1=13. A miscopied first operand, a miscopied second one.
    expect([...seen].some((s) => /^(?!4\+)\d\+8\+1=/.test(s))).toBe(true);
    expect([...seen].some((s) => /^4\+(?!8\+)\d\+1=/.test(s))).toBe(true);
    // A forgotten carry whose sum is recomputed from it: 4+8+0=12.
    expect(seen).toContain('4+8+0=12');
    // Wrong sum digits include 0 (the leading-zero rule only guards the first digit of a longer number).
    expect(seen).toContain('4+8+1=10');
    const single = corruptions(addTask, p('12+34'), []); // column 1: 2+4+0=6
    expect(single).toContain('2+4+0=0');
    // Wrong answers of 132 include a 0 digit (102, 130) but never a leading one.
    const answers = corruptions(addTask, p('47+85'), ['7+5+0=12', '4+8+1=13']);
    expect([...answers].some((a) => /0/.test(a))).toBe(true);
    for (const a of answers) expect(a).toMatch(/^>[1-9]\d*$/);
  });
});

describe('arith oracle', () => {
  const p = (prompt: string): Problem => {
    const answer = arithTask.solve({ prompt, answer: '' }).at(-1)!.slice(1);
    return { prompt, answer };
  };

  it('a malformed prompt is an error; the teacher refuses a finished prefix', () => {
    expect(() => arithTask.checkSteps({ prompt: '2+', answer: '2' }, [])).toThrow(
      "arith: malformed prompt '2+'",
    );
    const q = p('2*3+4*5');
    expect(() => arithTask.nextStep(q, arithTask.solve(q))).toThrow(
      "arith: prefix for '2*3+4*5' is already complete",
    );
  });

  it('the parser rejects a missing operand, a stray parenthesis and whitespace', () => {
    for (const text of ['2+', '2+)', '(2+3', '2 +3', '2+3 ', '+2', '2**3', ''])
      expect(parseExpr(text), text).toBeNull();
    expect(parseExpr('2+3')).not.toBeNull();
  });

  it('ood: only a product as the right operand of a minus', () => {
    const sp = (t: string) => subtractsProduct(parseExpr(t)!);
    expect(sp('2-3*4')).toBe(true);
    expect(sp('(1+2)-3*4')).toBe(true);
    expect(sp('2+3*4')).toBe(false);
    expect(sp('2*3-4')).toBe(false);
    expect(sp('2-(3+4)')).toBe(false);
    expect(sp('2-3-4')).toBe(false);
  });

  it('asking for a split arith does not have names the split and the options', () => {
    expect(() => arithTask.sample(new Rng(1), 'edge-train')).toThrow(
      "arith has no split 'edge-train' (expected one of: train, test, ood)",
    );
  });

  it('the teacher continues the policy order (solveWith keeps the prefix)', () => {
    const q = p('2*3+4*5');
    expect(solveWith(arithTask.nextStep, q, ['4*5=20'])).toEqual(['2*3=6', '6+20=26', '>26']);
    expect(solveWith(arithTask.nextStep, q)).toEqual(['2*3=6', '4*5=20', '6+20=26', '>26']);
  });

  it('a random solution path is a whole legal path to the answer', () => {
    const q = p('2*3+4*5');
    const rng = new Rng(2);
    const paths = new Set(Array.from({ length: 40 }, () => randomSolution(arithTask, q, rng).join(';')));
    expect(paths).toEqual(new Set(['2*3=6;4*5=20;6+20=26;>26', '4*5=20;2*3=6;6+20=26;>26']));
    expect(randomSolution(addTask, { prompt: '47+85', answer: '132' }, rng)).toEqual([
      '7+5+0=12',
      '4+8+1=13',
      '>132',
    ]);
  });

  it('a task whose paths never end is an error, not a hang', () => {
    const endless = { ...addTask, legalNextSteps: () => ['1+1+0=2'] } as Task;
    expect(() => randomSolution(endless, { prompt: '1+1', answer: '2' }, new Rng(1))).toThrow(
      "no solution path ended for '1+1'",
    );
  });

  it('corruptions at the answer: with one number left and after the answer, a wrong answer', () => {
    const q = p('2*3+4*5');
    const lastNumber = corruptions(arithTask, q, ['2*3=6', '4*5=20', '6+20=26'], 100);
    for (const s of lastNumber) expect(s).toMatch(/^>(?!26$)\d+$/);
    const afterAnswer = corruptions(arithTask, q, ['2*3=6', '4*5=20', '6+20=26', '>26'], 100);
    for (const s of afterAnswer) expect(s).toMatch(/^>(?!26$)\d+$/);
  });

  it('corruptions: an illegal order across parentheses, each operand miscopied, consistent miscopies', () => {
    expect(corruptions(arithTask, p('(3+4)*2'), [])).toContain('4*2=8');
    const seen = [...corruptions(arithTask, p('7*8+9'), [], 600)];
    // The only reduction is 7*8=56; miscopies change 7 or 8 (sometimes recomputing the result).
    const parts = seen.map((s) => /^(\d+)\*(\d+)=(\d+)$/.exec(s)).filter((m) => m !== null);
    expect(parts.some((m) => m[1] !== '7' && m[2] === '8')).toBe(true);
    expect(parts.some((m) => m[1] === '7' && m[2] !== '8')).toBe(true);
    expect(
      parts.some((m) => (m[1] !== '7' || m[2] !== '8') && Number(m[1]) * Number(m[2]) === Number(m[3])),
    ).toBe(true);
  });
  it('corruptions: an illegal order into a parenthesis, and wrong results of 0 and 99 (the ends of the range)', () => {
    expect(corruptions(arithTask, p('2*(3+4)'), [])).toContain('2*3=6');
    expect(corruptions(arithTask, p('1+2'), [])).toContain('1+2=0');
    expect(corruptions(arithTask, p('8*12'), [])).toContain('8*12=99');
  });
});
