/**
 * A model worker's tfjs backend: the choice (auto / webgpu / wasm / cpu), WebGPU device errors that
 * fail loudly, and the fallback to WASM when the device is lost.
 *
 * - `auto` takes WebGPU only on a hardware adapter; a software one (SwiftShader) runs our model
 *   15-50x slower than WASM on the same CPU (platform.md), so it gets WASM.
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
import { chooseBackend } from './choose-backend';
import type { BackendRequest, WorkerEvent } from './protocol';

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
  ) {}

  async init(): Promise<BackendInfo> {
    const { backend: requested } = this.req;
    const wantsGpu = requested === 'auto' || requested === 'webgpu';
    const {
      backend: target,
      adapter,
      note,
    } = chooseBackend(requested, wantsGpu ? await requestAdapter() : null);
    if (target === 'wasm') return this.startWasm(note);
    if (target === 'cpu') {
      await this.setBackend('cpu');
      return this.announce({ backend: 'cpu', requested, adapter: null, threads: 1, note });
    }
    await this.setBackend('webgpu');
    this.watchDevice((tf.backend() as WebGPUBackend).device);
    return this.announce({ backend: 'webgpu', requested, adapter, threads: 1, note });
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

  private async startWasm(note?: string): Promise<BackendInfo> {
    useSingleThreadWasm();
    await this.setBackend('wasm');
    return this.announce({ backend: 'wasm', requested: this.req.backend, adapter: null, threads: 1, note });
  }

  private async setBackend(name: string): Promise<void> {
    if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
    await tf.ready();
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
