/**
 * The soak hook of the runner page (`runner.html?...&soak=N`, driven by scripts/soak.ts): take a
 * sample before training and then every N iterations, each with training paused at the iteration
 * boundary so nothing is in flight. The rules that judge the samples are in src/node/soak.ts.
 *
 * - tensors: `tf.memory().numTensors` in the policy and the PRM worker;
 * - heap: `performance.measureUserAgentSpecificMemory()` of the page and its workers (live JS
 *   memory; it needs cross-origin isolation, and answers at once under Chromium's
 *   --enable-blink-features=ForceEagerMeasureMemory, otherwise at the next GC). tfjs's WASM memory
 *   is not in it: its tensors are counted above;
 * - idb: IndexedDB bytes from `navigator.storage.estimate()`, and the checkpoint and metrics records
 *   in the run's database (all runs of the namespace: a soak uses a fresh one).
 */
import type { TrainingSession } from '../browser/session';

export interface SoakSample {
  iter: number;
  /** Milliseconds since the sampler was installed. */
  wallMs: number;
  tensors: { policy: number; prm: number | null };
  heap: { totalBytes: number; pageBytes: number; workerBytes: number };
  idb: { usageBytes: number; checkpoints: number; metricsRows: number };
}

interface MemoryMeasurement {
  bytes: number;
  breakdown: { bytes: number; attribution: { scope: string }[] }[];
}

type MeasureMemory = () => Promise<MemoryMeasurement>;

function recordCounts(dbName: string): Promise<{ checkpoints: number; metricsRows: number }> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(dbName);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(['checkpoints', 'metrics'], 'readonly');
      const checkpoints = tx.objectStore('checkpoints').count();
      const metricsRows = tx.objectStore('metrics').count();
      tx.oncomplete = () => {
        db.close();
        resolve({ checkpoints: checkpoints.result, metricsRows: metricsRows.result });
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

/**
 * Sample now, and after every `every`-th iteration (pause, sample, start again). Resolves after
 * the first sample; `onSample` gets every one, `onError` anything that goes wrong on the way.
 */
export async function installSoakSampler(
  session: TrainingSession,
  opts: { every: number; namespace: string },
  onSample: (s: SoakSample) => void,
  onError: (e: unknown) => void,
): Promise<void> {
  const measure = (performance as unknown as { measureUserAgentSpecificMemory?: MeasureMemory })
    .measureUserAgentSpecificMemory;
  if (!measure) throw new Error('soak: measureUserAgentSpecificMemory needs a cross-origin isolated page');
  const dbName = (await import('../storage')).dbNameFor(opts.namespace);
  const t0 = performance.now();

  const sample = async (): Promise<void> => {
    const tensors = await session.numTensors();
    const mem = await measure.call(performance);
    let pageBytes = 0;
    let workerBytes = 0;
    for (const b of mem.breakdown)
      for (const a of b.attribution) {
        if (a.scope === 'Window') pageBytes += b.bytes;
        else if (a.scope === 'DedicatedWorkerGlobalScope') workerBytes += b.bytes;
      }
    const est = (await navigator.storage.estimate()) as StorageEstimate & {
      usageDetails?: { indexedDB?: number };
    };
    onSample({
      iter: session.iter,
      wallMs: performance.now() - t0,
      tensors,
      heap: { totalBytes: mem.bytes, pageBytes, workerBytes },
      idb: { usageBytes: est.usageDetails?.indexedDB ?? est.usage ?? 0, ...(await recordCounts(dbName)) },
    });
  };

  session.on('iteration', ({ metrics }) => {
    if (metrics.iter % opts.every !== 0 || metrics.iter >= session.config.iters) return;
    session
      .pause()
      .then(sample)
      .then(() => session.start().catch(onError), onError);
  });
  await sample();
}
