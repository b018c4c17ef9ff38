/// <reference types="vite/client" />
/**
 * The kernel-parity worker: loads the shipped `add` checkpoints on cpu (the reference), then on
 * each compared backend, runs the same probes (./probes.ts) and reports per-tensor differences
 * and any WebGPU device error. A dedicated worker, as in production (WebGPU in a worker works on
 * SwiftShader, platform.md).
 */
import '@tensorflow/tfjs-backend-webgpu';
import { useSingleThreadWasm } from '../../workers/backend';
import { describeAdapter } from '../../workers/choose-backend';
import { fetchCheckpoint } from '../browser/assets';
import {
  GpuDeviceError,
  type GpuFault,
  watchDevice,
  webgpuDevice,
  withErrorScopes,
} from '../browser/gpu-errors';
import { PolicyModel, PrmModel } from '../core/agents';
import { tokenLogProbs } from '../core/model';
import { addTask } from '../core/tasks';
import * as tf from '../core/tf';
import { diffOutputs, type Output } from './compare';
import { buildFixture, buildRlBatch, type Fixture, PARITY_LOSS_HYPER } from './fixture';
import { type Guard, runProbes } from './probes';
import type {
  BackendReport,
  ComparedBackend,
  ErrorCaptureReport,
  ParityOptions,
  ParityReport,
  WorkerRequest,
  WorkerResponse,
} from './protocol';

// Single-threaded SIMD wasm, as the training workers use.
useSingleThreadWasm();

const post = (msg: WorkerResponse) => self.postMessage(msg);
const progress = (message: string) => post({ type: 'progress', message });
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function useBackend(name: 'cpu' | ComparedBackend): Promise<void> {
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new Error(`tfjs backend '${name}' is not available here: ${errorText(e)}`);
  }
  if (!ok) throw new Error(`tfjs backend '${name}' failed to initialise (for webgpu: no adapter?)`);
  await tf.ready();
}

/** The WebGPU adapter this worker would get, described as the training workers describe it. */
async function adapterText(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  return adapter ? describeAdapter(adapter) : 'none';
}

interface Checkpoints {
  policy: { manifestJson: string; blob: Uint8Array };
  prm: { manifestJson: string; blob: Uint8Array };
}

async function fetchCheckpoints(base: string): Promise<Checkpoints> {
  const [policy, prm] = await Promise.all(
    (['policy', 'prm'] as const).map((name) => fetchCheckpoint(new URL(base), 'add', name)),
  );
  return { policy, prm };
}

function loadModels(ck: Checkpoints) {
  return {
    policy: PolicyModel.fromCheckpoint(addTask, ck.policy.manifestJson, ck.policy.blob),
    prm: PrmModel.fromCheckpoint(addTask, ck.prm.manifestJson, ck.prm.blob),
  };
}

/** Probes on the active backend; on webgpu each probe runs inside device error scopes. */
async function probeActiveBackend(
  ck: Checkpoints,
  fx: Fixture,
  rlLogp: Float32Array,
  perturb: ParityOptions['perturb'] | null,
  faults: (GpuFault & { probe: string })[],
  timings: Record<string, number>,
): Promise<Map<string, Output>> {
  const { policy, prm } = loadModels(ck);
  let probe = 'loading';
  let run: Guard = (_, op) => op();
  let dispose = () => {};
  if (tf.getBackend() === 'webgpu') {
    const device = webgpuDevice();
    const watch = watchDevice(device, (f) => faults.push({ ...f, probe }));
    dispose = () => watch.dispose();
    run = async (name, op) => {
      try {
        return await withErrorScopes(device, op);
      } catch (e) {
        if (e instanceof GpuDeviceError) faults.push(...e.faults.map((f) => ({ ...f, probe: name })));
        throw e;
      }
    };
  }
  const guard: Guard = async (name, op) => {
    probe = name;
    const t0 = performance.now();
    const result = await run(name, op);
    timings[name] = (performance.now() - t0) / 1000;
    return result;
  };
  try {
    if (perturb) {
      const params = (perturb.model === 'policy' ? policy : prm).params;
      const p = params.get(perturb.param);
      if (!p) throw new Error(`perturb: no parameter '${perturb.param}' in the ${perturb.model}`);
      const values = (await p.data()) as Float32Array;
      const changed = Float32Array.from(values);
      changed[0] += perturb.delta;
      p.assign(tf.tensor(changed, p.shape));
    }
    return await runProbes({
      policy,
      prm,
      fx,
      rl: buildRlBatch(fx, rlLogp),
      hyper: PARITY_LOSS_HYPER,
      guard,
    });
  } catch (e) {
    throw new Error(`${probe}: ${errorText(e)}`);
  } finally {
    policy.dispose();
    prm.dispose();
    dispose();
  }
}

