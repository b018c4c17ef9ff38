/**
 * The policy and the PRM as objects a runtime can own: model config + weights + optimizer + RNG,
 * text in and text out, and (de)serialisation to the checkpoint format.
 */
import {
  type CheckpointManifest,
  deserializeCheckpoint,
  serializeCheckpoint,
  verifyCheckpoint,
} from './checkpoint';
import { isStepTerminator, PROMPT_END, parseCompletion } from './format';
import {
  assignParamValues,
  createParams,
  DEFAULT_MODEL,
  disposeParams,
  initParamValues,
  type ModelConfig,
  type Params,
  paramShapes,
  readParamValues,
} from './model';
import { checkCompatible, configFromManifest } from './model-shape';
import { Rng } from './rng';
import { type SampleResult, sampleBatch } from './sampling';
import type { Task } from './tasks/types';
import * as tf from './tf';
import { type Tokenizer, tokenizerFor } from './tokenizer';
import { Adam, DEFAULT_ADAM, padBatch, prmLogits } from './train';

export interface GenerateOptions {
  temperature: number;
  topP: number;
  greedy?: boolean;
  rng: Rng;
  maxNewTokens?: number;
  /** Sequences per batched decode (larger requests run as consecutive chunks). */
  maxBatch?: number;
}

/** Sequences per batched decode or PRM pass unless a caller says otherwise. */
const DEFAULT_MAX_BATCH = 256;

export interface Generation extends SampleResult {
  /** Decoded new text per prefix. */
  texts: string[];
}

/** Shared state of both models. */
abstract class Agent {
  readonly tok: Tokenizer;
  readonly opt: Adam;
  /** Optimiser steps taken since initialisation. */
  step = 0;

  constructor(
    readonly task: Task,
    readonly cfg: ModelConfig,
    readonly params: Params,
    readonly rng: Rng,
  ) {
    this.tok = tokenizerFor(task);
    this.opt = new Adam(params, DEFAULT_ADAM);
  }

  async toCheckpoint(meta: Record<string, unknown> = {}) {
    const values = await readParamValues(this.params);
    const tensors = paramShapes(this.cfg).map(([name, shape]) => ({ name, shape, data: values.get(name)! }));
    tensors.push(...(await this.opt.readState()));
    return serializeCheckpoint({
      kind: this.cfg.kind,
      task: this.task.name,
      step: this.step,
      config: { ...this.cfg },
      rng: this.rng.getState(),
      optimizer: { name: 'adam', iterations: this.opt.iterations, hyper: { ...this.opt.hyper } },
      meta,
      tensors,
    });
  }

  /** Load weights, optimizer state, RNG and step from a checkpoint of the same task and shape. */
  loadCheckpoint(manifestJson: string | unknown, blob: Uint8Array): CheckpointManifest {
    const { manifest, tensors } = deserializeCheckpoint(manifestJson, blob);
    checkCompatible(manifest, this.task, this.cfg);
    const values = new Map<string, Float32Array>();
    for (const [name] of paramShapes(this.cfg)) values.set(name, tensors.get(name)!.data);
    assignParamValues(this.params, values);
    this.opt.loadState(manifest.optimizer.iterations, tensors);
    this.rng.setState(manifest.rng);
    this.step = manifest.step;
    return manifest;
  }

  dispose(): void {
    disposeParams(this.params);
    this.opt.dispose();
  }

  /** Token ids of prompt + PROMPT_END + completion prefix. */
  encode(prompt: string, completionPrefix = ''): Int32Array {
    return this.tok.encode(prompt + PROMPT_END + completionPrefix);
  }
}

export class PolicyModel extends Agent {
  static create(task: Task, seed: number, overrides: Partial<ModelConfig> = {}): PolicyModel {
    const tok = tokenizerFor(task);
    const cfg: ModelConfig = { ...DEFAULT_MODEL, ...overrides, vocabSize: tok.vocabSize, kind: 'policy' };
    const rng = new Rng(seed);
    return new PolicyModel(task, cfg, createParams(cfg, initParamValues(cfg, rng.fork('init'))), rng);
  }

  static fromCheckpoint(task: Task, manifestJson: string, blob: Uint8Array): PolicyModel {
    const cfg = configFromManifest(verifyCheckpoint(manifestJson, blob), 'policy');
    const m = new PolicyModel(task, cfg, createParams(cfg, initParamValues(cfg, new Rng(0))), new Rng(0));
    m.loadCheckpoint(manifestJson, blob);
    return m;
  }

