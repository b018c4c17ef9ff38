import { ANSWER_MARK, isAnswerStep, parseCompletion } from '../format';
import { hashString, type Rng } from '../rng';
import type { Problem, Split, Task } from './types';

/**
 * `arith`: integer expression evaluation with + - * and parentheses, one reduction per step.
 *   "3+4*2:3+8;11;>11."
 * A step re-renders the whole expression after replacing ONE reducible node (an operator whose two
 * operands are numbers) by its value; any reducible node is legal, so independent sub-expressions can
 * be reduced in any order ("2*3+4*5" -> "6+4*5" or "2*3+20"). When one number n is left, the step is ">n".
 *
 * Splits. train/test: held-out hash rule on the prompt, both restricted to at most one '*'.
 * ood: expressions with at least two '*' (hence 3 or 4 leaves). Why not longer expressions: the models
 * use learned absolute positions, which cannot length-extrapolate, so OOD is a held-out operator
 * combination within trained lengths: every single rule (precedence, parentheses, each operator) is
 * trained, but never two multiplications in one expression.
 */
export const MIN_LEAVES = 2;
export const MAX_LEAVES = 4;
export const LEAF_MAX = 12;
/** Every node value (leaves and sub-expressions) lies in [0, VALUE_MAX]; others are rejected. */
export const VALUE_MAX = 99;
const MAX_TRIES = 100_000;

export type Op = '+' | '-' | '*';
export type Expr = { kind: 'num'; value: number } | { kind: 'op'; op: Op; left: Expr; right: Expr };

const OPS: readonly Op[] = ['+', '-', '*'];
const prec = (e: Expr): number => (e.kind === 'num' ? 3 : e.op === '*' ? 2 : 1);
const num = (value: number): Expr => ({ kind: 'num', value });

