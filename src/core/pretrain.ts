/**
 * Supervised pretraining of the two models every run starts from:
 * - the policy by SFT on teacher solutions (random legal paths, so several orders are seen),
 *   on a warm-up + cosine schedule that ends decayed (a settled checkpoint, algorithms.md section 8);
 * - the PRM, initialised from the policy, by BCE on oracle step labels of the policy's own samples
 *   plus synthetic corruptions of teacher solutions.
 */
import type { PolicyModel, PrmModel } from './agents';
import { EOS, isAnswerStep, isStepTerminator, renderCompletion, STEP_END } from './format';
import type { Rng } from './rng';
import { type HelperSlot, sftJobs, shardedStep } from './shards';
import { randomSolution } from './tasks/common';
import type { Problem, Task } from './tasks/types';
import { completionMask, cosineLr, optimiseStep, padBatch, prmLoss, type StepResult } from './train';

export interface SftSchedule {
  steps: number;
  batchSize: number;
  lr: number;
  minLr: number;
  warmup: number;
  clipNorm: number;
  /**
   * Row shards of each SFT step (./shards.ts): their gradients are summed in order, and a gradient
   * helper, when given, computes all but the first. Absent: 1, the unsharded step.
   */
  shards?: number;
}

export interface PrmSchedule extends SftSchedule {
  /** Policy rollouts sampled (temperature 1) as PRM training data. */
  rollouts: number;
  /** Share of each batch that is synthetic corruptions of teacher solutions. */
  syntheticFraction: number;
  /**
   * Loss weight of an invalid token (valid ones weigh 1). A failed rollout has one invalid token
   * against ~20 valid ones; unweighted, the verdicts drift lenient and wrong steps pass tau = 0.5.
   */
  invalidWeight: number;
}

/** One SFT batch of training problems with teacher solutions; loss on completion tokens only. */
export function sftBatch(task: Task, policy: PolicyModel, rng: Rng, batchSize: number, problems?: Problem[]) {
  const ps = problems ?? Array.from({ length: batchSize }, () => task.sample(rng, 'train'));
  const seqs = ps.map((p) => policy.encode(p.prompt, renderCompletion(randomSolution(task, p, rng))));
  const batch = padBatch(seqs, policy.tok.padId);
  return {
    batch,
    mask: completionMask(
      seqs,
      ps.map((p) => p.prompt.length + 1),
      batch.T,
    ),
  };
}

export type ProgressFn = (step: number, total: number, last: StepResult & { lr: number }) => void;

export async function runSft(
  task: Task,
  policy: PolicyModel,
  s: SftSchedule,
  rng: Rng,
  onProgress?: ProgressFn,
  slot: HelperSlot = { helper: null, helperShards: 0 },
) {
  let last: StepResult = { loss: Number.NaN, gradNorm: 0, skipped: false };
  for (let i = 0; i < s.steps; i++) {
    const lr = cosineLr(i, s.steps, s.lr, s.minLr, s.warmup);
    const { batch, mask } = sftBatch(task, policy, rng, s.batchSize);
    last = await shardedStep(policy, slot, sftJobs(batch, mask, s.shards ?? 1), { lr, clipNorm: s.clipNorm });
    policy.step++;
    onProgress?.(i + 1, s.steps, { ...last, lr });
  }
  return last;
}

interface LabelledSequence {
  ids: Int32Array;
  /** Sequence positions with a label (every completion token) and the label there. */
  positions: number[];
  labels: boolean[];
}

/**
 * Dense PRM labels: for every completion character, is the text up to and including it still a
 * prefix of some valid solution? Monotone (once false, false), and at a step terminator it equals
 * "every step so far is valid", the quantity the PRM is read for. The PRM is trained on these
 * per-token verdicts (our choice): a local check, token by token.
 */