  /** Continue each `prompt + PROMPT_END + completionPrefix` in one batched decode. */
  async generate(
    prefixes: { prompt: string; completionPrefix?: string }[],
    opts: GenerateOptions,
  ): Promise<Generation> {
    const out: Generation = { tokens: [], logps: [], finished: [], texts: [] };
    const chunk = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    // Consecutive chunks draw from the RNG in order, so chunking never changes the samples' stream.
    for (let i = 0; i < prefixes.length; i += chunk) {
      const ids = prefixes.slice(i, i + chunk).map((p) => this.encode(p.prompt, p.completionPrefix ?? ''));
      const res = await sampleBatch(this.cfg, this.params, ids, {
        maxNewTokens: opts.maxNewTokens ?? this.cfg.blockSize,
        temperature: opts.temperature,
        topP: opts.topP,
        greedy: opts.greedy,
        rng: opts.rng,
        stopId: this.tok.eosId,
        padId: this.tok.padId,
      });
      out.tokens.push(...res.tokens);
      out.logps.push(...res.logps);
      out.finished.push(...res.finished);
      out.texts.push(...res.tokens.map((t) => this.tok.decode(t)));
    }
    return out;
  }
}

export class PrmModel extends Agent {
  /** A PRM initialised from a policy's backbone, with the verifier head at a = 1, b = 2. */
  static fromPolicy(policy: PolicyModel, seed: number): PrmModel {
    const cfg: ModelConfig = { ...policy.cfg, kind: 'prm' };
    const values = new Map<string, Float32Array>();
    const policyValues = new Map([...policy.params].map(([n, v]) => [n, v.dataSync() as Float32Array]));
    for (const [name] of paramShapes(cfg)) values.set(name, policyValues.get(name) ?? new Float32Array(1));
    // Head: logit = a * log p(token) + b. Start at a = 1, b = 2: a token the policy finds likely
    // (log p ~ 0) is judged valid (~0.88), an unlikely one (log p ~ -4) invalid (~0.12).
    values.set('prm.a', Float32Array.of(1));
    values.set('prm.b', Float32Array.of(2));
    return new PrmModel(policy.task, cfg, createParams(cfg, values), new Rng(seed));
  }

  static fromCheckpoint(task: Task, manifestJson: string, blob: Uint8Array): PrmModel {
    const cfg = configFromManifest(verifyCheckpoint(manifestJson, blob), 'prm');
    const m = new PrmModel(task, cfg, createParams(cfg, initParamValues(cfg, new Rng(0))), new Rng(0));
    m.loadCheckpoint(manifestJson, blob);
    return m;
  }

  /**
   * P(step valid) for every terminated step of each completion (text after the first EOS ignored,
   * an unterminated tail not scored): the running minimum of the per-token verdicts up to the step's
   * terminator, so a step is only as valid as the least valid token so far.
   */
  async scoreSteps(
    items: { prompt: string; completion: string }[],
    maxBatch = DEFAULT_MAX_BATCH,
  ): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < items.length; i += maxBatch)
      out.push(...(await this.scoreChunk(items.slice(i, i + maxBatch))));
    return out;
  }

  private async scoreChunk(items: { prompt: string; completion: string }[]): Promise<number[][]> {
    if (items.length === 0) return [];
    const seqs: Int32Array[] = [];
    const positions: number[][] = [];
    for (const it of items) {
      const { steps } = parseCompletion(it.completion);
      const text = it.prompt + PROMPT_END + terminatedText(it.completion, steps.length);
      const ids = this.tok.encode(text).slice(0, this.cfg.blockSize);
      seqs.push(ids);
      const pos: number[] = [];
      for (let t = it.prompt.length + 1; t < ids.length; t++)
        if (this.tok.isTerminatorId(ids[t])) pos.push(t);
      positions.push(pos);
    }
    const batch = padBatch(seqs, this.tok.padId);
    const probs = tf.tidy(() => tf.sigmoid(prmLogits(this.cfg, this.params, batch)));
    const host = (await probs.data()) as Float32Array;
    probs.dispose();
    const W = batch.T - 1;
    return items.map((it, b) => {
      const scores: number[] = [];
      let running = 1;
      // Entry t-1 of the row judges token t; completion tokens start after PROMPT_END.
      for (let t = it.prompt.length + 1; t < seqs[b].length; t++) {
        running = Math.min(running, host[b * W + t - 1]);
        if (positions[b].includes(t)) scores.push(running);
      }
      return scores;
    });
  }
}

/** The completion text up to and including the terminator of its `n`-th step. */
function terminatedText(completion: string, n: number): string {
  let seen = 0;
  for (let i = 0; i < completion.length && seen < n; i++)
    if (isStepTerminator(completion[i]) && ++seen === n) return completion.slice(0, i + 1);
  return '';
}