async function runParity(options: ParityOptions): Promise<ParityReport> {
  const ck = await fetchCheckpoints(options.assetsBase);
  const fx = buildFixture();

  progress('cpu (reference)');
  let t0 = performance.now();
  await useBackend('cpu');
  // The RL batch's behaviour log-probs come from the reference, so every backend sees one batch.
  const rlLogp = await (async () => {
    const { policy } = loadModels(ck);
    const t = tf.tidy(
      () =>
        tokenLogProbs(policy.cfg, policy.params, tf.tensor2d(fx.batch.ids, [fx.batch.B, fx.batch.T], 'int32'))
          .logp,
    );
    const data = Float32Array.from((await t.data()) as Float32Array);
    t.dispose();
    policy.dispose();
    return data;
  })();
  const referenceProbeSeconds: Record<string, number> = {};
  const reference = await probeActiveBackend(ck, fx, rlLogp, null, [], referenceProbeSeconds);
  const report: ParityReport = {
    reference: 'cpu',
    referenceSeconds: (performance.now() - t0) / 1000,
    referenceProbeSeconds,
    outputs: [...reference].map(([name, v]) => ({ name, size: v.length })),
    backends: [],
  };

  for (const backend of options.backends) {
    progress(backend);
    t0 = performance.now();
    const entry: BackendReport = {
      backend,
      adapter: null,
      seconds: 0,
      probeSeconds: {},
      diffs: [],
      faults: [],
      error: null,
    };
    report.backends.push(entry);
    try {
      await useBackend(backend);
      if (backend === 'webgpu') entry.adapter = await adapterText();
      const perturb = options.perturb?.backend === backend ? options.perturb : null;
      const got = await probeActiveBackend(ck, fx, rlLogp, perturb, entry.faults, entry.probeSeconds);
      for (const [name, want] of reference) {
        const g = got.get(name);
        entry.diffs.push(g ? diffOutputs(name, g, want) : diffOutputs(name, new Float32Array(0), want));
      }
    } catch (e) {
      entry.error = errorText(e);
    }
    entry.seconds = (performance.now() - t0) / 1000;
  }
  await useBackend('cpu');
  return report;
}

/** gpu-errors.ts on the real device: a valid op passes, an invalid one throws in scope and is recorded out of scope. */
async function checkErrorCapture(): Promise<ErrorCaptureReport> {
  await useBackend('webgpu');
  const adapter = await adapterText();
  const device = webgpuDevice();
  const watch = watchDevice(device);
  // MAP_READ may only be combined with COPY_DST: creating this buffer is a validation error.
  const invalidBuffer = () =>
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  let validOp: number[] | string;
  try {
    validOp = await withErrorScopes(device, async () => {
      const t = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([2, 3]));
      const v = Array.from(await t.data());
      t.dispose();
      return v;
    });
  } catch (e) {
    validOp = errorText(e);
  }
  let scopedError: string | null = null;
  try {
    await withErrorScopes(device, async () => {
      invalidBuffer();
    });
  } catch (e) {
    scopedError = e instanceof GpuDeviceError ? e.message : `not a GpuDeviceError: ${errorText(e)}`;
  }
  const scopedFaults = watch.faults.length; // must stay 0: the scope caught it
  invalidBuffer();
  await device.queue.onSubmittedWorkDone();
  for (let i = 0; i < 50 && watch.faults.length === scopedFaults; i++)
    await new Promise((r) => setTimeout(r, 100));
  const uncaptured = watch.faults.slice();
  watch.dispose();
  await useBackend('cpu');
  return { adapter, validOp, scopedError, uncaptured };
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  try {
    if (e.data.type === 'run') post({ type: 'report', report: await runParity(e.data.options) });
    else post({ type: 'error-capture', report: await checkErrorCapture() });
  } catch (err) {
    post({ type: 'failed', message: errorText(err) });
  }
};
