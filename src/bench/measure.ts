/**
 * The benchmark's measurements, shared by the Node runner (scripts/bench.ts) and the browser worker
 * (src/bench/worker.ts). Only tfjs and core code here: the runtime supplies the clock, the heap
 * probe, the backend's name and thread count, and the shipped checkpoints.
 *
 * What is timed (each a median over several runs after warm-up, with the spread):
 * - decode: batched sampling of P x G sequences, 64 new tokens each, with the KV cache (the real
 *   sampler) and without (a reference decoder that recomputes the full forward pass every step);
 * - one SFT step: batch 32 x 32 tokens, forward + backward + clip + Adam;
 * - one default SCOPE iteration (Trainer with the in-process services over the shipped `add`
 *   checkpoints), split into generate / prm / rectify / update as the Trainer reports them;
 * - tensors leaked per iteration over `growthIters` iterations.
 */

import { PolicyModel, PrmModel } from '../core/agents';
import { PROMPT_END } from '../core/format';
import { forwardHidden, type ModelConfig, type Params } from '../core/model';
import { MODEL_PRESETS, paramShapes } from '../core/model-shape';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import { LocalPolicyService, LocalPrmService, type StoredCheckpoint } from '../core/rl/services';
import { loadPrm, prepareRlPolicy } from '../core/rl/setup';
import { Trainer } from '../core/rl/trainer';
import { Rng } from '../core/rng';
import {
  advancePositions,
  chooseNextTokens,
  lastPositionLogits,
  type SampleOptions,
  type SampleResult,
  sampleBatch,
} from '../core/sampling';
import { type GradientHelper, type HelperSlot, sftJobs, shardedStep } from '../core/shards';
import { addTask } from '../core/tasks';
import * as tf from '../core/tf';
import { tokenizerFor } from '../core/tokenizer';
import { type KernelMode, kernelCalls, setKernelMode } from '../core/wasm-kernels';
import { type BenchOptions, DEFAULT_BENCH } from './options';
import { round, roundSpread, type Spread, spreadOf } from './stats';

export { BENCH_PARTS, type BenchOptions, type BenchPart, DEFAULT_BENCH, QUICK_BENCH } from './options';

/** What the runtime provides. */
/** How a step was sharded (src/core/shards.ts): shards per step, and how many a helper computed in all. */
export interface ShardUse {
  shards: number;
  helperShards: number;
}

export interface BenchEnv {
  runtime: 'node' | 'browser';
  backend: string;
  /** WASM threads in use (1 on other backends). */
  threads: number;
  crossOriginIsolated?: boolean;
  policyCk: StoredCheckpoint;
  prmCk: StoredCheckpoint;
  /** JS heap in use, MB (null where the runtime cannot say). */
  heapMB(): number | null;
  /** Progress lines (stderr in Node, the console in the browser). */
  log(msg: string): void;
  now(): number;
  /**
   * Start a gradient helper for the RL iteration's update (src/core/shards.ts), where the
   * runtime has one for this backend: a Node thread, or a Web Worker beside a WASM bench worker.
   */
  startGradientHelper?(ck: StoredCheckpoint): Promise<GradientHelper & { close(): unknown }>;
}

export interface BenchResult {
  runtime: string;
  backend: string;
  threads: number;
  crossOriginIsolated: boolean | null;
  model: Omit<ModelConfig, 'kind'> & { preset: string; params: number };
  sizes: {
    promptsPerIter: number;
    groupSize: number;
    sftBatch: number;
    sftSeqLen: number;
    /** The decode measurement: P x G sequences, longest prompt, new tokens, position table size. */
    decode?: { batch: number; prefixLen: number; newTokens: number; blockSize: number };
  };
  /** noCache and speedup are null when the no-cache decoder was skipped (noCacheRuns 0). */
  decodeTokensPerSec?: { kvCache: number; noCache: number | null; speedup: number | null };
  decodeMs?: { kvCache: Spread; noCache: Spread | null };
  sftStepMs?: number;
  /** wasm: the kernel mode, and how many kernel calls ours and tfjs's served (src/core/wasm-kernels.ts). */
  kernels?: { mode: KernelMode; ours: number; tfjs: number };
  /** The RL iteration's update: its shards, and how many of them a gradient helper computed. */
  /** Shards of the SFT step and the RL update, and how many a gradient helper computed. */
  shards?: { sft?: ShardUse; rl?: ShardUse };
  sftStepMsSpread?: Spread;
  rlIterationMs?: { total: number; generate: number; prm: number; rectify: number; update: number };
  rlIterationMsSpread?: Record<'total' | 'generate' | 'prm' | 'rectify' | 'update', Spread>;
  rlIters?: number;
  tensorsGrowthPerIter?: number;
  growthIters?: number;
  /** Peak JS heap in use (null where the runtime cannot read it: a browser worker). */
  peakHeapMB: number | null;
  /** With `profile`: kernel time by kernel of one SFT step, one KV-cache decode, one RL iteration. */
  sftProfile?: OpTime[];
  decodeProfile?: OpTime[];
  rlProfile?: OpTime[];
  /** Peak bytes held by tfjs tensors. */
  peakTensorMB: number;
  /** Peak size of the WASM backend's linear memory (tensors and scratch), null on other backends. */
  peakWasmMemoryMB: number | null;
  runs: number;
  warmup: number;
  sftRuns: number;
  sftWarmup: number;
}

