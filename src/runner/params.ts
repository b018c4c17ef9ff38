/**
 * The headless runner's URL: `runner.html?task=add&algo=scope&iters=20&seed=1&backend=wasm
 * &set.lr=1e-5&storage=ns&autosave=1&resume=<runId>&autostart=0&final=1&soak=50
 * &faults={"nonFiniteLossAt":[2]}&remeasure=1&probe={"batch":4}`. Everything is validated here
 * (the config by parseRlConfig, the fault-injection and probe-size test hooks by parseFaultInjection
 * and parseProbe), so a bad URL fails before any worker starts. `remeasure=1`: `auto` measures the
 * backends again (workers/backend.ts).
 */

import { parseProbe } from '../../workers/choose-backend';
import { BACKEND_CHOICES, type BackendChoice, type SessionOptions } from '../browser/session-api';
import { parseRlConfig } from '../core/rl/config';
import { type FaultInjection, parseFaultInjection } from '../core/rl/faults';
import { parseOverrides } from '../core/rl/overrides';

export interface RunnerParams {
  options: SessionOptions;
  /** Start training at once (default) or wait for the test to drive `window.scopeRunner`. */
  autostart: boolean;
  /** Report the final policy checkpoint (base64) with the summary. */
  reportFinalCheckpoint: boolean;
  /** Soak sampling every N iterations (src/runner/soak.ts); needs storage. */
  soakEvery: number | null;
  /** Test hook: updates to make non-finite (`TrainingSession.injectFaults`); null = none. */
  faults: FaultInjection | null;
}

function int(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min)
    throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
  return v;
}

function jsonParam(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new Error(`${name} must be JSON, got '${raw}'`);
  }
}

export function parseRunnerParams(search: string): RunnerParams {
  const q = new URLSearchParams(search);
  const task = q.get('task');
  const algo = q.get('algo');
  if (!task) throw new Error('missing task in the runner URL');
  if (!algo) throw new Error('missing algo in the runner URL');
  const sets = [...q.entries()].filter(([k]) => k.startsWith('set.')).map(([k, v]) => `${k.slice(4)}=${v}`);
  const config = parseRlConfig({
    ...parseOverrides(sets, 'set.'),
    task,
    algo,
    ...(q.has('iters') ? { iters: int('iters', q.get('iters')!, 1) } : {}),
    ...(q.has('seed') ? { seed: int('seed', q.get('seed')!, 0) } : {}),
  });
  const backend = (q.get('backend') ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend))
    throw new Error(`unknown backend '${backend}' (expected ${BACKEND_CHOICES.join(', ')})`);
  const storage = q.get('storage');
  const soakEvery = q.has('soak') ? int('soak', q.get('soak')!, 1) : null;
  if (soakEvery !== null && (!storage || storage === 'none'))
    throw new Error('soak needs storage=<namespace> (it samples the IndexedDB usage)');
  let faults: FaultInjection | null = null;
  if (q.has('faults')) {
    let spec: unknown;
    try {
      spec = JSON.parse(q.get('faults')!);
    } catch {
      throw new Error(`faults must be JSON, got '${q.get('faults')}'`);
    }
    faults = parseFaultInjection(spec);
  }
  return {
    faults,
    options: {
      config,
      backend,
      assetsBase: q.get('assets') ?? './',
      storageNamespace: storage && storage !== 'none' ? storage : null,
      resumeRunId: q.get('resume') ?? undefined,
      autosaveEvery: q.has('autosave') ? int('autosave', q.get('autosave')!, 0) : undefined,
      remeasureBackend: q.get('remeasure') === '1',
      backendProbe: q.has('probe') ? parseProbe(jsonParam('probe', q.get('probe')!)) : undefined,
      ...(q.get('gradientWorker') === '0' ? { gradientWorker: false } : {}),
    },
    autostart: q.get('autostart') !== '0',
    reportFinalCheckpoint: q.get('final') === '1',
    soakEvery,
  };
}
