/// <reference types="vite/client" />
/**
 * The benchmark's Web Worker: fetches the shipped `add` checkpoints from the page's server, chooses
 * and initialises the tfjs backend (`auto` as the training workers choose it, by measurement on a
 * hardware adapter) and runs the shared measurements (./measure).
 */
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import {
  DEFAULT_PROBE,
  decisionFromMeasurement,
  describeAdapter,
  type ProbeWorkload,
  planBackend,
} from '../../workers/choose-backend';
import { startGradientWorker } from '../../workers/gradient-helper';
import {
  measureWasmAndWebgpu,
  modelProbe,
  type ProbeRunner,
  policyProbe,
} from '../../workers/measure-backend';
import { PolicyModel } from '../core/agents';
import { MODEL_PRESETS } from '../core/model-shape';
import type { StoredCheckpoint } from '../core/rl/services';
import { addTask } from '../core/tasks';
import * as tf from '../core/tf';
import { installWasmKernels } from '../core/wasm-kernels';
import { runBench } from './measure';
import type { BenchMessage, BenchRequest, BrowserBenchResult } from './protocol';

const post = (m: BenchMessage) => (self as unknown as Worker).postMessage(m);

/**
 * The backend, as the training workers choose it (workers/choose-backend.ts): `auto` on a hardware
 * adapter (or anywhere with `remeasure`) measures the model on wasm and webgpu and takes the faster;
 * the bench never caches (each run measures afresh). `setWasm` has prepared the wasm backend.
 */
async function pickBackend(
  req: BenchRequest,
  probe: (w: ProbeWorkload) => ProbeRunner,
): Promise<{ name: string; adapter?: string; choice: BrowserBenchResult['backendChoice'] }> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter =
    req.backend === 'auto' || req.backend === 'webgpu' ? ((await gpu?.requestAdapter()) ?? null) : null;
  const described = adapter ? describeAdapter(adapter) : undefined;
  const plan = planBackend(req.backend, adapter, {
    cached: null,
    key: null,
    remeasure: req.remeasure === true,
    canMeasure: true,
  });
  if (plan.kind === 'decided')
    return { name: plan.decision.backend, adapter: described, choice: { note: plan.decision.note } };
  const w = { ...DEFAULT_PROBE };
  const setBackend = async (name: string) => {
    if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
    await tf.ready();
  };
  const m = await measureWasmAndWebgpu(setBackend, probe, w, plan.adapter);
  const { decision } = decisionFromMeasurement(m, 'bench');
  post({ type: 'log', msg: decision.note ?? '' });
  return { name: decision.backend, adapter: described, choice: { note: decision.note, measurement: m } };
}

async function heapProbe(): Promise<() => number | null> {
  const mem = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return () => (mem ? mem.usedJSHeapSize / 2 ** 20 : null);
}

async function run(req: BenchRequest): Promise<void> {
  const fetchBytes = async (file: string) => {
    const res = await fetch(new URL(`checkpoints/add/${file}`, req.base));
    if (!res.ok) throw new Error(`fetching ${file}: HTTP ${res.status}`);
    return res;
  };
  const ck = async (n: string) => ({
    manifestJson: await (await fetchBytes(`${n}.json`)).text(),
    blob: new Uint8Array(await (await fetchBytes(`${n}.bin`)).arrayBuffer()),
  });
  const [policyCk, prmCk] = [await ck('policy'), await ck('prm')];
  setWasm(req);
  // auto's probe: the model the bench measures (the shipped policy, or the preset's random weights).
  const preset = req.opts.model ?? 'default';
  const { name, adapter, choice } = await pickBackend(req, (w) =>
    preset === 'default'
      ? policyProbe(addTask, policyCk, w)
      : modelProbe(addTask, PolicyModel.create(addTask, 1, MODEL_PRESETS[preset]), w),
  );
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
  // WebGPU reports validation errors only to the console and returns garbage: fail loudly instead.
  const gpuErrors: string[] = [];
  if (name === 'webgpu') {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    device.onuncapturederror = (e) => gpuErrors.push(e.error.message);
  }
  const result = await runBench(
    {
      runtime: 'browser',
      backend: tf.getBackend(),
      threads: name === 'wasm' ? getThreadsCount() : 1,
      crossOriginIsolated: self.crossOriginIsolated,
      policyCk,
      prmCk,
      heapMB: await heapProbe(),
      log: (msg) => post({ type: 'log', msg }),
      now: () => performance.now(),
      // As the policy worker: a gradient worker beside WASM (workers/policy.worker.ts).
      ...(name === 'wasm' && navigator.hardwareConcurrency >= 2
        ? { startGradientHelper: (ck: StoredCheckpoint) => startGradientWorker('add', ck) }
        : {}),
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
  post({ type: 'result', result: { ...result, adapter, wasmFeatures, backendChoice: choice } });
}

/** The wasm binaries next to this bundle, and `--threads` (read when the backend initialises). */
function setWasm(req: BenchRequest): void {
  installWasmKernels(); // ours, unless --kernels off or the threaded build (its memory is shared)
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  // Without --threads (or with 1): the single-threaded SIMD binary, as the training workers run it
  // (workers/backend.ts useSingleThreadWasm). The threaded build starts its pool from blob: workers,
  // which the pages' CSP (worker-src 'self', src/node/csp.ts) refuses: tfjs then waits forever.
  if (req.threads === undefined || req.threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  // Read once, when the backend initialises: it must be set before setBackend.
  else {
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

self.onmessage = (e: MessageEvent<BenchRequest>) => {
  run(e.data).catch((err: unknown) =>
    post({ type: 'error', error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }),
  );
};
