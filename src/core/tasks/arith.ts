import { ANSWER_MARK, EOS, PROMPT_END, STEP_END } from '../format';
import { hashString, type Rng } from '../rng';
import { outcomeReward, solveWith } from './common';
import { type CoreSplit, type Problem, type Split, TASK_SPLITS, type Task } from './types';

/**
 * `arith`: integer expression evaluation with + - * and parentheses, one local reduction per step.
 *   "2*3+4*5:2*3=6;4*5=20;6+20=26;>26."
 * The state is the expression tree with reduced nodes replaced by their values. A step "a<op>b=c"
 * reduces one reducible node (an operator whose two children are numbers in the current state): a and
 * b are those numbers, c the node's value. Any reducible node is legal, so independent sub-expressions
 * can be reduced in any order ("2*3+4*5" -> "2*3=6" or "4*5=20"), but precedence, associativity and
 * parentheses are enforced ("3+4*2" -> only "4*2=8"). When one number n is left, the step is ">n".
 * Unlike re-rendering the whole expression each step, no step copies the expression, so a model's
 * errors are not concentrated in the first (longest) step.
 *
 * Splits. train/test: held-out hash rule on the prompt, both without the ood structure.
 * ood: expressions that subtract a product ("a-b*c", "a-(b*c)", "(a+b)-c*d"): a '-' node whose right
 * child is a '*' node. Why not longer expressions: the models use learned absolute positions, which
 * cannot length-extrapolate, so OOD is a held-out operator combination within trained lengths: every
 * single rule (precedence, parentheses, each operator, products added or subtracted from) is trained,
 * but a product is never the subtrahend. (A first choice, "two or more '*'", scored 8-12% greedy after
 * a long SFT: the model had never seen a product follow a product and garbled those steps.)
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

/** One reducible node (an operator whose two children are numbers) and the state after reducing it. */
interface Reduction {
  a: number;
  op: Op;
  b: number;
  c: number;
  next: Expr;
}

const stepText = (r: Reduction): string => `${r.a}${r.op}${r.b}=${r.c}`;

/** Every reducible node of `e`, left to right, each with the whole expression after replacing it by its value. */
function reductions(e: Expr): Reduction[] {
  if (e.kind === 'num') return [];
  if (e.left.kind === 'num' && e.right.kind === 'num') {
    const c = apply(e.op, e.left.value, e.right.value);
    return [{ a: e.left.value, op: e.op, b: e.right.value, c, next: num(c) }];
  }
  return [
    ...reductions(e.left).map((r) => ({ ...r, next: { ...e, left: r.next } })),
    ...reductions(e.right).map((r) => ({ ...r, next: { ...e, right: r.next } })),
  ];
}

/** Where a valid prefix leaves the problem: an expression to reduce, or 'done' after the answer step. */
type State = Expr | 'done';

function promptExpr(problem: Problem): Expr {
  const e = parseExpr(problem.prompt);
  if (!e) throw new Error(`arith: malformed prompt '${problem.prompt}'`);
  return e;
}

/**
 * Legal next steps from a state, each with the state it leads to, in left-to-right order. Two reducible
 * nodes with the same operands and operator give the same step text; it reduces the leftmost of them.
 */
