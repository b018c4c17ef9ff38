/**
 * The headless runner's URL: `runner.html?task=add&algo=scope&iters=20&seed=1&backend=wasm
 * &set.lr=1e-5&storage=ns&autosave=1&resume=<runId>&autostart=0&final=1`. Everything is validated
 * here (the config by parseRlConfig), so a bad URL fails before any worker starts.
 */

import type { BackendChoice, SessionOptions } from '../browser/session-api';
import { parseRlConfig } from '../core/rl/config';
import { parseOverrides } from '../core/rl/overrides';

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cpu'];

export interface RunnerParams {
  options: SessionOptions;
  /** Start training at once (default) or wait for the test to drive `window.scopeRunner`. */
  autostart: boolean;
  /** Report the final policy checkpoint (base64) with the summary. */
  reportFinalCheckpoint: boolean;
}

function int(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min)
    throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
  return v;
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
  if (!BACKENDS.includes(backend))
    throw new Error(`unknown backend '${backend}' (expected ${BACKENDS.join(', ')})`);
  const storage = q.get('storage');
  return {
    options: {
      config,
      backend,
      assetsBase: q.get('assets') ?? './',
      storageNamespace: storage && storage !== 'none' ? storage : null,
      resumeRunId: q.get('resume') ?? undefined,
      autosaveEvery: q.has('autosave') ? int('autosave', q.get('autosave')!, 0) : undefined,
    },
    autostart: q.get('autostart') !== '0',
    reportFinalCheckpoint: q.get('final') === '1',
  };
}