// ---------------------------------------------------------------------------------------------------
// The no-cache reference decoder

/**
 * Sampling without a KV cache: every step runs the full forward pass over the whole (left-padded)
 * sequence so far and reads the last position. Same padding, positions, stopping and token choice
 * as `sampleBatch`, so the same RNG gives the same samples; only the cost differs.
 */
export async function sampleNoCache(
  cfg: ModelConfig,
  params: Params,
  prefixes: readonly Int32Array[],
  opts: SampleOptions,
): Promise<SampleResult> {
  const B = prefixes.length;
  const lens = prefixes.map((p) => p.length);
  const L = Math.max(...lens);
  if (L > cfg.blockSize) throw new Error(`prefix of length ${L} exceeds blockSize ${cfg.blockSize}`);
  // Rows grow by one entry per step: token id, its position, and whether it is a real key.
  const ids = prefixes.map((p, b) => [...new Array<number>(L - lens[b]).fill(opts.padId), ...p]);
  const pos = lens.map((n) => [
    ...new Array<number>(L - n).fill(0),
    ...Array.from({ length: n }, (_, t) => t),
  ]);
  const valid = lens.map((n) => [...new Array<number>(L - n).fill(0), ...new Array<number>(n).fill(1)]);
  const tokens: number[][] = prefixes.map(() => []);
  const logps: number[][] = prefixes.map(() => []);
  const finished = new Array<boolean>(B).fill(false);
  const curPos = lens.slice();
  for (let step = 0; step < opts.maxNewTokens; step++) {
    const T = ids[0].length;
    const logits = tf.tidy(() => {
      const { hidden } = forwardHidden(cfg, params, tf.tensor2d(ids.flat(), [B, T], 'int32'), {
        posIds: tf.tensor2d(pos.flat(), [B, T], 'int32'),
        keyValid: tf.tensor2d(valid.flat(), [B, T]),
      });
      return lastPositionLogits(cfg, params, hidden, B, T);
    });
    const host = (await logits.data()) as Float32Array;
    logits.dispose();
    const { nextIds, active } = chooseNextTokens(
      host,
      { tokens, logps, finished, curPos },
      opts,
      cfg.blockSize,
    );
    if (!active.some(Boolean) || step === opts.maxNewTokens - 1) break;
    for (let b = 0; b < B; b++) {
      ids[b].push(nextIds[b]);
      pos[b].push(Math.min(curPos[b], cfg.blockSize - 1));
      valid[b].push(nextIds[b] !== opts.padId ? 1 : 0);
    }
    advancePositions(curPos, nextIds, active, finished, opts.padId, cfg.blockSize);
  }
  return {
    tokens: tokens.map((t) => Int32Array.from(t)),
    logps: logps.map((l) => Float32Array.from(l)),
    finished,
  };
}

// ---------------------------------------------------------------------------------------------------
// Measurements

/** Size of the WASM backend's linear memory (where its tensors live), MB; null on other backends. */
function wasmMemoryMB(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const mod = (tf.backend() as unknown as { wasm?: { wasmMemory?: WebAssembly.Memory; HEAPU8?: Uint8Array } })
    .wasm;
  const bytes = mod?.wasmMemory?.buffer.byteLength ?? mod?.HEAPU8?.buffer.byteLength;
  return bytes === undefined ? null : bytes / 2 ** 20;
}

