/**
 * Loud WebGPU faults for the tfjs webgpu backend.
 *
 * tfjs 4.22 only logs WebGPU validation errors to the console and the op returns garbage (see
 * platform.md): training would "run" on a silently wrong gradient. So code that runs kernels on
 * WebGPU (the parity page, the workers) does:
 *
 *   const device = webgpuDevice();                 // after tf.setBackend('webgpu')
 *   const watch = watchDevice(device);             // records uncaptured errors and device loss
 *   const out = await withErrorScopes(device, async () => {
 *     const t = someOps();
 *     return await t.data();                       // the readback belongs INSIDE the scope
 *   });                                            // throws GpuDeviceError on a device error
 *   if (watch.faults.length) ...                   // anything that escaped the scopes
 *
 * Why the readback must be inside: tfjs records kernels lazily and submits them in batches
 * (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE), so a bad dispatch surfaces at pipeline creation or at
 * queue.submit, and the readback is what forces the submit while the scopes are still open.
 * Error scopes belong to the device, not to an async call chain: wrap one op at a time per device.
 *
 * Independent of any page: only the device (and, for `webgpuDevice`, the active tfjs backend).
 */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '../core/tf';

/** The error filters a scope can catch, plus the two ways a fault escapes scopes. */
export type GpuFaultKind = GPUErrorFilter | 'uncaptured' | 'lost';

export interface GpuFault {
  kind: GpuFaultKind;
  message: string;
}

/** A WebGPU device reported one or more errors during an op (or was lost). */
export class GpuDeviceError extends Error {
  /** `context` says what was running, e.g. 'during update'. */
  constructor(
    readonly faults: readonly GpuFault[],
    context?: string,
  ) {
    super(
      `WebGPU device error${context ? ` ${context}` : ''}: ${faults.map((f) => `[${f.kind}] ${f.message}`).join('; ')}`,
    );
    this.name = 'GpuDeviceError';
  }
}

/** The GPUDevice of the active tfjs backend; throws when that backend is not webgpu. */
export function webgpuDevice(): GPUDevice {
  if (tf.getBackend() !== 'webgpu')
    throw new Error(`the active tfjs backend is '${tf.getBackend()}', not 'webgpu'`);
  return (tf.backend() as WebGPUBackend).device;
}

export interface DeviceWatch {
  /** Every fault seen so far (uncaptured errors and a loss), oldest first. */
  readonly faults: readonly GpuFault[];
  /** Stop listening (a later loss, e.g. from disposing the backend on purpose, is ignored). */
  dispose(): void;
}

/**
 * Record the device's uncaptured errors (those no error scope caught) and its loss.
 * `onFault` is called for each as it happens (e.g. to fall back to WASM on loss).
 */
export function watchDevice(device: GPUDevice, onFault?: (fault: GpuFault) => void): DeviceWatch {
  const faults: GpuFault[] = [];
  let active = true;
  const record = (fault: GpuFault) => {
    if (!active) return;
    faults.push(fault);
    onFault?.(fault);
  };
  const onUncaptured = (e: GPUUncapturedErrorEvent) =>
    record({ kind: 'uncaptured', message: e.error.message });
  device.addEventListener('uncapturederror', onUncaptured);
  void device.lost.then((info) => {
    if (!active) return;
    record({ kind: 'lost', message: `device lost (${info.reason}): ${info.message}` });
  });
  return {
    faults,
    dispose() {
      active = false;
      device.removeEventListener('uncapturederror', onUncaptured);
    },
  };
}

const FILTERS: readonly GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];

/**
 * Run `op` inside validation, out-of-memory and internal error scopes; throws GpuDeviceError when
 * any of them caught an error (after `op` finished), and rethrows `op`'s own error otherwise.
 * Include the readback of the results in `op` (see the module comment).
 */
export async function withErrorScopes<T>(device: GPUDevice, op: () => Promise<T>): Promise<T> {
  for (const f of FILTERS) device.pushErrorScope(f);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await op() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // Scopes are a stack: pop in reverse, and always, so a throwing op leaves none behind. A device
  // error wins over op's own error: it is the cause, the op's failure the symptom.
  const faults: GpuFault[] = [];
  for (const f of [...FILTERS].reverse()) {
    const err = await device.popErrorScope();
    if (err) faults.push({ kind: f, message: err.message });
  }
  if (faults.length > 0) throw new GpuDeviceError(faults);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
