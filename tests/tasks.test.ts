import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANSWER_MARK, isAnswerStep, renderCompletion } from '../src/core/format';
import { hashString, Rng } from '../src/core/rng';
import { longestCarryChain } from '../src/core/tasks/add';
import { type Expr, parseExpr, renderExpr } from '../src/core/tasks/arith';
import { addTask, arithTask, getTask, type Problem, SPLITS, type Task } from '../src/core/tasks/index';

const TASKS: Task[] = [addTask, arithTask];
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const RUNS = { numRuns: 150 };

/** A uniformly random legal path to the answer (the teacher takes one fixed path; this explores all). */
function randomWalk(task: Task, p: Problem, rng: Rng): string[] {
  const steps: string[] = [];
  while (!isAnswerStep(steps[steps.length - 1] ?? '')) {
    if (steps.length > 20) throw new Error(`walk too long: ${steps}`);
    steps.push(rng.pick(task.legalNextSteps(p, steps)));
  }
  return steps;
}

/** Independent oracle for arith prompts: reduce innermost parens, then * then +- left to right, by regex. */
function evalText(text: string): number {
  let s = text;
  const flat = (e: string): number => {
    let t = e;
    while (/\d\*/.test(t)) t = t.replace(/(\d+)\*(\d+)/, (_, a, b) => String(Number(a) * Number(b)));
    while (/\d[+-]/.test(t))
      t = t.replace(/(-?\d+)([+-])(\d+)/, (_, a, o, b) => String(o === '+' ? +a + +b : a - b));
    return Number(t);
  };
  while (s.includes('(')) s = s.replace(/\(([^()]*)\)/, (_, inner) => String(flat(inner)));
  return flat(s);
}

/** Independent check of the add OOD property: some 3 consecutive columns all carry. */
function hasCarryChain3(prompt: string): boolean {
  const [a, b] = prompt.split('+').map(Number);
  let carry = 0;
  let run = 0;
  for (let x = a, y = b; x > 0 || y > 0; x = Math.floor(x / 10), y = Math.floor(y / 10)) {
    carry = (x % 10) + (y % 10) + carry >= 10 ? 1 : 0;
    run = carry ? run + 1 : 0;
    if (run >= 3) return true;
  }
  return false;
}

const oodProperty: Record<string, (prompt: string) => boolean> = {
  add: hasCarryChain3,
  // Written independently of the implementation: a '-' whose right operand (after precedence and
  // parentheses) is a product. Tokens: find each '-' at depth d, read its right operand up to the next
  // '+'/'-' or closing paren at the same depth, and ask whether it is a product.
  arith: (prompt) => {
    const t = prompt.match(/\d+|[-+*()]/g) ?? [];
    for (let i = 0; i < t.length; i++) {
      if (t[i] !== '-') continue;
      let depth = 0;
      let j = i + 1;
      let topStar = false;
      let onlyGroup = t[j] === '(';
      for (; j < t.length; j++) {
        if (t[j] === '(') depth++;
        else if (t[j] === ')') {
          if (depth === 0) break;
          depth--;
        } else if (depth === 0 && (t[j] === '+' || t[j] === '-')) break;
        else if (depth === 0 && t[j] === '*') {
          topStar = true;
          onlyGroup = false;
        }
      }
      if (topStar) return true;
      // "a-(b*c)": the whole right operand is one parenthesised product.
      if (onlyGroup && t[j - 1] === ')') {
        const inner = t.slice(i + 2, j - 1);
        let d = 0;
        let star = false;
        let sum = false;
        for (const x of inner) {
          if (x === '(') d++;
          else if (x === ')') d--;
          else if (d === 0 && x === '*') star = true;
          else if (d === 0 && (x === '+' || x === '-')) sum = true;
        }
        if (star && !sum) return true;
      }
    }
    return false;
  },
};

const trueAnswer: Record<string, (prompt: string) => number> = {
  add: (prompt) => prompt.split('+').reduce((s, x) => s + Number(x), 0),
  arith: evalText,
};