function apply(op: Op, a: number, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

export function evaluate(e: Expr): number {
  return e.kind === 'num' ? e.value : apply(e.op, evaluate(e.left), evaluate(e.right));
}

/**
 * Minimal parentheses that round-trip exactly under left-associative parsing: a child is wrapped if it
 * binds looser than its parent, or if it is the right child and binds equally ("a-(b-c)", "a*(b*c)").
 */
export function renderExpr(e: Expr): string {
  if (e.kind === 'num') return String(e.value);
  const side = (c: Expr, right: boolean): string => {
    const s = renderExpr(c);
    return prec(c) < prec(e) || (right && prec(c) === prec(e)) ? `(${s})` : s;
  };
  return side(e.left, false) + e.op + side(e.right, true);
}

/** Recursive-descent parser (numbers, + - *, parentheses; left-associative; * binds tighter). null if malformed. */
export function parseExpr(text: string): Expr | null {
  const toks = text.match(/\d+|[-+*()]|[\s\S]/g) ?? [];
  let i = 0;
  const atom = (): Expr | null => {
    const t = toks[i++];
    if (t === '(') {
      const e = sum();
      return e && toks[i++] === ')' ? e : null;
    }
    return t !== undefined && /^\d+$/.test(t) ? num(Number(t)) : null;
  };
  const chain = (ops: string, operand: () => Expr | null) => (): Expr | null => {
    let left = operand();
    while (left && ops.includes(toks[i] ?? '_')) {
      const op = toks[i++] as Op;
      const right = operand();
      left = right && { kind: 'op', op, left, right };
    }
    return left;
  };
  const product = chain('*', atom);
  const sum = chain('+-', product);
  const e = sum();
  return e && i === toks.length ? e : null;
}

/** Every one-reduction successor, in left-to-right order of the reduced node; `value` computes its result. */
function reductions(e: Expr, value = (op: Op, a: number, b: number) => apply(op, a, b)): Expr[] {
  if (e.kind === 'num') return [];
  if (e.left.kind === 'num' && e.right.kind === 'num') return [num(value(e.op, e.left.value, e.right.value))];
  return [
    ...reductions(e.left, value).map((left) => ({ ...e, left })),
    ...reductions(e.right, value).map((right) => ({ ...e, right })),
  ];
}

/** Where a valid prefix leaves the problem: an expression to reduce, or 'done' after the answer step. */
type State = Expr | 'done';

function promptExpr(problem: Problem): Expr {
  const e = parseExpr(problem.prompt);
  if (!e) throw new Error(`arith: malformed prompt '${problem.prompt}'`);
  return e;
}

/** Legal next steps from a state, each with the state it leads to (rendering is injective, so keyed by text). */
function successors(state: State): Map<string, State> {
  if (state === 'done') return new Map();
  if (state.kind === 'num') return new Map([[ANSWER_MARK + state.value, 'done']]);
  return new Map(reductions(state).map((r) => [renderExpr(r), r]));
}

/** First-error labels of `steps`, and the state reached by the valid prefix. */
function walk(problem: Problem, steps: readonly string[]): { labels: boolean[]; state: State } {
  let state: State = promptExpr(problem);
  let ok = true;
  const labels = steps.map((s) => {
    const next = ok ? successors(state).get(s) : undefined;
    if (next === undefined) ok = false;
    else state = next;
    return ok;
  });
  return { labels, state };
}

function legalNextSteps(problem: Problem, prefix: readonly string[]): string[] {
  const { labels, state } = walk(problem, prefix);
  if (!labels.every(Boolean)) throw new Error(`arith: invalid prefix for '${problem.prompt}'`);
  return [...successors(state).keys()];
}

/** The teacher: reduce the leftmost reducible node (successors are in left-to-right order). */
function nextStep(problem: Problem, prefix: readonly string[]): string {
  const legal = legalNextSteps(problem, prefix);
  if (legal.length === 0) throw new Error(`arith: prefix for '${problem.prompt}' is already complete`);
  return legal[0];
}

function randomTree(rng: Rng, leaves: number): Expr {
  if (leaves === 1) return num(rng.int(0, LEAF_MAX));
  const op = rng.pick(OPS);
  const l = rng.int(1, leaves - 1);
  return { kind: 'op', op, left: randomTree(rng, l), right: randomTree(rng, leaves - l) };
}

function allInRange(e: Expr): boolean {
  const v = evaluate(e);
  return v >= 0 && v <= VALUE_MAX && (e.kind === 'num' || (allInRange(e.left) && allInRange(e.right)));
}

export function arithSplitOf(prompt: string): Split {
  if (prompt.split('*').length - 1 >= 2) return 'ood';
  return hashString(prompt) % 10 === 0 ? 'test' : 'train';
}

/** Longest rendering of a k-leaf expression with d-digit numbers: k-1 operators, <= k-2 paren pairs (never the root). */
const exprLenBound = (k: number, d: number): number => k * d + (k - 1) + 2 * Math.max(0, k - 2);

function maxSeqLenBound(): number {
  const leafDigits = String(LEAF_MAX).length;
  const valueDigits = String(VALUE_MAX).length;
  let len = exprLenBound(MAX_LEAVES, leafDigits) + 1; // prompt + ':'
  for (let k = MAX_LEAVES - 1; k >= 1; k--) len += exprLenBound(k, valueDigits) + 1; // each reduction + ';'
  return len + ANSWER_MARK.length + valueDigits + 1; // answer step + '.'
}

/** Tokens of a rendered expression: numbers, operators, parens. */
const tokens = (text: string): string[] => text.match(/\d+|[-+*()]/g) ?? [];

/**
 * A reduction that ignores precedence and parentheses: evaluate some textually adjacent "a op b"
 * ("3+4*2" -> "7*2", "10-3+2" -> "10-5"). Drops parentheses left around a lone number.
 */
function textualReduction(rng: Rng, text: string): string | null {
  const t = tokens(text);
  const spots = t.flatMap((_, i) =>
    /^\d+$/.test(t[i]) && '+-*'.includes(t[i + 1] ?? '_') && /^\d+$/.test(t[i + 2] ?? '') ? [i] : [],
  );
  if (spots.length === 0) return null;
  const i = rng.pick(spots);
  const v = String(apply(t[i + 1] as Op, Number(t[i]), Number(t[i + 2])));
  const wrapped = t[i - 1] === '(' && t[i + 3] === ')';
  return [...t.slice(0, wrapped ? i - 1 : i), v, ...t.slice(wrapped ? i + 4 : i + 3)].join('');
}

/** Change one number of a legal step: by 1, or its tens digit replaced ("48" -> "38", "8" -> "58"). */
function miscopy(rng: Rng, text: string): string {
  const t = tokens(text.slice(text.startsWith(ANSWER_MARK) ? ANSWER_MARK.length : 0));
  const idx = t.flatMap((s, i) => (/^\d+$/.test(s) ? [i] : []));
  const i = rng.pick(idx);
  const n = Number(t[i]);
  t[i] = String(rng.float() < 0.5 ? Math.max(0, n + rng.pick([-1, 1])) : (n % 10) + 10 * rng.int(0, 9));
  return (text.startsWith(ANSWER_MARK) ? ANSWER_MARK : '') + t.join('');
}

export const arithTask: Task = {
  name: 'arith',
  chars: '0123456789+-*():;>.',
  maxSeqLen: maxSeqLenBound(),

  sample(rng: Rng, split: Split): Problem {
    for (let t = 0; t < MAX_TRIES; t++) {
      const e = randomTree(rng, rng.int(MIN_LEAVES, MAX_LEAVES));
      if (!allInRange(e)) continue;
      const prompt = renderExpr(e);
      if (arithSplitOf(prompt) === split) return { prompt, answer: String(evaluate(e)) };
    }
    throw new Error(`arith: could not sample split '${split}'`);
  },

  reward(problem: Problem, completion: string): number {
    const { steps, complete } = parseCompletion(completion);
    const answers = steps.filter(isAnswerStep).length;
    return complete && answers === 1 && steps[steps.length - 1] === ANSWER_MARK + problem.answer ? 1 : 0;
  },

  checkSteps: (problem, steps) => walk(problem, steps).labels,
  legalNextSteps,
  nextStep,

  solve(problem: Problem): string[] {
    const steps: string[] = [];
    while (!isAnswerStep(steps[steps.length - 1] ?? '')) steps.push(nextStep(problem, steps));
    return steps;
  },

  corruptStep(rng: Rng, problem: Problem, prefix: readonly string[]): string {
    const { labels, state } = walk(problem, prefix);
    if (!labels.every(Boolean)) throw new Error(`arith: invalid prefix for '${problem.prompt}'`);
    const legal = successors(state);
    // After the answer step anything is invalid; offer a miscopied repeat of the answer.
    const answer = state === 'done' ? prefix[prefix.length - 1] : null;
    for (;;) {
      let cand: string | null;
      const kind = rng.int(0, 2);
      if (answer !== null || (state !== 'done' && state.kind === 'num')) {
        cand = miscopy(rng, answer ?? [...legal.keys()][0]);
      } else if (kind === 0) {
        // Wrong arithmetic result in one reducible node.
        const delta = rng.pick([-10, -2, -1, 1, 2, 10]);
        const wrong = reductions(state as Expr, (op, a, b) => Math.max(0, apply(op, a, b) + delta));
        cand = renderExpr(rng.pick(wrong));
      } else if (kind === 1) {
        cand = textualReduction(rng, renderExpr(state as Expr)); // Illegal order, e.g. + before *.
      } else {
        cand = miscopy(rng, rng.pick([...legal.keys()])); // Miscopied number.
      }
      if (cand !== null && !legal.has(cand)) return cand;
    }
  },
};
