/**
 * What a widget keeps in its IndexedDB namespace: ONE run. The host page's storage is not ours to
 * fill, so every time a widget starts it resumes its unfinished run of the same configuration (a
 * reader who reloads the tutorial goes on where they were) and deletes every other run it left
 * behind (finished, failed, reset, or for a different configuration). A run that another tab
 * owns (the same page open twice: src/storage/ownership.ts) is neither resumed nor deleted: this
 * widget then starts a run of its own beside it.
 */
import { canonical } from '../core/checkpoint';
import type { RlConfig } from '../core/rl/config';
import type { IterationMetrics } from '../core/rl/trainer';
import type { Store } from '../storage';
// The error class only (a small module): the store itself loads on the first start.
import { StorageError } from '../storage/errors';

/** The part of the store this needs (the IndexedDB store, or a double in tests). */
export type WidgetStore = Pick<
  Store,
  'listRuns' | 'deleteRun' | 'getMetrics' | 'deleteMetricsAfter' | 'runsInUseElsewhere'
>;

export interface ResumePoint {
  runId: string;
  /** The latest checkpointed iteration: training goes on from here. */
  iter: number;
  /** The run's metrics up to `iter` (rows after it are dropped: those iterations run again). */
  metrics: IterationMetrics[];
}

/** Two configs are the same run setting iff their key-sorted JSON texts are equal. */
export function sameConfig(a: RlConfig, b: RlConfig): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * Pick the run to resume (the most recently updated unfinished run of this config with a
 * checkpoint) and delete all the others. Null: nothing to resume, start fresh.
 */
export async function prepareWidgetStore(store: WidgetStore, config: RlConfig): Promise<ResumePoint | null> {
  const busy = await store.runsInUseElsewhere();
  const runs = (await store.listRuns()).filter((r) => !busy.has(r.id));
  const resumable = runs
    .filter(
      (r) =>
        (r.status === 'paused' || r.status === 'running') &&
        r.iter > 0 &&
        r.iter < config.iters &&
        sameConfig(r.config, config),
    )
    .sort((a, b) => b.updatedAt - a.updatedAt)[0];
  for (const r of runs) if (r !== resumable) await deleteUnlessBusy(store, r.id);
  if (!resumable) return null;
  await store.deleteMetricsAfter(resumable.id, resumable.iter);
  return { runId: resumable.id, iter: resumable.iter, metrics: await store.getMetrics(resumable.id) };
}

/** Delete every run of the store except `keep` (after a reset, the old run is of no use). */
export async function keepOnlyRun(store: WidgetStore, keep: string | null): Promise<void> {
  for (const r of await store.listRuns()) if (r.id !== keep) await deleteUnlessBusy(store, r.id);
}

/** Delete a run, unless another tab took it since it was listed (then it is theirs to keep). */
async function deleteUnlessBusy(store: WidgetStore, id: string): Promise<void> {
  try {
    await store.deleteRun(id);
  } catch (e) {
    if (!(e instanceof StorageError && e.code === 'busy')) throw e;
  }
}

/**
 * The metrics of this widget's finished run of `config`, if its namespace holds one (shown after a
 * reload without loading any model; the next start replaces it). Null: none.
 */
export async function finishedRun(
  store: Pick<Store, 'listRuns' | 'getMetrics'>,
  config: RlConfig,
): Promise<IterationMetrics[] | null> {
  const done = (await store.listRuns())
    .filter((r) => r.status === 'done' && sameConfig(r.config, config))
    .sort((a, b) => b.updatedAt - a.updatedAt)[0];
  if (!done) return null;
  const metrics = await store.getMetrics(done.id);
  return metrics.length ? metrics : null;
}