describe.each(TASKS)('task $name', (task) => {
  const inVocab = (s: string) => [...s].every((ch) => task.chars.includes(ch));

  describe.each(SPLITS)('split %s', (split) => {
    it('teacher solution is all valid, rewarded, right, and fits maxSeqLen', () => {
      fc.assert(
        fc.property(seed, (s) => {
          const p = task.sample(new Rng(s), split);
          const sol = task.solve(p);
          const completion = renderCompletion(sol);
          expect(task.checkSteps(p, sol).every(Boolean)).toBe(true);
          expect(task.reward(p, completion)).toBe(1);
          expect(p.answer).toBe(String(trueAnswer[task.name](p.prompt)));
          expect(sol[sol.length - 1]).toBe(ANSWER_MARK + p.answer);
          expect(sol.filter(isAnswerStep)).toHaveLength(1);
          const seq = `${p.prompt}:${completion}`;
          expect(seq.length).toBeLessThanOrEqual(task.maxSeqLen);
          expect(inVocab(seq)).toBe(true);
        }),
        RUNS,
      );
    });

    it('every legal path is accepted and reaches the right answer', () => {
      fc.assert(
        fc.property(seed, (s) => {
          const rng = new Rng(s);
          const p = task.sample(rng, split);
          const path = randomWalk(task, p, rng);
          expect(task.checkSteps(p, path)).toEqual(path.map(() => true));
          expect(task.reward(p, renderCompletion(path))).toBe(1);
          expect(`${p.prompt}:${renderCompletion(path)}`.length).toBeLessThanOrEqual(task.maxSeqLen);
          // Nothing is legal after the answer step.
          expect(task.legalNextSteps(p, path)).toEqual([]);
          expect(task.checkSteps(p, [...path, path[path.length - 1]]).at(-1)).toBe(false);
        }),
        RUNS,
      );
    });

    it('nextStep continues any valid prefix to the right answer', () => {
      fc.assert(
        fc.property(seed, (s) => {
          const rng = new Rng(s);
          const p = task.sample(rng, split);
          const path = randomWalk(task, p, rng);
          const steps = path.slice(0, rng.int(0, path.length - 1));
          while (!isAnswerStep(steps[steps.length - 1] ?? '')) {
            const next = task.nextStep(p, steps);
            expect(task.legalNextSteps(p, steps)).toContain(next);
            steps.push(next);
          }
          expect(task.checkSteps(p, steps).every(Boolean)).toBe(true);
          expect(steps[steps.length - 1]).toBe(ANSWER_MARK + p.answer);
        }),
        RUNS,
      );
    });

    it('corrupted steps are rejected and everything after them is invalid', () => {
      fc.assert(
        fc.property(seed, (s) => {
          const rng = new Rng(s);
          const p = task.sample(rng, split);
          const path = randomWalk(task, p, rng);
          const k = rng.int(0, path.length - 1);
          const bad = task.corruptStep(rng, p, path.slice(0, k));
          expect(bad).not.toBe(path[k]);
          expect(task.legalNextSteps(p, path.slice(0, k))).not.toContain(bad);
          expect(inVocab(bad)).toBe(true);
          // The rest of the (otherwise valid) path follows the corrupted step: all invalid.
          const labels = task.checkSteps(p, [...path.slice(0, k), bad, ...path.slice(k + 1)]);
          expect(labels).toEqual(path.map((_, i) => i < k));
          expect(task.reward(p, renderCompletion([...path.slice(0, k), bad]))).toBe(0);
        }),
        RUNS,
      );
    });

    it('wrong or malformed completions get reward 0', () => {
      fc.assert(
        fc.property(seed, (s) => {
          const p = task.sample(new Rng(s), split);
          const sol = task.solve(p);
          const ans = sol[sol.length - 1];
          const body = sol.slice(0, -1);
          const wrong = ANSWER_MARK + String(Number(p.answer) + 1);
          expect(task.reward(p, renderCompletion(sol).slice(0, -1))).toBe(0); // missing EOS
          expect(task.reward(p, `${renderCompletion(sol).slice(0, -1)};`)).toBe(0); // ';' instead of EOS
          expect(task.reward(p, renderCompletion([...body, wrong]))).toBe(0); // wrong answer
          expect(task.reward(p, renderCompletion([...body, ans, ans]))).toBe(0); // two answer steps
          expect(task.reward(p, renderCompletion([...body, wrong, ans]))).toBe(0);
          expect(task.reward(p, renderCompletion([ans, ...body]))).toBe(0); // answer not last
          expect(task.reward(p, renderCompletion([...body, p.answer]))).toBe(0); // no answer mark
          expect(task.reward(p, renderCompletion([...body, `${ans}0`]))).toBe(0);
          for (const g of ['', '.', '>.', ';;;', 'x', `${ans}`]) expect(task.reward(p, g)).toBe(0);
        }),
        RUNS,
      );
    });
  });

  it('checkSteps labels arbitrary text without throwing, first-error monotone', () => {
    const alphabet = fc.constantFrom(...task.chars.replace(/[;.]/g, ''), 'x', ' ', '-', '(');
    fc.assert(
      fc.property(
        seed,
        fc.array(fc.string({ unit: alphabet, maxLength: 12 }), { maxLength: 6 }),
        (s, junk) => {
          const p = task.sample(new Rng(s), 'train');
          const sol = task.solve(p);
          const steps = [...sol.slice(0, s % sol.length), ...junk];
          const labels = task.checkSteps(p, steps);
          expect(labels).toHaveLength(steps.length);
          const firstBad = labels.indexOf(false);
          if (firstBad >= 0) expect(labels.slice(firstBad).every((l) => !l)).toBe(true);
          expect(labels.slice(0, s % sol.length).every(Boolean)).toBe(true);
          expect([0, 1]).toContain(task.reward(p, renderCompletion(junk)));
        },
      ),
      RUNS,
    );
  });

  it('reward is outcome-only: invalid steps with the right final answer still score 1', () => {
    const p = task.sample(new Rng(3), 'train');
    expect(task.reward(p, `garbage;${ANSWER_MARK}${p.answer}.`)).toBe(1);
    expect(task.checkSteps(p, ['garbage', ANSWER_MARK + p.answer])).toEqual([false, false]);
  });

  it('same seed gives the same problems; different seeds differ', () => {
    for (const split of SPLITS) {
      const a = new Rng(7);
      const b = new Rng(7);
      const c = new Rng(8);
      const pa = Array.from({ length: 50 }, () => task.sample(a, split));
      const pb = Array.from({ length: 50 }, () => task.sample(b, split));
      const pc = Array.from({ length: 50 }, () => task.sample(c, split));
      expect(pa).toEqual(pb);
      expect(pa).not.toEqual(pc);
    }
  });

  it('train and test are disjoint by the hash rule and ood has its structure', () => {
    const rng = new Rng(11);
    const train = new Set(Array.from({ length: 3000 }, () => task.sample(rng, 'train').prompt));
    const test = new Set(Array.from({ length: 1000 }, () => task.sample(rng, 'test').prompt));
    const ood = new Set(Array.from({ length: 1000 }, () => task.sample(rng, 'ood').prompt));
    expect([...test].filter((x) => train.has(x))).toEqual([]);
    for (const x of train) expect(hashString(x) % 10 !== 0 && !oodProperty[task.name](x)).toBe(true);
    for (const x of test) expect(hashString(x) % 10 === 0 && !oodProperty[task.name](x)).toBe(true);
    for (const x of ood) expect(oodProperty[task.name](x)).toBe(true);
    // Enough distinct problems that the splits mean something.
    expect(train.size).toBeGreaterThan(1000);
    expect(test.size).toBeGreaterThan(300);
    expect(ood.size).toBeGreaterThan(300);
  });
});

