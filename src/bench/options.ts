/** The benchmark's knobs (type imports only: the page loads this without tfjs). */

import type { ModelPreset } from '../core/model-shape';
import type { KernelMode } from '../core/wasm-kernels';

/** Every knob of a benchmark run, defaulted here. */
export interface BenchOptions {
  /** Timed runs of each decode / SFT measurement (after `warmup` untimed ones). */
  runs: number;
  warmup: number;
  /** The no-cache decoder is slow: fewer runs (0 skips it). */
  noCacheRuns: number;
  /** New tokens per sequence in the decode measurement. */
  decodeNewTokens: number;
  /**
   * Timed SFT steps after `sftWarmup` untimed ones. A fresh tfjs process takes ~20 steps to reach the
   * speed it then keeps (JIT tiering, WASM heap growth; docs/performance.md), and the peer takes the
   * median of 30 steps: the same here.
   */
  sftRuns: number;
  sftWarmup: number;
  /** SFT step batch: sequences x tokens. */
  sftBatch: number;
  sftSeqLen: number;
  /** SCOPE iterations before timing (their tensors and timings are not counted). */
  rlWarmup: number;
  /** Timed SCOPE iterations; also the span over which tensor growth is measured. */
  growthIters: number;
  /** Which measurements to take. */
  parts: readonly BenchPart[];
  /** Also report kernel time by kernel (tf.profile) of each measurement. */
  profile: boolean;
  /**
   * Model size (MODEL_PRESETS). `default` is the shipped one; other sizes have no checkpoint, so the
   * RL iteration runs from random weights (a random policy: other completion lengths and rewards).
   */
  model: ModelPreset;
  /** wasm's kernels (src/core/wasm-kernels.ts): ours, `exact` (the default) or `fma`, or tfjs's own, `off`. */
  kernels: KernelMode;
  /**
   * Row shards of the SFT step and of the RL iteration's update (src/core/shards.ts); the default
   * is the RL default and the pretraining's (2). 1: unsharded.
   */
  shards: number;
}

/** Few runs, for backends where one step takes seconds (webgpu on SwiftShader, cpu). */
export const QUICK_BENCH: Partial<BenchOptions> = {
  runs: 2,
  warmup: 1,
  sftRuns: 2,
  sftWarmup: 1,
  noCacheRuns: 1,
  rlWarmup: 1,
  growthIters: 3,
};

export const BENCH_PARTS = ['decode', 'sft', 'rl'] as const;
export type BenchPart = (typeof BENCH_PARTS)[number];

export const DEFAULT_BENCH: BenchOptions = {
  runs: 7,
  warmup: 2,
  noCacheRuns: 3,
  decodeNewTokens: 64,
  sftRuns: 30,
  sftWarmup: 20,
  sftBatch: 32,
  sftSeqLen: 32,
  rlWarmup: 3,
  growthIters: 50,
  parts: BENCH_PARTS,
  profile: false,
  model: 'default',
  kernels: 'exact',
  shards: 2,
};
