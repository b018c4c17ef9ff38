/**
 * What crosses between the page and the model workers. Token ids, log-probs, weights and scores
 * cross as typed arrays in the transfer list (moved, not copied, and never as JSON arrays); many
 * small arrays are packed into one flat buffer with their lengths.
 */
import type { BackendChoice, BackendInfo } from '../src/browser/session-api';
import type { EvalOptions, EvalResult } from '../src/core/evaluate';
import type { UpdateBatch } from '../src/core/rl/loss';
import type { GenerateRequest, StoredCheckpoint, UpdateOptions, UpdateStats } from '../src/core/rl/services';
import type { ProbeWorkload } from './choose-backend';

/** Pushed from a worker to the page, outside any call (a backend change, a fallback notice). */
export type WorkerEvent =
  | { type: 'backend'; info: BackendInfo }
  | { type: 'notice'; level: 'info' | 'warn' | 'error'; message: string };

export interface BackendRequest {
  backend: BackendChoice;
  /** `auto`: measure both backends now, ignoring a cached decision, even on a software adapter. */
  remeasure?: boolean;
  /** Test hook: the size of `auto`'s probe (DEFAULT_PROBE otherwise; see measure-backend.ts). */
  probe?: Partial<ProbeWorkload>;
  /**
   * Take this backend, as the policy worker chose it for `auto` (the PRM worker: the same model
   * shape, and it must not measure while the policy does). WebGPU without an adapter gets WASM.
   */
  follow?: { backend: 'webgpu' | 'wasm' | 'cpu'; note?: string };
}

export interface PolicyInit extends BackendRequest {
  task: string;
  /** The run's starting checkpoint (also the KL reference). */
  checkpoint: StoredCheckpoint;
  /**
   * Set: prepare it for RL (`prepareRlPolicy`: run-seeded sampling, fresh Adam). Unset: load as is.
   * `updateShards` > 1: on WASM, a gradient worker computes shards of the updates (src/core/shards.ts),
   * unless `gradientWorker` is false (a test hook: the numbers must be the same).
   */
  rl: { seed: number; adamEps: number; updateShards?: number; gradientWorker?: boolean } | null;
}

export interface PrmInit extends BackendRequest {
  task: string;
  checkpoint: StoredCheckpoint;
}

/** Several Float32Arrays as one buffer and their lengths. */
export interface PackedRows {
  flat: Float32Array;
  lengths: Int32Array;
}

export interface PackedGeneration {
  texts: string[];
  logps: PackedRows;
}

export interface PolicyWorkerApi {
  init(req: PolicyInit, onEvent: (e: WorkerEvent) => void): Promise<BackendInfo>;
  describe(): Promise<{ backend: string; task: string; params: number; step: number; helperShards?: number }>;
  generate(
    requests: GenerateRequest[],
    opts: { temperature: number; topP: number; greedy?: boolean },
  ): Promise<PackedGeneration>;
  update(batch: UpdateBatch, opts: UpdateOptions): Promise<UpdateStats>;
  evaluate(opts: Partial<EvalOptions>): Promise<EvalResult>;
  checkpoint(meta: Record<string, unknown>): Promise<StoredCheckpoint>;
  load(ck: StoredCheckpoint): Promise<void>;
  numTensors(): Promise<number>;
  /**
   * Test hook: destroy the WebGPU device as a driver reset would, now or during the next operation
   * named `during` ('generate', 'update', ...). False when not on WebGPU.
   */
  loseDevice(during?: string): Promise<boolean>;
  /** Test hook: see `rendezvous`. */
  rendezvous(counter: SharedArrayBuffer, parties: number, timeoutMs: number): Promise<boolean>;
}

export interface PrmWorkerApi {
  init(req: PrmInit, onEvent: (e: WorkerEvent) => void): Promise<BackendInfo>;
  scoreSteps(items: { prompt: string; completion: string }[]): Promise<PackedRows>;
  numTensors(): Promise<number>;
  loseDevice(during?: string): Promise<boolean>;
  rendezvous(counter: SharedArrayBuffer, parties: number, timeoutMs: number): Promise<boolean>;
}

export function packRows(rows: readonly ArrayLike<number>[]): PackedRows {
  const lengths = Int32Array.from(rows, (r) => r.length);
  const flat = new Float32Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const r of rows) {
    flat.set(r, at);
    at += r.length;
  }
  return { flat, lengths };
}

/** Views into the one buffer (no copy). */
export function unpackRows(p: PackedRows): Float32Array[] {
  const out: Float32Array[] = [];
  let at = 0;
  for (const n of p.lengths) {
    out.push(p.flat.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The distinct buffers behind some typed arrays: a transfer list must not name one twice. */
export function buffersOf(...arrays: (ArrayBufferView | undefined)[]): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const a of arrays) if (a) set.add(a.buffer as ArrayBuffer);
  return [...set];
}

/**
 * Proof that threads run at the same time: each party counts itself in, then BLOCKS its thread
 * (Atomics.wait, no yielding) until all `parties` have arrived. Parties sharing one thread could
 * never all arrive, so `true` from every party means they ran simultaneously on distinct threads.
 * Needs a SharedArrayBuffer (a cross-origin isolated page).
 */
export function rendezvous(counter: SharedArrayBuffer, parties: number, timeoutMs: number): boolean {
  const cell = new Int32Array(counter, 0, 1);
  Atomics.add(cell, 0, 1);
  Atomics.notify(cell, 0);
  const deadline = performance.now() + timeoutMs;
  for (let seen = Atomics.load(cell, 0); seen < parties; seen = Atomics.load(cell, 0)) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(cell, 0, seen, left);
  }
  return true;
}
