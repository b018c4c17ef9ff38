/// <reference types="vite/client" />
/**
 * The benchmark's Web Worker: chooses and initialises the tfjs backend, fetches the shipped `add`
 * checkpoints from the page's server and runs the shared measurements (./measure).
 */
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '../core/tf';
import { runBench } from './measure';
import type { BenchBackend, BenchMessage, BenchRequest } from './protocol';

const post = (m: BenchMessage) => (self as unknown as Worker).postMessage(m);

/** 'auto' takes WebGPU only on a hardware adapter: on SwiftShader (CPU emulation) WASM is far faster. */
async function chooseBackend(want: BenchBackend): Promise<{ name: string; adapter?: string }> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const info = adapter ? `${adapter.info.vendor} ${adapter.info.architecture}`.trim() : undefined;
  if (want === 'webgpu') {
    if (!adapter) throw new Error('webgpu requested but navigator.gpu has no adapter');
    return { name: 'webgpu', adapter: info };
  }
  if (
    want === 'auto' &&
    adapter &&
    adapter.info.architecture !== 'swiftshader' &&
    !adapter.info.isFallbackAdapter
  )
    return { name: 'webgpu', adapter: info };
  return { name: want === 'cpu' ? 'cpu' : 'wasm', adapter: info };
}

async function heapProbe(): Promise<() => number | null> {
  const mem = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return () => (mem ? mem.usedJSHeapSize / 2 ** 20 : null);
}

async function run(req: BenchRequest): Promise<void> {
  const { name, adapter } = await chooseBackend(req.backend);
  if (name === 'wasm') {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    });
    // Read once, when the backend initialises: it must be set before setBackend.
    if (req.threads !== undefined) {
      setThreadsCount(req.threads);
      // tfjs-wasm caps its pool at navigator.hardwareConcurrency / 2 (it assumes two hyper-threads
      // per core), so on a 2-CPU machine it never runs more than 1 thread whatever was asked. To
      // measure N threads anyway, the bench lets the backend see 2N logical cores.
      const cores = navigator.hardwareConcurrency;
      if (req.threads > Math.floor(cores / 2)) {
        Object.defineProperty(navigator, 'hardwareConcurrency', {
          value: 2 * req.threads,
          configurable: true,
        });
        post({ type: 'log', msg: `wasm: ${req.threads} threads asked, lifting tfjs's cap of ${cores}/2` });
      }
    }
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
  // WebGPU reports validation errors only to the console and returns garbage: fail loudly instead.
  const gpuErrors: string[] = [];
  if (name === 'webgpu') {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    device.onuncapturederror = (e) => gpuErrors.push(e.error.message);
  }
  const fetchBytes = async (file: string) => {
    const res = await fetch(new URL(`checkpoints/add/${file}`, req.base));
    if (!res.ok) throw new Error(`fetching ${file}: HTTP ${res.status}`);
    return res;
  };
  const ck = async (n: string) => ({
    manifestJson: await (await fetchBytes(`${n}.json`)).text(),
    blob: new Uint8Array(await (await fetchBytes(`${n}.bin`)).arrayBuffer()),
  });
  const result = await runBench(
    {
      runtime: 'browser',
      backend: tf.getBackend(),
      threads: name === 'wasm' ? getThreadsCount() : 1,
      crossOriginIsolated: self.crossOriginIsolated,
      policyCk: await ck('policy'),
      prmCk: await ck('prm'),
      heapMB: await heapProbe(),
      log: (msg) => post({ type: 'log', msg }),
      now: () => performance.now(),
    },
    req.opts,
  );
  if (gpuErrors.length) throw new Error(`WebGPU errors: ${gpuErrors.slice(0, 3).join(' | ')}`);
  const wasmFeatures =
    name === 'wasm'
      ? {
          simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean,
          threads: (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean,
        }
      : undefined;
  post({ type: 'result', result: { ...result, adapter, wasmFeatures } });
}

self.onmessage = (e: MessageEvent<BenchRequest>) => {
  run(e.data).catch((err: unknown) =>
    post({ type: 'error', error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }),
  );
};
