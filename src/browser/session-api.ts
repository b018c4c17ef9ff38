/**
 * The contract between the page (app, widget, headless runner) and a training session. The
 * implementation (`session.ts`) runs the shared RunLoop on the main thread over the policy and PRM
 * workers; the UI only sees this API.
 */

import type { BackendMeasurement, ProbeWorkload } from '../../workers/choose-backend';
import type { EvalResult } from '../core/evaluate';
import type { RlConfig } from '../core/rl/config';
import type { RunSummary } from '../core/rl/run';
import type { IterationResult } from '../core/rl/trainer';

/** The backends a page may ask for (the one list: the CLI, the page, the widget and the runner use it). */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** What the worker runs on. */
  backend: 'webgpu' | 'wasm' | 'cpu';
  requested: BackendChoice;
  /** The WebGPU adapter's description, null when not on WebGPU. */
  adapter: string | null;
  /** WASM threads in use (1 when the page is not cross-origin isolated). */
  threads: number;
  /** On wasm: whether our kernels (src/core/wasm-kernels.ts) run its products, or tfjs's own. */
  wasmKernels?: 'ours' | 'tfjs';
  /**
   * A gradient worker beside the policy worker computes the updates' other shards on a second core
   * (src/core/shards.ts). Set once it is up, a moment after start-up.
   */
  gradientWorker?: boolean;
  /** Why the choice differs from the request (no adapter, SwiftShader, device lost, ...). */
  note?: string;
  /** `auto` measured both backends (now, or `cached` from an earlier run on this adapter). */
  measurement?: BackendMeasurement & { cached: boolean };
}

export type SessionState = 'loading' | 'ready' | 'running' | 'paused' | 'done' | 'error';

export interface SessionOptions {
  /** Any RlConfig knobs; validated with parseRlConfig (task and algo required). */
  config: Partial<RlConfig> & Pick<RlConfig, 'task' | 'algo'>;
  backend: BackendChoice;
  /** Base URL under which `checkpoints/<task>/{policy,prm}.{json,bin}` live. */
  assetsBase: string | URL;
  /** IndexedDB namespace (each widget its own); null disables persistence. */
  storageNamespace?: string | null;
  /** Resume this stored run from its latest checkpoint instead of starting fresh. */
  resumeRunId?: string;
  /** Autosave a checkpoint every N iterations (0 = only at the end). */
  autosaveEvery?: number;
  /** `auto`: measure both backends again instead of using the decision cached for this adapter. */
  remeasureBackend?: boolean;
  /**
   * Evaluate a fresh run's starting policy in a second worker while the first iterations train, so
   * the first iteration shows at once (the page and the widget; results are the same either way).
   */
  parallelStartEval?: boolean;
  /** Test hook: the size of `auto`'s measurement (workers/measure-backend.ts). */
  backendProbe?: Partial<ProbeWorkload>;
  /**
   * False: every shard of the updates runs in the policy worker, no gradient worker beside it
   * (src/core/shards.ts). For two runs side by side, which already keep both cores busy, and tests;
   * the numbers are the same either way.
   */
  gradientWorker?: boolean;
}

export interface SessionEventMap {
  state: { state: SessionState; iter: number };
  backend: BackendInfo;
  iteration: IterationResult;
  eval: { iter: number; result: EvalResult };
  /** An evaluation starts or ends (`background`: the starting one, in a second worker while training). */
  activity: { evaluating: boolean; background: boolean; iter: number };
  checkpoint: { iter: number; runId: string | null };
  notice: { level: 'info' | 'warn' | 'error'; message: string };
  done: RunSummary;
  error: { message: string };
}

export type SessionListener<K extends keyof SessionEventMap> = (detail: SessionEventMap[K]) => void;

export interface Session {
  readonly config: RlConfig;
  readonly state: SessionState;
  readonly iter: number;
  readonly backendInfo: BackendInfo | null;
  readonly runId: string | null;
  on<K extends keyof SessionEventMap>(type: K, listener: SessionListener<K>): () => void;
  /** Train until `config.iters` or pause; resolves with the summary when done, null when paused. */
  start(): Promise<RunSummary | null>;
  /** Stop after the current iteration (the promise resolves when it has stopped). */
  pause(): Promise<void>;
  /** Exactly one iteration (evaluating first if the run has not begun). */
  stepOnce(): Promise<IterationResult>;
  /** Back to the starting checkpoint and iteration 0 (a new stored run). */
  reset(): Promise<void>;
  /** Terminate the workers and release everything. */
  dispose(): Promise<void>;
  /**
   * The policy's greedy answer to one prompt, now, and the PRM's step scores of it (null when the
   * run has no PRM). Not while training (pause first); changes nothing (greedy decoding draws no
   * random numbers). Optional: test doubles may leave it out.
   */
  probe?(prompt: string): Promise<ProbeAnswer>;
}

export interface ProbeAnswer {
  completion: string;
  prmScores: number[] | null;
}
