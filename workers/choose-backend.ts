/**
 * Which tfjs backend a worker runs on, from the request and the WebGPU adapter the browser offers
 * (pure, so every branch is unit-tested without a GPU).
 *
 * `auto` decides by measurement (planBackend, decideByMeasurement): on a hardware adapter the
 * worker times its model on WASM and on WebGPU (measure-backend.ts) and takes the faster, caching
 * the decision under a key of adapter, browser, tfjs version, model shape and probe (choiceKey). A
 * software adapter (SwiftShader, or any adapter flagged as a fallback) emulates the GPU on the CPU
 * and runs our model 15-50x slower than WASM there (platform.md), so it gets WASM without
 * measuring, with a note saying why, unless a re-measurement is asked for.
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

// -------------------------------------------------------------------------------------------------
// `auto` by measurement

/** One backend's probe: median ms of an update step and of a decode burst, or why it failed. */
export type ProbeOutcome =
  | { ok: true; stepMs: number; decodeMs: number; totalMs: number; runs: number }
  | { ok: false; error: string };

/** Both backends' probes on the actual model, and what was run. */
export interface BackendMeasurement {
  wasm: ProbeOutcome;
  webgpu: ProbeOutcome;
  /** The workload, in words: 'update step 64x32 + decode 64x16'. */
  workload: string;
  /** ISO time of the measurement. */
  measuredAt: string;
  adapter: string;
}

/** A decision kept in the cache under `key`. */
export interface CachedChoice {
  key: string;
  backend: 'webgpu' | 'wasm';
  measurement: BackendMeasurement;
}

/** What is measured once per key: the adapter, the browser, tfjs, the model's shape, the workload. */
export interface ChoiceKeyParts {
  adapter: string;
  browser: string;
  tfjs: string;
  model: {
    vocabSize: number;
    blockSize: number;
    nLayer: number;
    nHead: number;
    dModel: number;
    dMlp: number;
  };
  workload: string;
}

/**
 * The cache key: a new adapter, driver string, browser, tfjs version, model shape or probe workload
 * is a new key, so a decision measured under other conditions is never reused (it is simply not found).
 */
export function choiceKey(p: ChoiceKeyParts): string {
  const m = p.model;
  return JSON.stringify([
    'v1',
    p.adapter,
    p.browser,
    p.tfjs,
    [m.vocabSize, m.blockSize, m.nLayer, m.nHead, m.dModel, m.dMlp],
    p.workload,
  ]);
}

/**
 * WebGPU is taken only when it is more than this share faster than WASM: closer than that, the two
 * are within the probe's noise, and WASM cannot lose its device or compete with the display for the GPU.
 */
export const TIE_MARGIN = 0.05;