class Probe {
  peakHeapMB: number | null = null;
  peakTensorMB = 0;
  peakWasmMemoryMB: number | null = null;
  constructor(private readonly env: BenchEnv) {}
  sample(): void {
    const h = this.env.heapMB();
    if (h !== null) this.peakHeapMB = Math.max(this.peakHeapMB ?? 0, h);
    this.peakTensorMB = Math.max(this.peakTensorMB, tf.memory().numBytes / 2 ** 20);
    const w = wasmMemoryMB();
    if (w !== null) this.peakWasmMemoryMB = Math.max(this.peakWasmMemoryMB ?? 0, w);
  }
}

/** Time `fn` `runs` times after `warmup` untimed calls; ms per call. */
async function timeRuns(
  env: BenchEnv,
  probe: Probe,
  runs: number,
  warmup: number,
  fn: () => Promise<void>,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = env.now();
    await fn();
    ms.push(env.now() - t0);
    probe.sample();
  }
  return ms;
}

/** The decode batch of a default iteration: P add prompts, each repeated G times. */
function decodePrefixes(rl: RlConfig, seed: number): Int32Array[] {
  const rng = new Rng(`bench/decode/${seed}`);
  const tok = tokenizerFor(addTask);
  const prompts = Array.from({ length: rl.promptsPerIter }, () => addTask.sample(rng, 'train').prompt);
  return prompts.flatMap((p) => Array.from({ length: rl.groupSize }, () => tok.encode(p + PROMPT_END)));
}

async function measureDecode(env: BenchEnv, o: BenchOptions, rl: RlConfig, probe: Probe, out: BenchResult) {
  // The default architecture with a position table long enough for prompt + 64 new tokens (the
  // shipped model's 64 positions cannot hold both); seeded random weights. stopId = padId, which is
  // never sampled, so every sequence decodes exactly `decodeNewTokens` tokens: fixed work per run.
  const prefixes = decodePrefixes(rl, 0);
  const prefixLen = Math.max(...prefixes.map((p) => p.length));
  const blockSize = Math.max(64, prefixLen + o.decodeNewTokens);
  const policy = PolicyModel.create(addTask, 1, { ...MODEL_PRESETS[o.model], blockSize });
  const run = (decoder: typeof sampleBatch) => async () => {
    const res = await decoder(policy.cfg, policy.params, prefixes, {
      maxNewTokens: o.decodeNewTokens,
      temperature: 1,
      topP: 1,
      rng: new Rng(`bench/decode-sample`),
      stopId: policy.tok.padId,
      padId: policy.tok.padId,
    });
    if (res.tokens.some((t) => t.length !== o.decodeNewTokens))
      throw new Error('decode bench: a sequence stopped early');
  };
  env.log(`decode: ${prefixes.length} sequences x ${o.decodeNewTokens} new tokens, KV cache`);
  const kv = await timeRuns(env, probe, o.runs, o.warmup, run(sampleBatch));
  if (o.profile) out.decodeProfile = await profileByKernel(run(sampleBatch), 3);
  let nc: number[] = [];
  if (o.noCacheRuns > 0) {
    env.log('decode: no cache (full forward every step)');
    nc = await timeRuns(env, probe, o.noCacheRuns, Math.min(1, o.warmup), run(sampleNoCache));
  }
  policy.dispose();
  const tokens = prefixes.length * o.decodeNewTokens;
  const kvS = spreadOf(kv);
  const ncS = nc.length ? spreadOf(nc) : null;
  out.decodeTokensPerSec = {
    kvCache: round((tokens / kvS.median) * 1000, 0),
    noCache: ncS ? round((tokens / ncS.median) * 1000, 0) : null,
    speedup: ncS ? round(ncS.median / kvS.median, 1) : null,
  };
  out.decodeMs = { kvCache: roundSpread(kvS), noCache: ncS ? roundSpread(ncS) : null };
  out.sizes.decode = { batch: prefixes.length, prefixLen, newTokens: o.decodeNewTokens, blockSize };
}