export function prefixValidity(task: Task, problem: Problem, completion: string): boolean[] {
  const out: boolean[] = [];
  const done: string[] = [];
  let valid = true;
  let start = 0;
  while (start < completion.length) {
    let end = start;
    while (end < completion.length && !isStepTerminator(completion[end])) end++;
    const piece = completion.slice(start, Math.min(end + 1, completion.length)); // step + its terminator
    if (!valid) out.push(...Array<boolean>(piece.length).fill(false));
    else {
      const legal = task.legalNextSteps(problem, done).map((l) => l + (isAnswerStep(l) ? EOS : STEP_END));
      const matched = Math.max(0, ...legal.map((l) => commonPrefix(l, piece)));
      for (let j = 0; j < piece.length; j++) out.push(j < matched);
      const whole = matched === piece.length && isStepTerminator(piece[piece.length - 1]);
      // A wrong character (or an unfinished tail) ends validity; so does the answer: nothing may follow it.
      if (!whole || piece.endsWith(EOS)) valid = false;
      else done.push(piece.slice(0, -1));
    }
    start = end + 1;
  }
  return out;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function labelSequence(task: Task, prm: PrmModel, problem: Problem, completion: string): LabelledSequence {
  const ids = prm.encode(problem.prompt, completion).slice(0, prm.cfg.blockSize);
  const valid = prefixValidity(task, problem, completion);
  const offset = problem.prompt.length + 1;
  const positions: number[] = [];
  const labels: boolean[] = [];
  // Per-token verdicts up to and including the first invalid token; after it there is nothing to judge
  // (the step score is a running minimum, so later tokens cannot raise it).
  for (let t = offset; t < ids.length; t++) {
    positions.push(t);
    labels.push(valid[t - offset]);
    if (!valid[t - offset]) break;
  }
  return { ids, positions, labels };
}

/** Teacher prefix, one corrupted step, then stop: labels valid..valid, invalid. Plus clean solutions. */
function syntheticSequence(task: Task, prm: PrmModel, problem: Problem, rng: Rng): LabelledSequence {
  const solution = randomSolution(task, problem, rng);
  if (rng.float() < 0.25) return labelSequence(task, prm, problem, renderCompletion(solution));
  const k = rng.int(0, solution.length - 1);
  const prefix = solution.slice(0, k);
  const bad = task.corruptStep(rng, problem, prefix);
  const steps = [...prefix, bad];
  // End like the policy would: with EOS after an answer step, else with a step terminator.
  const text = isAnswerStep(bad) ? renderCompletion(steps) : steps.map((x) => x + ';').join('');
  return labelSequence(task, prm, problem, text);
}

/** Policy rollouts on training problems, labelled by the oracle. */
export async function prmRolloutPool(task: Task, policy: PolicyModel, prm: PrmModel, n: number, rng: Rng) {
  const pool: LabelledSequence[] = [];
  for (let i = 0; i < n; i += 256) {
    const problems = Array.from({ length: Math.min(256, n - i) }, () => task.sample(rng, 'train'));
    const gen = await policy.generate(
      problems.map((p) => ({ prompt: p.prompt })),
      { temperature: 1, topP: 1, rng },
    );
    problems.forEach((p, j) => {
      const seq = labelSequence(task, prm, p, gen.texts[j]);
      if (seq.positions.length > 0) pool.push(seq);
    });
  }
  return pool;
}

export async function runPrmTraining(
  task: Task,
  prm: PrmModel,
  pool: LabelledSequence[],
  s: PrmSchedule,
  rng: Rng,
  onProgress?: ProgressFn,
) {
  let last: StepResult = { loss: Number.NaN, gradNorm: 0, skipped: false };
  for (let i = 0; i < s.steps; i++) {
    const lr = cosineLr(i, s.steps, s.lr, s.minLr, s.warmup);
    const nSynth = Math.round(s.batchSize * s.syntheticFraction);
    const seqs = [
      ...Array.from({ length: s.batchSize - nSynth }, () => rng.pick(pool)),
      ...Array.from({ length: nSynth }, () => syntheticSequence(task, prm, task.sample(rng, 'train'), rng)),
    ];
    const batch = padBatch(
      seqs.map((q) => q.ids),
      prm.tok.padId,
    );
    // The PRM's logits are [B, T-1]: entry t-1 judges token t.
    const W = batch.T - 1;
    const labels = new Float32Array(batch.B * W);
    const weights = new Float32Array(batch.B * W);
    for (const [b, q] of seqs.entries())
      for (const [j, t] of q.positions.entries()) {
        labels[b * W + t - 1] = q.labels[j] ? 1 : 0;
        weights[b * W + t - 1] = q.labels[j] ? 1 : s.invalidWeight;
      }
    last = await optimiseStep(
      prm.params,
      prm.opt,
      () => prmLoss(prm.cfg, prm.params, batch, labels, weights),
      lr,
      s.clipNorm,
    );
    prm.step++;
    onProgress?.(i + 1, s.steps, { ...last, lr });
  }
  return last;
}
