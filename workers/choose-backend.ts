/**
 * Which tfjs backend a worker runs on, from the request and the WebGPU adapter the browser offers
 * (pure, so every branch is unit-tested without a GPU).
 *
 * `auto` takes WebGPU only on a hardware adapter: a software one (SwiftShader, or any adapter
 * flagged as a fallback) emulates the GPU on the CPU and runs our model 15-50x slower than WASM
 * there (platform.md), so it gets WASM, with a note saying why.
 */
import type { BackendChoice, BackendInfo } from '../src/browser/session-api';

/** What we read of a GPUAdapter (structural, so tests can pass plain objects). */
export interface AdapterLike {
  info?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
  };
  /** Older Chromium puts the flag on the adapter itself. */
  isFallbackAdapter?: boolean;
}

export interface BackendDecision {
  backend: BackendInfo['backend'];
  /** The adapter's description (null without one). */
  adapter: string | null;
  note?: string;
}

export function describeAdapter(adapter: AdapterLike): string {
  const i = adapter.info ?? {};
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s): s is string => !!s);
  return parts.length ? [...new Set(parts)].join(' / ') : 'unnamed adapter';
}

export function isSoftwareAdapter(adapter: AdapterLike): boolean {
  return (
    adapter.info?.architecture === 'swiftshader' ||
    adapter.info?.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true
  );
}

export function chooseBackend(requested: BackendChoice, adapter: AdapterLike | null): BackendDecision {
  if (requested === 'wasm' || requested === 'cpu') return { backend: requested, adapter: null };
  if (!adapter) {
    if (requested === 'webgpu')
      throw new Error('webgpu requested but this browser offers no WebGPU adapter (try --backend wasm)');
    return { backend: 'wasm', adapter: null, note: 'no WebGPU adapter' };
  }
  const name = describeAdapter(adapter);
  if (requested === 'webgpu' || !isSoftwareAdapter(adapter)) return { backend: 'webgpu', adapter: name };
  return {
    backend: 'wasm',
    adapter: null,
    note: `software WebGPU adapter (${name}) is slower than WASM on the same CPU`,
  };
}