async function measureSft(env: BenchEnv, o: BenchOptions, probe: Probe, out: BenchResult) {
  const policy = PolicyModel.create(addTask, 2, MODEL_PRESETS[o.model]);
  const { sftBatch: B, sftSeqLen: T } = o;
  const rng = new Rng('bench/sft');
  // Random tokens (never padding) with the loss on every next-token prediction: the same FLOPs as
  // a real batch of that size, and exactly what the PyTorch peer computes.
  const ids = Int32Array.from({ length: B * T }, () => rng.int(1, policy.cfg.vocabSize - 1));
  const mask = new Float32Array(B * (T - 1)).fill(1);
  env.log(`sft step: batch ${B} x ${T} tokens, Adam, ${o.shards} shard(s)`);
  // The pretraining's step (src/core/pretrain.ts runSft): sharded, a gradient helper beside it.
  const helper =
    o.shards > 1 && env.startGradientHelper
      ? await env.startGradientHelper(await policy.toCheckpoint({}))
      : null;
  const slot: HelperSlot = { helper, helperShards: 0 };
  const jobs = sftJobs({ ids, B, T }, mask, o.shards);
  const step = async () => {
    const r = await shardedStep(policy, slot, jobs, { lr: 1e-4, clipNorm: 1 });
    if (r.skipped) throw new Error('sft bench: non-finite step');
  };
  const ms = await timeRuns(env, probe, o.sftRuns, o.sftWarmup, step);
  if (o.profile) {
    env.log('sft step: profiling kernels');
    out.sftProfile = await profileByKernel(step);
  }
  await helper?.close();
  out.shards = { ...out.shards, sft: { shards: jobs.length, helperShards: slot.helperShards } };
  policy.dispose();
  const s = spreadOf(ms);
  out.sftStepMs = round(s.median);
  out.sftStepMsSpread = roundSpread(s);
}

/** The RL run's starting checkpoints: the shipped ones, or random weights of another size. */
async function rlCheckpoints(env: BenchEnv, o: BenchOptions) {
  if (o.model === 'default') return { policyCk: env.policyCk, prmCk: env.prmCk };
  const p = PolicyModel.create(addTask, 3, MODEL_PRESETS[o.model]);
  const r = PrmModel.fromPolicy(p, 4);
  const ck = { policyCk: await p.toCheckpoint({}), prmCk: await r.toCheckpoint({}) };
  p.dispose();
  r.dispose();
  return ck;
}

async function measureRl(env: BenchEnv, o: BenchOptions, rl: RlConfig, probe: Probe, out: BenchResult) {
  const { policyCk, prmCk } = await rlCheckpoints(env, o);
  if (o.model !== 'default') env.log(`rl: ${o.model} model from random weights (no checkpoint of that size)`);
  const policy = prepareRlPolicy(addTask, policyCk, rl);
  const prm = loadPrm(addTask, prmCk);
  const service = new LocalPolicyService(addTask, policy);
  const helper =
    rl.updateShards > 1 && env.startGradientHelper ? await env.startGradientHelper(policyCk) : null;
  service.helper = helper;
  const trainer = new Trainer(addTask, rl, service, new LocalPrmService(prm));
  env.log(
    `rl: ${o.rlWarmup} warm-up + ${o.growthIters} timed ${rl.algo} iterations (P=${rl.promptsPerIter}, G=${rl.groupSize})`,
  );
  for (let i = 0; i < o.rlWarmup; i++) await trainer.step();
  const before = await service.numTensors();
  const keys = ['total', 'generate', 'prm', 'rectify', 'update'] as const;
  const times: Record<(typeof keys)[number], number[]> = {
    total: [],
    generate: [],
    prm: [],
    rectify: [],
    update: [],
  };
  for (let i = 0; i < o.growthIters; i++) {
    const { metrics } = await trainer.step();
    for (const k of keys) times[k].push(metrics.timeMs[k]);
    probe.sample();
    if ((i + 1) % 10 === 0)
      env.log(`rl: ${i + 1}/${o.growthIters} (median total ${spreadOf(times.total).median.toFixed(0)} ms)`);
  }
  const after = await service.numTensors();
  out.shards = { ...out.shards, rl: { shards: rl.updateShards, helperShards: service.helperShards } };
  if (o.profile) {
    env.log('rl: profiling kernels of one iteration');
    out.rlProfile = await profileByKernel(async () => void (await trainer.step()), 3);
  }
  await helper?.close();
  policy.dispose();
  prm.dispose();
  const spreads = Object.fromEntries(keys.map((k) => [k, spreadOf(times[k])])) as Record<
    (typeof keys)[number],
    Spread
  >;
  out.rlIterationMs = Object.fromEntries(
    keys.map((k) => [k, round(spreads[k].median)]),
  ) as BenchResult['rlIterationMs'];
  out.rlIterationMsSpread = Object.fromEntries(keys.map((k) => [k, roundSpread(spreads[k])])) as Record<
    (typeof keys)[number],
    Spread
  >;
  out.rlIters = o.growthIters;
  out.tensorsGrowthPerIter = (after - before) / o.growthIters;
  out.growthIters = o.growthIters;
}

