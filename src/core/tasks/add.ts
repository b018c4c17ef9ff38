import { ANSWER_MARK } from '../format';
import { hashString, type Rng } from '../rng';
import { outcomeReward, solveWith } from './common';
import type { CoreSplit, EdgeSplit, Problem, Split, Task } from './types';

/**
 * `add`: multi-digit column addition, one step per column from the right, then the answer.
 *   "47+85:7+5+0=12;4+8+1=13;>132."   (step = digitA+digitB+carryIn=columnSum)
 *
 * Splits. train/test: held-out hash rule on the prompt (test iff hash % 10 === 0).
 * ood: problems with a carry chain of >= OOD_CARRY_CHAIN consecutive carrying columns (999+1-style).
 * Why not longer numbers: the models use learned absolute positions, which cannot length-extrapolate
 * (a calibration scored 0% on 5-digit sums after training on 2-4 digits). So OOD is a held-out
 * structural variant within trained lengths: every column rule, carry-in included, is seen in training,
 * but never three carries in a row. train and test exclude such problems by rejection sampling.
 *
 * Edge splits (issue 17; the `edge` scenario). The carry-chain problems are where the shipped policy
 * fails systematically (greedy ~27%, T=1 sampled ~6%, first errors late): the edge of its competence.
 * edge-train / edge-test: a longest carry chain of exactly EDGE_CARRY_CHAIN (3) columns, split by the
 * same held-out hash rule as train/test (edge-test iff hash % 10 === 0), so a run that trains on
 * edge-train never sees an edge-test problem. edge-ood: a longer, rarer chain (>= EDGE_OOD_CARRY_CHAIN,
 * i.e. all four columns carry). All three are subsets of the ordinary `ood`
 * split (chain >= 3), which after edge training is therefore no longer held out; the ordinary `test`
 * split stays untouched and measures forgetting.
 */
export const MIN_DIGITS = 2;
export const MAX_DIGITS = 4;
export const OOD_CARRY_CHAIN = 3;
export const EDGE_CARRY_CHAIN = OOD_CARRY_CHAIN;
export const EDGE_OOD_CARRY_CHAIN = 4;
const MAX_TRIES = 100_000;

interface Column {
  da: number;
  db: number;
  cin: number;
  sum: number;
}

function operands(prompt: string): [string, string] {
  const m = /^(\d+)\+(\d+)$/.exec(prompt);
  if (!m) throw new Error(`add: malformed prompt '${prompt}'`);
  return [m[1], m[2]];
}

/** Digit i counted from the right; a missing digit is 0. */
const digitAt = (s: string, i: number): number => (i < s.length ? s.charCodeAt(s.length - 1 - i) - 48 : 0);

function columns(prompt: string): Column[] {
  const [a, b] = operands(prompt);
  const cols: Column[] = [];
  let cin = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const da = digitAt(a, i);
    const db = digitAt(b, i);
    const sum = da + db + cin;
    cols.push({ da, db, cin, sum });
    cin = sum >= 10 ? 1 : 0;
  }
  return cols;
}

const columnStep = (c: Column): string => `${c.da}+${c.db}+${c.cin}=${c.sum}`;