describe('add', () => {
  const p = (prompt: string): Problem => ({ prompt, answer: String(trueAnswer.add(prompt)) });

  it('hand-written solutions', () => {
    expect(addTask.solve(p('47+85'))).toEqual(['7+5+0=12', '4+8+1=13', '>132']);
    expect(addTask.solve(p('123+45'))).toEqual(['3+5+0=8', '2+4+0=6', '1+0+0=1', '>168']);
    expect(addTask.solve(p('99+9901'))).toEqual(['9+1+0=10', '9+0+1=10', '0+9+1=10', '0+9+1=10', '>10000']);
    expect(renderCompletion(addTask.solve(p('47+85')))).toBe('7+5+0=12;4+8+1=13;>132.');
    expect(addTask.checkSteps(p('47+85'), ['7+5+0=12', '4+8+0=12', '>132'])).toEqual([true, false, false]);
    expect(addTask.checkSteps(p('47+85'), ['7+5+0=12', '>132'])).toEqual([true, false]); // premature answer
    expect(addTask.checkSteps(p('47+85'), ['7+5+0=12', '4+8+1=13', '>132', '>132'])).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(addTask.legalNextSteps(p('47+85'), ['7+5+0=12'])).toEqual(['4+8+1=13']);
  });

  it('carry chains and maxSeqLen', () => {
    expect(longestCarryChain('999+1')).toBe(3);
    expect(longestCarryChain('47+85')).toBe(2);
    expect(longestCarryChain('1234+1234')).toBe(0);
    expect(addTask.maxSeqLen).toBe(53);
    // The longest possible sequence (an ood problem) hits the bound exactly.
    expect(`9999+9999:${renderCompletion(addTask.solve(p('9999+9999')))}`).toHaveLength(53);
  });

  it('sampled operands have 2..4 digits and no leading zeros', () => {
    const rng = new Rng(5);
    const lengths = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      for (const x of addTask.sample(rng, rng.pick(SPLITS)).prompt.split('+')) {
        expect(x).toMatch(/^[1-9]\d{1,3}$/);
        lengths.add(x.length);
      }
    }
    expect([...lengths].sort()).toEqual([2, 3, 4]);
  });

  it('corruptions cover wrong sums, wrong carries and miscopied digits', () => {
    const rng = new Rng(1);
    const seen = new Set(
      Array.from({ length: 300 }, () => addTask.corruptStep(rng, p('47+85'), ['7+5+0=12'])),
    );
    expect(seen).toContain('4+8+1=12'); // wrong sum digit
    expect(seen).toContain('4+8+0=13'); // forgotten carry
    expect([...seen].some((s) => /^(?!4\+8)\d\+\d\+1=\d+$/.test(s) || /^4\+(?!8)\d\+1=/.test(s))).toBe(true); // miscopy
    const answers = Array.from({ length: 50 }, () =>
      addTask.corruptStep(rng, p('47+85'), ['7+5+0=12', '4+8+1=13']),
    );
    for (const a of answers) expect(a).toMatch(/^>(?!132$)[1-9]\d\d$/);
  });

  it('rejects an invalid prefix in the teacher', () => {
    expect(() => addTask.nextStep(p('47+85'), ['7+5+0=13'])).toThrow(/invalid prefix/);
    expect(() => arithTask.nextStep({ prompt: '3+4*2', answer: '11' }, ['3+4=7'])).toThrow(/invalid prefix/);
    expect(() => addTask.nextStep(p('47+85'), addTask.solve(p('47+85')))).toThrow(/complete/);
  });
});