export interface MeasuredDecision {
  backend: 'webgpu' | 'wasm';
  /** Why, in words (ends up in BackendInfo.note). */
  reason: string;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function outcomeText(name: string, o: ProbeOutcome): string {
  return o.ok
    ? `${name} ${ms(o.totalMs)} ms (update ${ms(o.stepMs)} + decode ${ms(o.decodeMs)})`
    : `${name} failed (${o.error})`;
}

/** The faster of the two measured backends (a tie, within TIE_MARGIN, goes to WASM). */
export function decideByMeasurement(m: Pick<BackendMeasurement, 'wasm' | 'webgpu'>): MeasuredDecision {
  const { wasm, webgpu } = m;
  const both = `${outcomeText('webgpu', webgpu)} vs ${outcomeText('wasm', wasm)}`;
  if (!webgpu.ok && !wasm.ok) return { backend: 'wasm', reason: `both failed: ${both}` };
  if (!webgpu.ok) return { backend: 'wasm', reason: both };
  if (!wasm.ok) return { backend: 'webgpu', reason: both };
  if (webgpu.totalMs < wasm.totalMs * (1 - TIE_MARGIN))
    return {
      backend: 'webgpu',
      reason: `${both}: webgpu ${(wasm.totalMs / webgpu.totalMs).toFixed(2)}x faster`,
    };
  if (wasm.totalMs < webgpu.totalMs)
    return { backend: 'wasm', reason: `${both}: wasm ${(webgpu.totalMs / wasm.totalMs).toFixed(2)}x faster` };
  return {
    backend: 'wasm',
    reason: `${both}: within ${TIE_MARGIN * 100}%, a tie, which goes to wasm`,
  };
}

/** "2026-12-03 09:40 UTC" */
export function formatMeasuredAt(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** The note shown to the user for a measured (or cached) decision. */
export function measuredNote(m: BackendMeasurement, cached: boolean): string {
  const d = decideByMeasurement(m);
  return (
    `auto chose ${d.backend} by measurement: ${d.reason}; probe: ${m.workload}, measured ${formatMeasuredAt(m.measuredAt)}` +
    (cached ? ' (cached for this adapter; remeasure with --remeasure-backend or ?remeasure=1)' : '')
  );
}

export type BackendPlan =
  | { kind: 'decided'; decision: BackendDecision; cached?: CachedChoice }
  | { kind: 'measure'; adapter: string; why: string };

export interface PlanOptions {
  /** A decision cached under this configuration's key (null: none, or none readable). */
  cached: CachedChoice | null;
  /** The key of this configuration (a cached record with another key is ignored). */
  key: string | null;
  /** Measure now, ignoring the cache, even on a software adapter. */
  remeasure: boolean;
  /** Whether a measurement can be run here (a worker without the model cannot). */
  canMeasure: boolean;
}

/**
 * What to do for a request: a fixed backend, a cached measured decision, or measure now.
 * - `wasm`, `cpu`, `webgpu` are taken as asked (chooseBackend); so is `auto` without an adapter.
 * - `auto` with `remeasure`: measure, whatever the adapter and the cache.
 * - `auto` with a cached decision for exactly this key: that decision, said to be cached.
 * - `auto` on a software adapter (SwiftShader): WASM without measuring (15-50x faster there).
 * - `auto` on a hardware adapter: measure (where the worker cannot, WebGPU as before).
 */
export function planBackend(
  requested: BackendChoice,
  adapter: AdapterLike | null,
  o: PlanOptions,
): BackendPlan {
  if (requested !== 'auto' || !adapter)
    return { kind: 'decided', decision: chooseBackend(requested, adapter) };
  const name = describeAdapter(adapter);
  if (o.remeasure && o.canMeasure) return { kind: 'measure', adapter: name, why: 'remeasure asked' };
  if (o.cached && o.key !== null && o.cached.key === o.key) {
    const b = o.cached.backend;
    return {
      kind: 'decided',
      decision: {
        backend: b,
        adapter: b === 'webgpu' ? name : null,
        note: measuredNote(o.cached.measurement, true),
      },
      cached: o.cached,
    };
  }
  if (isSoftwareAdapter(adapter) || !o.canMeasure)
    return { kind: 'decided', decision: chooseBackend(requested, adapter) };
  return { kind: 'measure', adapter: name, why: 'hardware adapter, no cached decision' };
}

/** The decision after measuring (the record to cache with it). */
export function decisionFromMeasurement(
  m: BackendMeasurement,
  key: string,
): { decision: BackendDecision; record: CachedChoice } {
  const { backend } = decideByMeasurement(m);
  return {
    decision: { backend, adapter: backend === 'webgpu' ? m.adapter : null, note: measuredNote(m, false) },
    record: { key, backend, measurement: m },
  };
}

// -------------------------------------------------------------------------------------------------
// The probe's workload (measure-backend.ts runs it)

/** The probe's size. Defaults: the default RL update batch (P x G = 64 sequences) and a decode burst. */
export interface ProbeWorkload {
  /** Sequences in the training step and in the decode burst. */
  batch: number;
  /** Tokens per sequence in the training step (capped at the model's block size). */
  seqLen: number;
  /** New tokens per sequence in the decode burst (capped so prompt + tokens fit the block). */
  newTokens: number;
  /** Timed runs of each (after `warmup` untimed ones). */
  runs: number;
  warmup: number;
}

export const DEFAULT_PROBE: ProbeWorkload = { batch: 64, seqLen: 32, newTokens: 16, runs: 3, warmup: 1 };

/** Sanity limits for a probe given by a URL (a test hook). */
export function parseProbe(spec: unknown): Partial<ProbeWorkload> {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    throw new Error('probe must be a JSON object');
  const out: Partial<ProbeWorkload> = {};
  const limits: Record<keyof ProbeWorkload, [number, number]> = {
    batch: [1, 256],
    seqLen: [2, 4096],
    newTokens: [1, 4096],
    runs: [1, 20],
    warmup: [0, 10],
  };
  for (const [k, v] of Object.entries(spec)) {
    if (!(k in limits)) throw new Error(`probe: unknown field '${k}'`);
    const [lo, hi] = limits[k as keyof ProbeWorkload];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
      throw new Error(`probe.${k} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    out[k as keyof ProbeWorkload] = v;
  }
  return out;
}

export function workloadLabel(w: ProbeWorkload): string {
  return `update step ${w.batch}x${w.seqLen} + decode ${w.batch}x${w.newTokens} tokens, median of ${w.runs}`;
}
