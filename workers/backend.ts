/**
 * A model worker's tfjs backend: the choice (auto / webgpu / wasm / cpu), WebGPU device errors that
 * fail loudly, and the fallback to WASM when the device is lost.
 *
 * - `auto` on a hardware adapter measures the worker's model on both WASM and WebGPU (a training
 *   step and a decode burst, measure-backend.ts) and takes the faster; the decision is cached per
 *   adapter, browser, tfjs version and model shape (backend-cache.ts), `remeasure` measures again.
 *   A software adapter (SwiftShader) gets WASM without measuring (15-50x faster on the same CPU,
 *   platform.md) unless `remeasure` asks. The policy worker measures; the PRM worker follows it.
 *   (Decision logic: choose-backend.ts, pure and unit-tested.)
 * - On WebGPU every operation runs inside error scopes and a device error makes it reject: tfjs
 *   otherwise only logs validation errors and the op returns garbage.
 * - A lost device (driver reset, `destroy()`) switches the worker to WASM; the worker rebuilds its
 *   models from its host copies (the `rebuild` callback) and reruns the interrupted operation.
 */
/// <reference types="@webgpu/types" />
import { type WebGPUBackend, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import { type DeviceWatch, GpuDeviceError, watchDevice, withErrorScopes } from '../src/browser/gpu-errors';
import type { BackendInfo } from '../src/browser/session-api';
import * as tf from '../src/core/tf';
import { installWasmKernels, wasmKernelsActive } from '../src/core/wasm-kernels';
import { readChoice, storeChoice } from './backend-cache';
import {
  type BackendDecision,
  type BackendMeasurement,
  type CachedChoice,
  type ChoiceKeyParts,
  choiceKey,
  DEFAULT_PROBE,
  decisionFromMeasurement,
  describeAdapter,
  type ProbeWorkload,
  planBackend,
  workloadLabel,
} from './choose-backend';
import { measureWasmAndWebgpu, type ProbeRunner } from './measure-backend';
import type { BackendRequest, WorkerEvent } from './protocol';

/** The model `auto` measures: its shape (part of the cache key) and a runner on the current backend. */
export interface BackendProbe {
  model: ChoiceKeyParts['model'];
  probe(w: ProbeWorkload): ProbeRunner;
}

/** How long a lost device's interrupted operation may take to give up before we switch anyway. */
const SETTLE_AFTER_LOSS_MS = 10_000;

/** After an op failed (not by a captured device error), how long `lost` may take to settle. */
const LOST_GRACE_MS = 60_000;

/** The `loseDevice(during)` test hook destroys the device this long into the operation. */
const LOSE_AFTER_MS = 20;

class DeviceLost extends Error {
  override name = 'DeviceLost';
}

/**
 * Single-threaded SIMD wasm, for every worker that runs tfjs: tfjs would load its threaded build in
 * any cross-origin isolated page, but it caps its pool at hardwareConcurrency / 2 (1 thread on 2
 * cores), and 2 threads were slower here anyway (docs/performance.md, "Multi-threaded WASM"). Call
 * before the wasm backend initialises.
 */
export function useSingleThreadWasm(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  locateWasm();
  installWasmKernels(); // our kernels for products and concat, bit-identical to tfjs's (src/core/wasm-kernels.ts)
}

/** The binaries are emitted by vite next to this module; resolve them against it, never a CDN. */
function locateWasm(): void {
  const at = (u: string) => new URL(u, import.meta.url).href;
  setWasmPaths({
    'tfjs-backend-wasm.wasm': at(wasmPlainUrl),
    'tfjs-backend-wasm-simd.wasm': at(wasmSimdUrl),
    // Never loaded (threads are off, see useSingleThreadWasm), but tfjs wants an entry for every binary.
    'tfjs-backend-wasm-threaded-simd.wasm': at(wasmSimdUrl),
  });
}

async function requestAdapter(): Promise<GPUAdapter | null> {
  if (!webgpu_util.isWebGPUSupported()) return null;
  try {
    return await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

export class Accelerator {
  info!: BackendInfo;
  private device: GPUDevice | null = null;
  private lostReason: string | null = null;
  private lost: Promise<never> | null = null;
  private watch: DeviceWatch | null = null;
  /** Operations run one at a time: error scopes are per device, and a rerun must not interleave. */
  private queue: Promise<unknown> = Promise.resolve();
  private inflight: Promise<unknown> | null = null;
  private loseDuring: string | null = null;

  constructor(
    private readonly req: BackendRequest,
    private readonly emit: (e: WorkerEvent) => void,
    /** Recreate the worker's models on the (new) current backend from its host copies. */
    private readonly rebuild: () => Promise<void>,
    /** What `auto` measures (the policy worker's model); without it `auto` cannot measure. */
    private readonly measure?: BackendProbe,
  ) {}

  async init(): Promise<BackendInfo> {
    const { backend: requested, follow } = this.req;
    if (follow) return this.follow(follow);
    const wantsGpu = requested === 'auto' || requested === 'webgpu';
    const adapter = wantsGpu ? await requestAdapter() : null;
    const workload: ProbeWorkload = { ...DEFAULT_PROBE, ...this.req.probe };
    const remeasure = this.req.remeasure === true;
    let key: string | null = null;
    let cached: CachedChoice | null = null;
    if (requested === 'auto' && adapter && this.measure) {
      key = choiceKey({
        adapter: describeAdapter(adapter),
        browser: navigator.userAgent,
        tfjs: tf.version.tfjs,
        model: this.measure.model,
        workload: workloadLabel(workload),
      });
      if (!remeasure) cached = await readChoice(key);
    }
    const plan = planBackend(requested, adapter, { cached, key, remeasure, canMeasure: !!this.measure });
    let decision: BackendDecision;
    let measurement: BackendInfo['measurement'];
    if (plan.kind === 'decided') {
      decision = plan.decision;
      if (plan.cached) measurement = { ...plan.cached.measurement, cached: true };
    } else {
      const m = await this.measureBoth(plan.adapter, workload);
      const d = decisionFromMeasurement(m, key!);
      decision = d.decision;
      const stored = await storeChoice(d.record);
      measurement = { ...m, cached: false };
      if (!stored) decision.note += ' (not cached: storage unavailable)';
    }
    const { backend: target, adapter: adapterName, note } = decision;
    if (target === 'wasm') {
      const info = await this.startWasm(note, measurement);
      if (plan.kind === 'measure') this.dropWebgpu();
      return info;
    }
    if (target === 'cpu') {
      await this.setBackend('cpu');
      return this.announce({ backend: 'cpu', requested, adapter: null, threads: 1, note });
    }
    await this.setBackend('webgpu');
    this.watchDevice((tf.backend() as WebGPUBackend).device);
    return this.announce({
      backend: 'webgpu',
      requested,
      adapter: adapterName,
      threads: 1,
      note,
      measurement,
    });
  }

  /** Take the backend another worker chose (see BackendRequest.follow). */
  private async follow(f: NonNullable<BackendRequest['follow']>): Promise<BackendInfo> {
    const requested = this.req.backend;
    const note = f.note ? `as the policy worker chose: ${f.note}` : undefined;
    if (f.backend === 'cpu') {
      await this.setBackend('cpu');
      return this.announce({ backend: 'cpu', requested, adapter: null, threads: 1, note });
    }
    const adapter = f.backend === 'webgpu' ? await requestAdapter() : null;
    if (!adapter) return this.startWasm(f.backend === 'webgpu' ? 'no WebGPU adapter' : note);
    await this.setBackend('webgpu');
    this.watchDevice((tf.backend() as WebGPUBackend).device);
    return this.announce({
      backend: 'webgpu',
      requested,
      adapter: describeAdapter(adapter),
      threads: 1,
      note,
    });
  }

  /** `auto`'s measurement: the worker's model on WASM and on WebGPU (measure-backend.ts). */
  private measureBoth(adapter: string, w: ProbeWorkload): Promise<BackendMeasurement> {
    useSingleThreadWasm();
    return measureWasmAndWebgpu((name) => this.setBackend(name), this.measure!.probe, w, adapter);
  }

  /**
   * After a measurement that chose WASM: release the WebGPU backend it initialised (and its device).
   * (Only then: `findBackend` would initialise a backend that was never used.)
   */
  private dropWebgpu(): void {
    try {
      if (tf.getBackend() !== 'webgpu') tf.removeBackend('webgpu');
    } catch {}
  }

  /**
   * Run one operation: serialised, inside WebGPU error scopes (a device error rejects it), and, if
   * the device is lost meanwhile, rerun on WASM after `rebuild`.
   */
  run<T>(label: string, op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      if (this.lostReason !== null && this.info.backend === 'webgpu') await this.fallBack();
      if (this.info.backend !== 'webgpu') return op();
      try {
        return await this.guarded(label, op);
      } catch (e) {
        // A destroyed device can fail the op (an aborted buffer map) well before `lost` settles:
        // the GPU process first finishes the queued work (6 s measured on SwiftShader).
        if (e instanceof GpuDeviceError) throw e;
        if (this.lostReason === null)
          await Promise.race([this.lost?.catch(() => {}), new Promise((r) => setTimeout(r, LOST_GRACE_MS))]);
        if (this.lostReason === null) throw e;
        await this.fallBack();
        return op();
      }
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Test hook: what a GPU reset does to the device, now or (`during`) shortly after the next
   * operation with that label has started, so the loss interrupts it.
   */
  loseDevice(during?: string): boolean {
    if (!this.device) return false;
    if (during) this.loseDuring = during;
    else this.device.destroy();
    return true;
  }

  private async startWasm(note?: string, measurement?: BackendInfo['measurement']): Promise<BackendInfo> {
    useSingleThreadWasm();
    await this.setBackend('wasm');
    return this.announce({
      backend: 'wasm',
      requested: this.req.backend,
      adapter: null,
      threads: 1,
      wasmKernels: wasmKernelsActive() ? 'ours' : 'tfjs',
      note,
      measurement,
    });
  }

  private async setBackend(name: string): Promise<void> {
    if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
    await tf.ready();
  }

  /** Tell the page of a change to the info (the gradient worker joining). */
  amend(patch: Partial<BackendInfo>): void {
    this.announce({ ...this.info, ...patch });
  }

  private announce(info: BackendInfo): BackendInfo {
    this.info = info;
    this.emit({ type: 'backend', info });
    return info;
  }

  private watchDevice(device: GPUDevice): void {
    this.device = device;
    let lost!: (reason: string) => void;
    this.lost = new Promise<never>((_, reject) => {
      lost = (reason) => reject(new DeviceLost(reason));
    });
    this.lost.catch(() => {});
    this.watch = watchDevice(device, (fault) => {
      if (fault.kind !== 'lost') return;
      // 'device lost (reason): message' -> '(reason): message'
      this.lostReason = fault.message.replace(/^device lost\s*/, '');
      lost(this.lostReason);
      // Tell the page and switch now, even when idle, not on the next call.
      this.queue = this.queue.then(() => this.fallBack()).catch(() => {});
    });
  }

  private async guarded<T>(label: string, op: () => Promise<T>): Promise<T> {
    const device = this.device!;
    const watch = this.watch!;
    const seen = watch.faults.length;
    if (this.loseDuring === label) {
      this.loseDuring = null;
      setTimeout(() => device.destroy(), LOSE_AFTER_MS);
    }
    // The readback of the results is inside `op`, so their kernels ran inside the scopes.
    const work = withErrorScopes(device, op);
    this.inflight = work;
    try {
      const result = await Promise.race([work, this.lost as Promise<never>]);
      const escaped = watch.faults.slice(seen).filter((f) => f.kind === 'uncaptured');
      if (escaped.length) throw new GpuDeviceError(escaped);
      return result;
    } catch (e) {
      if (e instanceof GpuDeviceError) throw new GpuDeviceError(e.faults, `during ${label}`);
      throw e;
    } finally {
      this.inflight = null;
    }
  }

  /** WebGPU is gone: move to WASM, rebuild the models there, tell the page. Idempotent. */
  private async fallBack(): Promise<void> {
    if (this.info.backend !== 'webgpu') return;
    const reason = this.lostReason ?? 'unknown';
    if (this.inflight)
      await Promise.race([
        this.inflight.catch(() => {}),
        new Promise((r) => setTimeout(r, SETTLE_AFTER_LOSS_MS)),
      ]);
    this.device = null;
    this.watch?.dispose();
    const adapter = this.info.adapter;
    await this.startWasm(`WebGPU device lost ${reason}; fell back to WASM`);
    await this.rebuild();
    try {
      tf.removeBackend('webgpu');
    } catch {}
    this.emit({
      type: 'notice',
      level: 'warn',
      message: `WebGPU device${adapter ? ` (${adapter})` : ''} lost ${reason}; continuing on WASM from the latest weights`,
    });
  }
}