describe('arith', () => {
  const p = (prompt: string): Problem => ({ prompt, answer: String(evalText(prompt)) });
  const legal = (prompt: string, prefix: string[] = []) => arithTask.legalNextSteps(p(prompt), prefix);
  const check = (prompt: string, steps: string[]) => arithTask.checkSteps(p(prompt), steps);
  const REDUCTION = /^(\d+)([-+*])(\d+)=(\d+)$/;

  it('hand-written examples', () => {
    expect(renderCompletion(arithTask.solve(p('2*3+4*5')))).toBe('2*3=6;4*5=20;6+20=26;>26.');
    expect(new Set(legal('2*3+4*5'))).toEqual(new Set(['2*3=6', '4*5=20']));
    expect(legal('2*3+4*5', ['2*3=6'])).toEqual(['4*5=20']);
    expect(legal('2*3+4*5', ['4*5=20'])).toEqual(['2*3=6']);
    expect(legal('2*3+4*5', ['2*3=6', '4*5=20'])).toEqual(['6+20=26']);
    expect(legal('2*3+4*5', ['4*5=20', '2*3=6', '6+20=26'])).toEqual(['>26']);
    expect(arithTask.nextStep(p('2*3+4*5'), [])).toBe('2*3=6'); // leftmost first
    expect(check('2*3+4*5', ['4*5=20', '2*3=6', '6+20=26', '>26'])).toEqual([true, true, true, true]);
    expect(renderCompletion(arithTask.solve(p('3+4*2')))).toBe('4*2=8;3+8=11;>11.');
    expect(legal('3+4*2')).toEqual(['4*2=8']);
    expect(renderCompletion(arithTask.solve(p('(3+4)*2')))).toBe('3+4=7;7*2=14;>14.');
    expect(legal('10-(3-2)')).toEqual(['3-2=1']);
    expect(legal('10-3-2')).toEqual(['10-3=7']);
    expect(new Set(legal('(1+2)*(3+4)'))).toEqual(new Set(['1+2=3', '3+4=7']));
    expect(legal('(1+2)*(3+4)', ['3+4=7'])).toEqual(['1+2=3']);
    expect(legal('(1+2)*(3+4)', ['3+4=7', '1+2=3'])).toEqual(['3*7=21']);
    // Two identical reducible nodes: one step text, applied to the leftmost; the other is still legal after.
    expect(legal('2*3+2*3')).toEqual(['2*3=6']);
    expect(legal('2*3+2*3', ['2*3=6'])).toEqual(['2*3=6']);
    expect(legal('2*3+2*3', ['2*3=6', '2*3=6'])).toEqual(['6+6=12']);
    expect(legal('2*3-2', ['2*3=6'])).toEqual(['6-2=4']);
    // Leftmost matters when the identical nodes sit in different contexts.
    expect(new Set(legal('1+1+(1+1)*2'))).toEqual(new Set(['1+1=2']));
    expect(legal('1+1+(1+1)*2', ['1+1=2'])).toEqual(['1+1=2']); // "2+(1+1)*2", not "1+1+2*2"
    expect(legal('1+1+(1+1)*2', ['1+1=2', '1+1=2'])).toEqual(['2*2=4']);
  });

  it('rejects illegal orders, wrong values, premature and late answers, and garbage', () => {
    expect(check('3+4*2', ['3+4=7'])).toEqual([false]); // + before *
    expect(check('3+4*2', ['3+4=7', '7*2=14', '>14'])).toEqual([false, false, false]);
    expect(check('10-3-2', ['3-2=1'])).toEqual([false]); // right-associated
    expect(check('10-(3-2)', ['10-3=7'])).toEqual([false]); // parentheses ignored
    expect(check('(3+4)*2', ['4*2=8'])).toEqual([false]);
    expect(check('3+4*2', ['3+8=11'])).toEqual([false]); // uses a value not yet computed
    expect(check('3+4*2', ['4*2=9'])).toEqual([false]); // wrong result
    expect(check('3+4*2', ['4*3=12'])).toEqual([false]); // wrong operand
    expect(check('3+4*2', ['2*4=8'])).toEqual([false]); // operands in the wrong order
    expect(check('3+4*2', ['4+2=6'])).toEqual([false]); // wrong operator
    for (const bad of [
      '04*2=8',
      '4*2=08',
      '4*2=8 ',
      ' 4*2=8',
      '4*2',
      '8',
      '3+8',
      '4*2==8',
      '(4*2)=8',
      '4*2=8=8',
    ])
      expect(check('3+4*2', [bad])).toEqual([false]);
    expect(check('3+4*2', ['4*2=8', '>11'])).toEqual([true, false]); // premature answer
    expect(check('3+4*2', ['>11'])).toEqual([false]);
    expect(check('3+4*2', ['4*2=8', '3+8=11', '>12'])).toEqual([true, true, false]);
    expect(check('3+4*2', ['4*2=8', '3+8=11', '11'])).toEqual([true, true, false]); // no answer mark
    expect(check('3+4*2', ['4*2=8', '3+8=11', '>11', '>11'])).toEqual([true, true, true, false]);
    expect(check('3+4*2', ['4*2=8', '3+8=11', '>11', '3+8=11'])).toEqual([true, true, true, false]);
    expect(check('3+4*2', ['4*2=8', '4*2=8'])).toEqual([true, false]); // a node is reduced once
    expect(check('3+4*2', ['', '((', '>11'])).toEqual([false, false, false]);
    expect(legal('3+4*2', ['4*2=8', '3+8=11', '>11'])).toEqual([]);
    expect(() => legal('3+4*2', ['3+4=7'])).toThrow(/invalid prefix/);
  });

  it('every legal path does the same reductions as the teacher, each one local and correct', () => {
    fc.assert(
      fc.property(seed, fc.constantFrom(...SPLITS), (s, split) => {
        const rng = new Rng(s);
        const prob = arithTask.sample(rng, split);
        const path = randomWalk(arithTask, prob, rng);
        const teacher = arithTask.solve(prob);
        const leaves = prob.prompt.match(/\d+/g)!.length;
        expect(path).toHaveLength(leaves); // leaves - 1 reductions + the answer
        expect([...path].sort()).toEqual([...teacher].sort());
        // Replay the path on a multiset of available values: every operand was available, every result is right.
        const avail = prob.prompt.match(/\d+/g)!.map(Number);
        const take = (n: number) => {
          const i = avail.indexOf(n);
          expect(i).toBeGreaterThanOrEqual(0);
          avail.splice(i, 1);
        };
        for (const step of path.slice(0, -1)) {
          const m = REDUCTION.exec(step);
          expect(m).not.toBeNull();
          const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
          expect(c).toBe(op === '+' ? a + b : op === '-' ? a - b : a * b);
          take(a);
          take(b);
          avail.push(c);
        }
        expect(avail).toEqual([Number(prob.answer)]);
        // Every legal next step along the way is a reduction (or the answer at the end only).
        for (let k = 0; k < path.length; k++)
          for (const st of arithTask.legalNextSteps(prob, path.slice(0, k)))
            expect(st).toMatch(k === path.length - 1 ? /^>\d+$/ : REDUCTION);
      }),
      RUNS,
    );
  });

  it('corruptions cover wrong results, wrong operands, illegal orders and premature answers', () => {
    const rng = new Rng(1);
    const seen = new Set(Array.from({ length: 400 }, () => arithTask.corruptStep(rng, p('3+4*12'), [])));
    expect(seen).toContain('3+4=7'); // + before *
    expect(seen).toContain('4*12=50'); // result off by 2
    expect(seen).toContain('4*12=38'); // result with a digit changed
    expect([...seen].some((x) => /^(?!4\*12=)\d+\*\d+=\d+$/.test(x))).toBe(true); // miscopied operand
    expect(seen).toContain('12*12=48'); // another number of the state copied
    expect([...seen].some((x) => /^>\d+$/.test(x))).toBe(true); // premature answer
    expect(seen).not.toContain('4*12=48');
    expect(seen).not.toContain('>51'); // a premature right answer would still be rewarded
    for (const x of seen) expect(x).toMatch(/^(\d+[-+*]\d+=\d+|>\d+)$/);
    // Ignoring parentheses and associativity.
    const paren = new Set(Array.from({ length: 300 }, () => arithTask.corruptStep(rng, p('(3+4)*2+1'), [])));
    expect(paren).toContain('4*2=8');
    expect(paren).toContain('2+1=3');
    const assoc = new Set(Array.from({ length: 300 }, () => arithTask.corruptStep(rng, p('10-3-2'), [])));
    expect(assoc).toContain('3-2=1');
    const answers = Array.from({ length: 50 }, () =>
      arithTask.corruptStep(rng, p('3+4*2'), ['4*2=8', '3+8=11']),
    );
    for (const a of answers) expect(a).toMatch(/^>(?!11$)\d+$/);
  });

  it('corrupted steps keep the step format, numbers in [0, 99], and fit maxSeqLen', () => {
    fc.assert(
      fc.property(seed, fc.constantFrom(...SPLITS), (s, split) => {
        const rng = new Rng(s);
        const prob = arithTask.sample(rng, split);
        const path = randomWalk(arithTask, prob, rng);
        const k = rng.int(0, path.length - 1);
        const bad = arithTask.corruptStep(rng, prob, path.slice(0, k));
        expect(bad).toMatch(/^(\d+[-+*]\d+=\d+|>\d+)$/);
        for (const n of bad.match(/\d+/g)!.map(Number)) expect(n).toBeLessThanOrEqual(99);
        const seq = `${prob.prompt}:${renderCompletion([...path.slice(0, k), bad])}`;
        expect(seq.length).toBeLessThanOrEqual(arithTask.maxSeqLen);
      }),
      RUNS,
    );
  });

  it('some problems have several legal next steps', () => {
    const rng = new Rng(9);
    let multi = 0;
    for (let i = 0; i < 300; i++)
      if (arithTask.legalNextSteps(arithTask.sample(rng, 'train'), []).length > 1) multi++;
    expect(multi).toBeGreaterThan(10);
  });

  it('parser round-trips every rendered tree and rejects malformed text', () => {
    const tree = (rng: Rng, leaves: number): Expr => {
      if (leaves === 1) return { kind: 'num', value: rng.int(0, 120) };
      const l = rng.int(1, leaves - 1);
      return {
        kind: 'op',
        op: rng.pick(['+', '-', '*'] as const),
        left: tree(rng, l),
        right: tree(rng, leaves - l),
      };
    };
    fc.assert(
      fc.property(seed, fc.integer({ min: 1, max: 7 }), (s, n) => {
        const t = tree(new Rng(s), n);
        const text = renderExpr(t);
        expect(parseExpr(text)).toEqual(t);
        expect(renderExpr(parseExpr(text)!)).toBe(text);
      }),
      { numRuns: 300 },
    );
    expect(renderExpr(parseExpr('2*(3*4)')!)).toBe('2*(3*4)');
    expect(renderExpr(parseExpr('((2*3))*4')!)).toBe('2*3*4');
    for (const bad of ['', '3+', '(3', '3)', '3++4', 'a', '3 4', '()', '>3'])
      expect(parseExpr(bad)).toBeNull();
  });

  it('every node value stays in [0, 99] and leaves in [0, 12], with 2..4 leaves', () => {
    const rng = new Rng(4);
    const seenLeaves = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const prob = arithTask.sample(rng, rng.pick(SPLITS));
      const leaves = prob.prompt.match(/\d+/g)!.map(Number);
      for (const x of leaves) seenLeaves.add(x);
      expect(leaves.length).toBeGreaterThanOrEqual(2);
      expect(leaves.length).toBeLessThanOrEqual(4);
      expect(Math.max(...leaves)).toBeLessThanOrEqual(12);
      for (const step of arithTask.solve(prob)) {
        for (const n of step.match(/\d+/g)!.map(Number)) expect(n).toBeLessThanOrEqual(99);
        expect(step).not.toMatch(/(^|[-+*(>=])-/); // no negative numbers
      }
    }
    expect([...seenLeaves].sort((a, b) => a - b)).toEqual(Array.from({ length: 13 }, (_, i) => i));
  });

  it('maxSeqLen is a tight bound', () => {
    expect(arithTask.maxSeqLen).toBe(47);
    // The longest sequence (found by enumerating every 4-leaf problem) hits the bound exactly.
    const seq = `10+(10+(10+10)):${renderCompletion(arithTask.solve(p('10+(10+(10+10))')))}`;
    expect(seq).toBe('10+(10+(10+10)):10+10=20;10+20=30;10+30=40;>40.');
    expect(seq).toHaveLength(47);
  });
});

