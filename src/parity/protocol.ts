/** Messages between the parity page and its worker, and the report they produce. */
import type { GpuFault } from '../browser/gpu-errors';
import type { TensorDiff } from './compare';

/** Backends compared against the cpu reference. */
export type ComparedBackend = 'wasm' | 'webgpu';

export interface ParityOptions {
  /** Backends to compare with cpu, in order. */
  backends: ComparedBackend[];
  /** Base URL under which `checkpoints/add/{policy,prm}.{json,bin}` are served. */
  assetsBase: string;
  /**
   * Self-check of the harness: add `delta` to element 0 of one parameter on one backend, after
   * loading the checkpoint. The comparison must then flag the tensors that depend on it.
   */
  perturb?: { backend: ComparedBackend; model: 'policy' | 'prm'; param: string; delta: number };
}

export interface BackendReport {
  backend: ComparedBackend;
  /** The WebGPU adapter (vendor / architecture / description), null elsewhere. */
  adapter: string | null;
  seconds: number;
  /** Wall time of each probe (forward, each loss's gradients, decoding, ...). */
  probeSeconds: Record<string, number>;
  /** Per output tensor, its difference from the cpu reference. */
  diffs: TensorDiff[];
  /** WebGPU device errors: from error scopes around each probe, uncaptured ones, device loss. */
  faults: (GpuFault & { probe: string })[];
  /** A probe that threw (a missing kernel, a device error, ...): the run stopped there. */
  error: string | null;
}

export interface ParityReport {
  reference: 'cpu';
  referenceSeconds: number;
  referenceProbeSeconds: Record<string, number>;
  /** Output names in the order computed, with their sizes. */
  outputs: { name: string; size: number }[];
  backends: BackendReport[];
}

/** Self-check of gpu-errors.ts on the real device. */
export interface ErrorCaptureReport {
  adapter: string;
  /** A valid op inside withErrorScopes: its result (must be [3, 5]) or the error it threw. */
  validOp: number[] | string;
  /** An invalid buffer created inside withErrorScopes: the message of the GpuDeviceError (null: not thrown). */
  scopedError: string | null;
  /** The same mistake outside any scope: what watchDevice recorded. */
  uncaptured: GpuFault[];
}

export type WorkerRequest = { type: 'run'; options: ParityOptions } | { type: 'check-error-capture' };

export type WorkerResponse =
  | { type: 'progress'; message: string }
  | { type: 'report'; report: ParityReport }
  | { type: 'error-capture'; report: ErrorCaptureReport }
  | { type: 'failed'; message: string };