/** Longest run of consecutive columns that produce a carry. */
export function longestCarryChain(prompt: string): number {
  let best = 0;
  let run = 0;
  for (const c of columns(prompt)) {
    run = c.sum >= 10 ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

/** The held-out hash rule shared by test and edge-test. */
const heldOut = (prompt: string): boolean => hashString(prompt) % 10 === 0;

/** The core split of a prompt (train, test or ood). */
export function addSplitOf(prompt: string): CoreSplit {
  if (longestCarryChain(prompt) >= OOD_CARRY_CHAIN) return 'ood';
  return heldOut(prompt) ? 'test' : 'train';
}

/** The edge split of a prompt, or null when it is not a carry-chain problem. */
export function addEdgeSplitOf(prompt: string): EdgeSplit | null {
  const chain = longestCarryChain(prompt);
  if (chain >= EDGE_OOD_CARRY_CHAIN) return 'edge-ood';
  if (chain === EDGE_CARRY_CHAIN) return heldOut(prompt) ? 'edge-test' : 'edge-train';
  return null;
}

/** Whether a prompt belongs to a split (core and edge splits overlap: every edge problem is `ood`). */
export function addInSplit(prompt: string, split: Split): boolean {
  return split.startsWith('edge-') ? addEdgeSplitOf(prompt) === split : addSplitOf(prompt) === split;
}

/** The only valid step sequence (add has a single solution path). The answer is derived from the prompt. */
function expectedSteps(problem: Problem): string[] {
  const [a, b] = operands(problem.prompt);
  return [...columns(problem.prompt).map(columnStep), ANSWER_MARK + String(Number(a) + Number(b))];
}

function randomOperand(rng: Rng): string {
  let s = String(rng.int(1, 9));
  for (let n = rng.int(MIN_DIGITS, MAX_DIGITS); s.length < n; ) s += rng.int(0, 9);
  return s;
}

/** Replace one random character of a digit string by a different digit, avoiding a leading zero. */
function changeDigit(rng: Rng, s: string): string {
  const i = rng.int(0, s.length - 1);
  const d = (s.charCodeAt(i) - 48 + rng.int(1, 9)) % 10;
  if (i === 0 && d === 0 && s.length > 1) return s.slice(0, i) + rng.int(1, 9) + s.slice(i + 1);
  return s.slice(0, i) + d + s.slice(i + 1);
}

function checkSteps(problem: Problem, steps: readonly string[]): boolean[] {
  const expected = expectedSteps(problem);
  let ok = true;
  return steps.map((s, i) => (ok = ok && i < expected.length && s === expected[i]));
}

/** Remaining expected steps after a prefix; throws when the prefix is not a valid prefix. */
function remaining(problem: Problem, prefix: readonly string[]): string[] {
  const expected = expectedSteps(problem);
  if (!checkSteps(problem, prefix).every(Boolean))
    throw new Error(`add: invalid prefix for '${problem.prompt}'`);
  return expected.slice(prefix.length);
}

function nextStep(problem: Problem, prefix: readonly string[]): string {
  const rest = remaining(problem, prefix);
  if (rest.length === 0) throw new Error(`add: prefix for '${problem.prompt}' is already complete`);
  return rest[0];
}

export const addTask: Task = {
  name: 'add',
  chars: '0123456789+=:;>.',
  // Prompt "9999+9999", ':', MAX_DIGITS column steps of at most "9+9+1=19" plus ';', then ">19998.".
  maxSeqLen: 2 * MAX_DIGITS + 1 + 1 + MAX_DIGITS * ('9+9+1=19'.length + 1) + (1 + MAX_DIGITS + 1 + 1),

  sample(rng: Rng, split: Split): Problem {
    for (let t = 0; t < MAX_TRIES; t++) {
      const a = randomOperand(rng);
      const b = randomOperand(rng);
      const prompt = `${a}+${b}`;
      if (addInSplit(prompt, split)) return { prompt, answer: String(Number(a) + Number(b)) };
    }
    throw new Error(`add: could not sample split '${split}'`);
  },

  reward: outcomeReward,

  checkSteps,
  legalNextSteps: (problem, prefix) => remaining(problem, prefix).slice(0, 1),
  nextStep,

  solve: (problem) => solveWith(nextStep, problem),

  corruptStep(rng: Rng, problem: Problem, prefix: readonly string[]): string {
    remaining(problem, prefix); // Throws on an invalid prefix.
    const cols = columns(problem.prompt);
    const k = prefix.length;
    for (;;) {
      let cand: string;
      if (k < cols.length) {
        const c = { ...cols[k] };
        const kind = rng.int(0, 2);
        if (kind === 0) {
          // Wrong sum digit.
          cand = `${c.da}+${c.db}+${c.cin}=${changeDigit(rng, String(c.sum))}`;
        } else {
          // A wrong (forgotten or spurious) carry or a miscopied operand digit; half the time the sum is
          // consistent with the wrong inputs, so the only error is in the copy.
          if (kind === 1) c.cin = 1 - c.cin;
          else if (rng.float() < 0.5) c.da = rng.int(0, 9);
          else c.db = rng.int(0, 9);
          cand = columnStep(rng.float() < 0.5 ? { ...c, sum: c.da + c.db + c.cin } : c);
        }
      } else {
        const answer = expectedSteps(problem)[cols.length].slice(ANSWER_MARK.length);
        cand = ANSWER_MARK + changeDigit(rng, answer);
      }
      if (!checkSteps(problem, [...prefix, cand])[k]) return cand;
    }
  },
};
