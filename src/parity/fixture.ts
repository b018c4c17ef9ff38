/**
 * The host-side inputs of the kernel-parity check: real `add` problems with their teacher
 * solutions (and one corrupted solution for the PRM), padded the way training and sampling pad
 * them. Plain typed arrays, built once and fed to every backend unchanged.
 */
import { PROMPT_END, renderCompletion } from '../core/format';
import { prefixValidity } from '../core/pretrain';
import { ROLE, type Role, type UpdateBatch } from '../core/rl/loss';
import { Rng } from '../core/rng';
import { addTask } from '../core/tasks';
import { tokenizerFor } from '../core/tokenizer';
import { completionMask, type PaddedBatch, padBatch } from '../core/train';

/** Prompts of four different lengths, so left padding (decode) and right padding (training) both bite. */
export const PARITY_PROMPTS = ['47+85', '306+4521', '9210+87', '63+508'] as const;
/** KV-cache decode steps fed with the teacher's tokens (every completion here is longer). */
export const DECODE_STEPS = 6;
/** Longest greedy continuation (an `add` solution of these sizes ends well before). */
export const GREEDY_MAX_TOKENS = 48;

export interface Fixture {
  prompts: string[];
  /** Teacher completions, e.g. "7+5+0=12;4+8+1=13;>132.". */
  completions: string[];
  /** prompt + PROMPT_END + completion, as token ids. */
  seqs: Int32Array[];
  /** Length of prompt + PROMPT_END: the index of each sequence's first completion token. */
  promptLens: number[];
  /** Right-padded sequences (the training layout). */
  batch: PaddedBatch;
  /** [B*(T-1)] 1 where the predicted token is a completion token. */
  sftMask: Float32Array;
  /** Same prompts, sequence 2 with a corrupted step: the PRM's batch and its per-token targets. */
  prmBatch: PaddedBatch;
  prmLabels: Float32Array;
  prmWeights: Float32Array;
}

export function buildFixture(): Fixture {
  const task = addTask;
  const tok = tokenizerFor(task);
  const rng = new Rng('kernel-parity');
  const prompts = [...PARITY_PROMPTS];
  const problems = prompts.map((prompt) => ({
    prompt,
    answer: String(prompt.split('+').reduce((a, b) => a + Number(b), 0)),
  }));
  const solutions = problems.map((p) => task.solve(p));
  const completions = solutions.map((s) => renderCompletion(s));
  const seqs = prompts.map((p, i) => tok.encode(p + PROMPT_END + completions[i]));
  const promptLens = prompts.map((p) => p.length + PROMPT_END.length);
  const batch = padBatch(seqs, tok.padId);
  const sftMask = completionMask(seqs, promptLens, batch.T);

  // PRM: sequence 2 gets a wrong second step (then the policy would go on: keep the rest).
  const prmCompletions = completions.slice();
  const bad = task.corruptStep(rng, problems[2], solutions[2].slice(0, 1));
  prmCompletions[2] = renderCompletion([solutions[2][0], bad, ...solutions[2].slice(2)]);
  const prmSeqs = prompts.map((p, i) => tok.encode(p + PROMPT_END + prmCompletions[i]));
  const prmBatch = padBatch(prmSeqs, tok.padId);
  const W = prmBatch.T - 1;
  const prmLabels = new Float32Array(prmBatch.B * W);
  const prmWeights = new Float32Array(prmBatch.B * W);
  problems.forEach((problem, b) => {
    const valid = prefixValidity(task, problem, prmCompletions[b]);
    // Entry t-1 judges token t; completion tokens start at promptLens[b].
    valid.forEach((ok, j) => {
      const t = promptLens[b] + j;
      prmLabels[b * W + t - 1] = ok ? 1 : 0;
      prmWeights[b * W + t - 1] = 1;
    });
  });
  return { prompts, completions, seqs, promptLens, batch, sftMask, prmBatch, prmLabels, prmWeights };
}

/** Role of every sequence's completion tokens in the RL batch: all four token kinds appear. */
const SEQ_ROLES: readonly Role[] = [ROLE.on, ROLE.off, ROLE.pg, ROLE.on];
const SEQ_ADVANTAGES = [0.8, -0.6, 1.0, -1.1];
/**
 * Behaviour log-prob offsets of on-policy tokens: ratio = exp(offset), i.e. 1.05, 0.95 (inside
 * the clip range [0.8, 1.2]) and 1.65, 0.61 (clipped). Far from the clip edges, so a 1e-6
 * difference in log p cannot flip a token between clipped and not (a gradient discontinuity).
 */
const RATIO_LOG_OFFSETS = [0.05, -0.05, 0.5, -0.5];

/**
 * An RL update batch over the fixture's sequences. The behaviour and reference log-probs are
 * derived from `logp` (the reference backend's teacher-forced log-probs, [B*(T-1)]) so ratios sit
 * at known distances from the clip edges; every backend then gets this same batch.
 */
export function buildRlBatch(fx: Fixture, logp: Float32Array): UpdateBatch {
  const { B, T, ids } = fx.batch;
  const W = T - 1;
  if (logp.length !== B * W)
    throw new Error(`buildRlBatch: logp has ${logp.length} entries, expected ${B * W}`);
  const roles = new Uint8Array(B * W);
  const oldLogps = new Float32Array(B * W);
  const refLogps = new Float32Array(B * W);
  const advantages = new Float32Array(B * W);
  const weights = new Float32Array(B * W);
  let trained = 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < W; t++) {
      const i = b * W + t;
      if (fx.sftMask[i] === 0) continue;
      roles[i] = SEQ_ROLES[b];
      advantages[i] = SEQ_ADVANTAGES[b];
      oldLogps[i] = roles[i] === ROLE.on ? logp[i] - RATIO_LOG_OFFSETS[t % RATIO_LOG_OFFSETS.length] : 0;
      refLogps[i] = logp[i] + (t % 2 === 0 ? 0.1 : -0.1);
      trained++;
    }
  for (let i = 0; i < B * W; i++) if (roles[i] !== ROLE.masked) weights[i] = 1 / trained;
  return { B, T, ids, roles, oldLogps, advantages, weights, refLogps };
}

/** RL loss hyper-parameters of the check: both clip edges, the off-policy shaping and the KL term on. */
export const PARITY_LOSS_HYPER = { epsLow: 0.2, epsHigh: 0.2, gamma: 0.1, beta: 0.04 };