function successors(state: State): Map<string, State> {
  const next = new Map<string, State>();
  if (state === 'done') return next;
  if (state.kind === 'num') return next.set(ANSWER_MARK + state.value, 'done');
  for (const r of reductions(state)) if (!next.has(stepText(r))) next.set(stepText(r), r.next);
  return next;
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

function validState(problem: Problem, prefix: readonly string[]): State {
  const { labels, state } = walk(problem, prefix);
  if (!labels.every(Boolean)) throw new Error(`arith: invalid prefix for '${problem.prompt}'`);
  return state;
}

function legalNextSteps(problem: Problem, prefix: readonly string[]): string[] {
  return [...successors(validState(problem, prefix)).keys()];
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

/** The ood structure: some '-' node's right operand is a product. */
export function subtractsProduct(e: Expr): boolean {
  if (e.kind === 'num') return false;
  if (e.op === '-' && e.right.kind === 'op' && e.right.op === '*') return true;
  return subtractsProduct(e.left) || subtractsProduct(e.right);
}

export function arithSplitOf(prompt: string): CoreSplit {
  const tree = parseExpr(prompt);
  if (tree && subtractsProduct(tree)) return 'ood';
  return hashString(prompt) % 10 === 0 ? 'test' : 'train';
}

/** Longest rendering of a k-leaf expression with d-digit numbers: k-1 operators, <= k-2 paren pairs (never the root). */
const exprLenBound = (k: number, d: number): number => k * d + (k - 1) + 2 * Math.max(0, k - 2);

/**
 * prompt + ':' + (MAX_LEAVES - 1) reduction steps "a<op>b=c;" + ">n.". Every operand and result is a
 * node value in [0, VALUE_MAX], and every order of reductions performs the same steps, so all legal
 * completions of a problem have the same length.
 */
function maxSeqLenBound(): number {
  const d = String(VALUE_MAX).length;
  const prompt = exprLenBound(MAX_LEAVES, String(LEAF_MAX).length) + PROMPT_END.length;
  const reduction = 3 * d + '+='.length + STEP_END.length;
  const answer = ANSWER_MARK.length + d + EOS.length;
  return prompt + (MAX_LEAVES - 1) * reduction + answer;
}

/** Tokens of a rendered expression: numbers, operators, parens. */
const tokens = (text: string): string[] => text.match(/\d+|[-+*()]/g) ?? [];
const isNum = (t: string | undefined): t is string => t !== undefined && /^\d+$/.test(t);
const inRange = (n: number): boolean => n >= 0 && n <= VALUE_MAX;

/** A plausible wrong copy of n in [0, VALUE_MAX] (possibly n itself): off by 1..3, or one digit changed. */
function wrongNumber(rng: Rng, n: number): number {
  if (rng.float() < 0.5) return n + rng.pick([-3, -2, -1, 1, 2, 3]);
  const s = String(n);
  const i = rng.int(0, s.length - 1);
  const d = (s.charCodeAt(i) - 48 + rng.int(1, 9)) % 10;
  return Number(s.slice(0, i) + d + s.slice(i + 1)); // A leading 0 drops the digit ("48" -> "8").
}

/** A miscopied operand: a wrong copy of it, or another number of the current state. */
function miscopy(rng: Rng, n: number, stateNumbers: readonly number[]): number {
  return rng.float() < 0.25 ? rng.pick(stateNumbers) : wrongNumber(rng, n);
}

/**
 * Reductions that ignore precedence, associativity or parentheses: "a op b" adjacent in the text with
 * its parentheses removed that is not a reducible node ("3+4*2" -> "3+4=7", "10-3-2" -> "3-2=1",
 * "(3+4)*2" -> "4*2=8"). Empty when there is none.
 */
function illegalReductions(state: Expr): string[] {
  const legal = new Set(reductions(state).map(stepText));
  const t = tokens(renderExpr(state)).filter((x) => x !== '(' && x !== ')');
  const out: string[] = [];
  for (let i = 0; i + 2 < t.length; i++) {
    if (!isNum(t[i]) || !'+-*'.includes(t[i + 1]) || !isNum(t[i + 2])) continue;
    const c = apply(t[i + 1] as Op, Number(t[i]), Number(t[i + 2]));
    const step = `${t[i]}${t[i + 1]}${t[i + 2]}=${c}`;
    if (inRange(c) && !legal.has(step)) out.push(step);
  }
  return out;
}

export const arithTask: Task = {
  name: 'arith',
  chars: '0123456789+-*()=:;>.',
  maxSeqLen: maxSeqLenBound(),

  sample(rng: Rng, split: Split): Problem {
    if (!TASK_SPLITS.arith.includes(split))
      throw new Error(`arith has no split '${split}' (expected one of: ${TASK_SPLITS.arith.join(', ')})`);
    for (let t = 0; t < MAX_TRIES; t++) {
      const e = randomTree(rng, rng.int(MIN_LEAVES, MAX_LEAVES));
      if (!allInRange(e)) continue;
      const prompt = renderExpr(e);
      if (arithSplitOf(prompt) === split) return { prompt, answer: String(evaluate(e)) };
    }
    throw new Error(`arith: could not sample split '${split}'`);
  },

  reward: outcomeReward,

  checkSteps: (problem, steps) => walk(problem, steps).labels,
  legalNextSteps,
  nextStep,

  solve: (problem) => solveWith(nextStep, problem),

  /**
   * Kinds, all with numbers in [0, VALUE_MAX] (so the sequence still fits maxSeqLen): a wrong result,
   * a miscopied operand (half the time with the result recomputed from it), an illegal order (an
   * adjacent pair, parentheses ignored, that is not a reducible node), and a premature answer (a number of the
   * current state or a next result, never the true answer, so the outcome is wrong too). With one
   * number left, or after the answer, a wrong answer.
   */
  corruptStep(rng: Rng, problem: Problem, prefix: readonly string[]): string {
    const state = validState(problem, prefix);
    const k = prefix.length;
    const isInvalid = (cand: string): boolean => !walk(problem, [...prefix, cand]).labels[k];
    const answerOnly = state === 'done' || state.kind === 'num';
    const answer = Number(state !== 'done' && state.kind === 'num' ? state.value : problem.answer);
    const rs = answerOnly ? [] : reductions(state);
    const stateNumbers = answerOnly ? [] : tokens(renderExpr(state)).filter(isNum).map(Number);
    const illegal = answerOnly ? [] : illegalReductions(state);
    for (;;) {
      let cand: string | null = null;
      const kind = rng.int(0, 9);
      if (answerOnly) {
        const n = wrongNumber(rng, answer);
        if (inRange(n)) cand = ANSWER_MARK + n;
      } else if (kind <= 2) {
        const r = rng.pick(rs);
        const c = wrongNumber(rng, r.c);
        if (inRange(c)) cand = stepText({ ...r, c });
      } else if (kind <= 5) {
        const r = { ...rng.pick(rs) };
        if (rng.float() < 0.5) r.a = miscopy(rng, r.a, stateNumbers);
        else r.b = miscopy(rng, r.b, stateNumbers);
        const c = apply(r.op, r.a, r.b);
        if (rng.float() < 0.5 && inRange(c)) r.c = c;
        if (inRange(r.a) && inRange(r.b)) cand = stepText(r);
      } else if (kind <= 8) {
        if (illegal.length > 0) cand = rng.pick(illegal);
      } else {
        const n = rng.pick([...stateNumbers, ...rs.map((r) => r.c)]);
        if (String(n) !== problem.answer) cand = ANSWER_MARK + n;
      }
      if (cand !== null && isInvalid(cand)) return cand;
    }
  },
};