describe('getTask', () => {
  it('finds tasks by name and names the options on a bad one', () => {
    expect(getTask('add')).toBe(addTask);
    expect(getTask('arith')).toBe(arithTask);
    expect(() => getTask('mul')).toThrow("unknown task 'mul' (expected one of: add, arith)");
    expect(() => getTask('toString')).toThrow(/unknown task/);
  });
});

describe('dense PRM labels (prefixValidity)', () => {
  it('marks every character valid up to the first deviation from all legal continuations', async () => {
    const { prefixValidity } = await import('../src/core/pretrain');
    const p = { prompt: '47+85', answer: '132' };
    const bits = (c: string) => prefixValidity(addTask, p, c).map(Number).join('');
    expect(bits('7+5+0=12;4+8+1=13;>132.')).toBe('1'.repeat(23));
    // Wrong sum digit in step 2 at "=14": valid through "4+8+1=1", invalid from "4" on.
    expect(bits('7+5+0=12;4+8+1=14;>142.')).toBe(`${'1'.repeat(16)}${'0'.repeat(7)}`);
    // Unfinished tail: valid so far.
    expect(bits('7+5+0=12;4+')).toBe('1'.repeat(11));
    // Anything after the answer is invalid.
    expect(bits('7+5+0=12;4+8+1=13;>132.9')).toBe(`${'1'.repeat(23)}0`);
    // An answer step ended with ';' is not a valid terminator for it.
    expect(bits('7+5+0=12;4+8+1=13;>132;')).toBe(`${'1'.repeat(22)}0`);
  });

  it('accepts every legal order in arith', async () => {
    const { prefixValidity } = await import('../src/core/pretrain');
    const p = { prompt: '2*3+4*5', answer: '26' };
    for (const c of ['2*3=6;4*5=20;6+20=26;>26.', '4*5=20;2*3=6;6+20=26;>26.'])
      expect(prefixValidity(arithTask, p, c).every(Boolean)).toBe(true);
    expect(prefixValidity(arithTask, p, '3+4=7;').map(Number).join('')).toBe('000000');
  });
});
