import { describe, expect, it } from 'vitest';
import { getTask } from '../src/core/tasks';
import { explainProbe, parseProblem } from '../src/ui/problem';

const add = getTask('add');
const arith = getTask('arith');

describe('problem box: reading a typed problem (issue 20 item 6)', () => {
  it("reads a problem in the task's prompt format, with its answer from the task's solver", () => {
    expect(parseProblem(add, ' 47 + 85 ')).toEqual({ ok: true, problem: { prompt: '47+85', answer: '132' } });
    const a = parseProblem(arith, '3*(4+5)');
    expect(a.ok && a.problem.answer).toBe('27');
  });

  it('refuses what the task cannot read, with a clear message', () => {
    const msg = (t: typeof add, s: string) => {
      const r = parseProblem(t, s);
      if (r.ok) throw new Error(`accepted '${s}'`);
      return r.message;
    };
    expect(msg(add, '')).toMatch(/Type a problem, e\.g\. 47\+85/);
    expect(msg(add, '4x5')).toMatch(/'x' cannot appear in a add problem/);
    expect(msg(add, '47:85')).toMatch(/':' cannot appear/);
    expect(msg(add, '47++85')).toMatch(/is not a add problem/);
    expect(msg(add, '+')).toMatch(/is not a add problem/);
    expect(msg(add, `${'9'.repeat(60)}+1`)).toMatch(/too long|outside/);
  });
});

describe('problem box: explaining the policy answer', () => {
  const p = { prompt: '47+85', answer: '132' };
  it('a wrong step: the first error, the teacher correction there, later steps after the error', () => {
    const solution = add.solve(p);
    const wrong = [solution[0], '4+8+0=12', ...solution.slice(2)];
    const completion = `${wrong.join(';')}.`;
    const e = explainProbe(add, p, completion, [0.9, 0.2, 0.2, 0.2].slice(0, wrong.length), 0.5);
    expect(e.firstError).toBe(2);
    expect(e.prmFirstError).toBe(2);
    expect(e.correction).toEqual({ k: 2, wrote: '4+8+0=12', teacher: solution[1] });
    expect(e.steps.map((s) => s.verdict)).toEqual([
      'valid',
      'first-error',
      ...wrong.slice(2).map(() => 'after-error'),
    ]);
    // The later steps copy the right answer: outcome reward 1 despite the wrong step 2.
    expect(e.reward).toBe(1);
  });

  it('a right answer: no error, no correction, reward 1; no PRM: no scores', () => {
    const e = explainProbe(add, p, `${add.solve(p).join(';')}.`, null, 0.5);
    expect(e).toMatchObject({
      firstError: 0,
      prmFirstError: 0,
      correction: null,
      reward: 1,
      unfinished: false,
    });
    expect(e.steps.every((s) => s.prm === null && s.verdict === 'valid')).toBe(true);
  });
});
