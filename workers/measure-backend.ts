/**
 * The short measurement behind `--backend auto` on a hardware WebGPU adapter: the worker's actual
 * model (from its checkpoint) on each backend, one update-sized training step (forward, backward,
 * clip, Adam; the loss read back) and one batched decode burst (the real KV-cache sampler, a host
 * read per token), warm-up first, then the backends alternately (A/B interleaved, so a burst of
 * load elsewhere hits both), median of the timed runs.
 *
 * `measureInterleaved` is the schedule (no tfjs: unit-tested with stubbed runners and clock);
 * `policyProbe` builds the real runner on the current tfjs backend.
 */

/// <reference types="@webgpu/types" />
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { withErrorScopes } from '../src/browser/gpu-errors';
import { PolicyModel } from '../src/core/agents';
import type { StoredCheckpoint } from '../src/core/rl/services';
import { Rng } from '../src/core/rng';
import { sampleBatch } from '../src/core/sampling';
import type { Task } from '../src/core/tasks/types';
import * as tf from '../src/core/tf';
import { optimiseStep, sftLoss } from '../src/core/train';
import {
  type BackendMeasurement,
  type ProbeOutcome,
  type ProbeWorkload,
  workloadLabel,
} from './choose-backend';

/** One backend's model, ready to run the two parts of the probe. */
export interface ProbeRunner {
  step(): Promise<void>;
  decode(): Promise<void>;
  dispose(): void;
}

export interface Candidate {
  name: string;
  /** Make `name` the current backend and build its runner (a throw fails only this candidate). */
  open(): Promise<ProbeRunner>;
  /** Make `name` current again before each of its runs (models live on their own backend). */
  activate(): Promise<void>;
  /** Wrap each run (WebGPU: inside error scopes, so a device error fails the candidate). */
  guard?<T>(fn: () => Promise<T>): Promise<T>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);

/**
 * Warm every candidate up, then time them in turns (a, b, a, b, ...), `runs` rounds; each round
 * times one step and one decode. A candidate that throws is out (its error is its outcome). After
 * the first round a candidate more than `clearRatio` times slower than the fastest stops early: the
 * answer is clear and a software or struggling backend costs seconds per run.
 */
export async function measureInterleaved(
  candidates: Candidate[],
  w: Pick<ProbeWorkload, 'runs' | 'warmup'>,
  now: () => number,
  clearRatio = 3,
): Promise<Record<string, ProbeOutcome>> {
  const out: Record<string, ProbeOutcome> = {};
  const live = new Map<string, { c: Candidate; r: ProbeRunner; step: number[]; decode: number[] }>();
  const fail = (name: string, e: unknown) => {
    out[name] = { ok: false, error: message(e) };
    const l = live.get(name);
    live.delete(name);
    try {
      l?.r.dispose();
    } catch {}
  };
  const guarded = <T>(c: Candidate, fn: () => Promise<T>) => (c.guard ? c.guard(fn) : fn());
  for (const c of candidates) {
    try {
      const r = await c.open();
      live.set(c.name, { c, r, step: [], decode: [] });
      for (let i = 0; i < w.warmup; i++) {
        await guarded(c, () => r.step());
        await guarded(c, () => r.decode());
      }
    } catch (e) {
      fail(c.name, e);
    }
  }
  for (let round = 0; round < w.runs && live.size > 0; round++) {
    for (const [name, l] of [...live]) {
      try {
        await l.c.activate();
        let t0 = now();
        await guarded(l.c, () => l.r.step());
        l.step.push(now() - t0);
        t0 = now();
        await guarded(l.c, () => l.r.decode());
        l.decode.push(now() - t0);
      } catch (e) {
        fail(name, e);
      }
    }
    if (round === 0 && live.size > 1) {
      const totals = [...live.values()].map((l) => l.step[0] + l.decode[0]);
      const best = Math.min(...totals);
      for (const [name, l] of [...live])
        if (l.step[0] + l.decode[0] > clearRatio * best) {
          out[name] = outcome(l.step, l.decode);
          live.delete(name);
          l.r.dispose();
        }
    }
  }
  for (const [name, l] of live) {
    out[name] = outcome(l.step, l.decode);
    l.r.dispose();
  }
  return out;
}

