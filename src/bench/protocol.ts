/** Messages between the bench page and its worker (plain data). */
import type { BackendMeasurement } from '../../workers/choose-backend';
import type { BackendChoice } from '../browser/session-api';
import type { BenchOptions, BenchResult } from './measure';

export type BenchBackend = BackendChoice;

export interface BenchRequest {
  backend: BenchBackend;
  /** `auto`: measure wasm against webgpu even on a software adapter (workers/choose-backend.ts). */
  remeasure?: boolean;
  /** WASM threads; undefined lets tfjs choose. */
  threads?: number;
  opts: Partial<BenchOptions>;
  /** Base URL the shipped checkpoints are fetched from (the page's own server). */
  base: string;
}

export type BenchMessage =
  | { type: 'log'; msg: string }
  | { type: 'result'; result: BrowserBenchResult }
  | { type: 'error'; error: string };

export type BrowserBenchResult = BenchResult & {
  /** The WebGPU adapter seen (vendor architecture), if any. */
  adapter?: string;
  /** What tfjs-wasm detected: SIMD and threads (threads need cross-origin isolation). */
  wasmFeatures?: { simd: boolean; threads: boolean };
  /** Why this backend: the note, and `auto`'s measurement when it measured. */
  backendChoice?: { note?: string; measurement?: BackendMeasurement };
};