/** Run the selected measurements; one result object. */
export async function runBench(env: BenchEnv, opts: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...DEFAULT_BENCH, ...opts };
  const rl = parseRlConfig({ updateShards: o.shards });
  const probe = new Probe(env);
  const vocabSize = tokenizerFor(addTask).vocabSize;
  const arch = { vocabSize, ...MODEL_PRESETS[o.model] };
  const params = paramShapes({ ...arch, kind: 'policy' }).reduce(
    (n, [, shape]) => n + shape.reduce((a, b) => a * b, 1),
    0,
  );
  if (env.backend === 'wasm') setKernelMode(o.kernels);
  kernelCalls.ours = 0;
  kernelCalls.tfjs = 0;
  const out: BenchResult = {
    runtime: env.runtime,
    backend: env.backend,
    threads: env.threads,
    crossOriginIsolated: env.crossOriginIsolated ?? null,
    model: { preset: o.model, ...arch, params },
    sizes: {
      promptsPerIter: rl.promptsPerIter,
      groupSize: rl.groupSize,
      sftBatch: o.sftBatch,
      sftSeqLen: o.sftSeqLen,
    },
    peakHeapMB: null,
    peakTensorMB: 0,
    peakWasmMemoryMB: null,
    runs: o.runs,
    warmup: o.warmup,
    sftRuns: o.sftRuns,
    sftWarmup: o.sftWarmup,
  };
  probe.sample();
  if (o.parts.includes('decode')) await measureDecode(env, o, rl, probe, out);
  if (o.parts.includes('sft')) await measureSft(env, o, probe, out);
  if (o.parts.includes('rl')) await measureRl(env, o, rl, probe, out);
  out.peakHeapMB = probe.peakHeapMB === null ? null : round(probe.peakHeapMB, 1);
  out.peakTensorMB = round(probe.peakTensorMB, 1);
  out.peakWasmMemoryMB = probe.peakWasmMemoryMB === null ? null : round(probe.peakWasmMemoryMB, 1);
  if (env.backend === 'wasm') out.kernels = { mode: o.kernels, ...kernelCalls };
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Where the time goes

export interface OpTime {
  /** Kernel name; matmul-like kernels also carry their input shapes. */
  kernel: string;
  /** Median over the profiled runs of the kernel's total time in one run. */
  ms: number;
  calls: number;
}

const SHAPED = new Set(['BatchMatMul', 'DepthwiseConv2dNative', 'Transpose']);

/** Kernel time of `fn` by kernel (tf.profile), median over `runs` calls, largest first. */
export async function profileByKernel(fn: () => Promise<void> | void, runs = 5): Promise<OpTime[]> {
  const backend = tf.getBackend();
  const perRun: Map<string, OpTime>[] = [];
  for (let r = 0; r < runs; r++) {
    const info = await tf.profile(async () => {
      await fn();
    });
    const by = new Map<string, OpTime>();
    for (const k of info.kernels) {
      // Scopes (a custom gradient's 'forward', 'unnamed scope') wrap kernels already listed.
      if (!tf.getKernel(k.name, backend)) continue;
      const key = SHAPED.has(k.name) ? `${k.name} ${JSON.stringify(k.inputShapes)}` : k.name;
      const e = by.get(key) ?? { kernel: key, ms: 0, calls: 0 };
      e.ms += k.kernelTimeMs as number;
      e.calls++;
      by.set(key, e);
    }
    perRun.push(by);
  }
  const keys = new Set(perRun.flatMap((m) => [...m.keys()]));
  return [...keys]
    .map((key) => {
      const ms = spreadOf(perRun.map((m) => m.get(key)?.ms ?? 0)).median;
      return { kernel: key, ms: round(ms), calls: Math.max(...perRun.map((m) => m.get(key)?.calls ?? 0)) };
    })
    .sort((a, b) => b.ms - a.ms);
}