function outcome(step: number[], decode: number[]): ProbeOutcome {
  const s = median(step);
  const d = median(decode);
  return { ok: true, stepMs: s, decodeMs: d, totalMs: s + d, runs: step.length };
}

/**
 * The policy from `ck` on the current backend: a training step on `batch` random sequences of
 * `seqLen` tokens (every next token in the loss, as in the SFT bench) and a decode of `batch` task
 * prompts by `newTokens` tokens (stop = padding, never sampled, so every sequence runs the full
 * burst). Its weights are a throwaway copy: the worker builds its own model after the choice.
 */
export function policyProbe(task: Task, ck: StoredCheckpoint, w: ProbeWorkload): ProbeRunner {
  return modelProbe(task, PolicyModel.fromCheckpoint(task, ck.manifestJson, ck.blob), w);
}

/** The same probe on a given policy (it takes the model and disposes it with the runner). */
export function modelProbe(task: Task, policy: PolicyModel, w: ProbeWorkload): ProbeRunner {
  const { cfg, params, opt, tok } = policy;
  const rng = new Rng('backend-probe');
  const T = Math.min(w.seqLen, cfg.blockSize);
  const B = w.batch;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(1, cfg.vocabSize - 1));
  const mask = new Float32Array(B * (T - 1)).fill(1);
  const prompts = Array.from({ length: B }, () => policy.encode(task.sample(rng, 'train').prompt));
  const longest = Math.max(...prompts.map((p) => p.length));
  const newTokens = Math.max(1, Math.min(w.newTokens, cfg.blockSize - longest));
  return {
    async step() {
      const r = await optimiseStep(params, opt, () => sftLoss(cfg, params, { ids, B, T }, mask), 1e-4, 1);
      if (r.skipped) throw new Error('non-finite training step');
    },
    async decode() {
      await sampleBatch(cfg, params, prompts, {
        maxNewTokens: newTokens,
        temperature: 1,
        topP: 1,
        rng: new Rng('backend-probe/decode'),
        stopId: tok.padId,
        padId: tok.padId,
      });
    },
    dispose: () => policy.dispose(),
  };
}

/**
 * `auto`'s measurement in a worker: `probe` on WASM and on WebGPU, interleaved. Any WebGPU device
 * error during its runs (captured in error scopes) fails WebGPU's side, which then loses.
 * `setBackend` initialises and selects a backend (the caller's WASM set-up applies).
 */
export async function measureWasmAndWebgpu(
  setBackend: (name: 'wasm' | 'webgpu') => Promise<void>,
  probe: (w: ProbeWorkload) => ProbeRunner,
  w: ProbeWorkload,
  adapter: string,
): Promise<BackendMeasurement> {
  let device: GPUDevice | null = null;
  const candidates: Candidate[] = [
    {
      name: 'wasm',
      open: async () => {
        await setBackend('wasm');
        return probe(w);
      },
      activate: () => setBackend('wasm'),
    },
    {
      name: 'webgpu',
      open: async () => {
        await setBackend('webgpu');
        device = (tf.backend() as WebGPUBackend).device;
        return withErrorScopes(device, async () => probe(w));
      },
      activate: () => setBackend('webgpu'),
      guard: (fn) => withErrorScopes(device!, fn),
    },
  ];
  const res = await measureInterleaved(candidates, w, () => performance.now());
  return {
    wasm: res.wasm,
    webgpu: res.webgpu,
    workload: workloadLabel(w),
    measuredAt: new Date().toISOString(),
    adapter,
  };
}
