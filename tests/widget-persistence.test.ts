import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import type { IterationMetrics } from '../src/core/rl/trainer';
import { openStore, type Store } from '../src/storage';
import { finishedRun, keepOnlyRun, prepareWidgetStore, sameConfig } from '../src/widget/persistence';

const CONFIG = parseRlConfig({ task: 'add', algo: 'scope', iters: 40, seed: 1 });
const OTHER = parseRlConfig({ task: 'add', algo: 'grpo', iters: 40, seed: 1 });

const row = (iter: number) => ({ iter, algo: 'scope', rewardMean: iter / 10 }) as unknown as IterationMetrics;
const tick = () => new Promise((r) => setTimeout(r, 3));

let dbCount = 0;
async function freshStore(): Promise<Store> {
  return openStore(`widget-test-${++dbCount}`);
}

async function run(
  store: Store,
  config: RlConfig,
  iter: number,
  status: 'running' | 'paused' | 'done' | 'error',
  metricsUpTo = iter,
) {
  const r = await store.createRun(config);
  await store.appendMetrics(
    r.id,
    Array.from({ length: metricsUpTo }, (_, i) => row(i + 1)),
  );
  await store.updateRun(r.id, { iter, status });
  await tick();
  return r.id;
}

describe('widget storage: one run per widget', () => {
  it('configs compare by value, whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(CONFIG).reverse()) as RlConfig;
    expect(sameConfig(CONFIG, reordered)).toBe(true);
    expect(sameConfig(CONFIG, OTHER)).toBe(false);
    expect(sameConfig(CONFIG, { ...CONFIG, rectifyCap: 2 })).toBe(false);
  });

  it('resumes the latest unfinished run of the same config and deletes every other run', async () => {
    const store = await freshStore();
    await run(store, CONFIG, 3, 'paused');
    await run(store, OTHER, 5, 'paused');
    await run(store, CONFIG, 40, 'done');
    await run(store, CONFIG, 5, 'error');
    await run(store, CONFIG, 0, 'running', 2);
    const latest = await run(store, CONFIG, 10, 'running', 12);
    const resume = await prepareWidgetStore(store, CONFIG);
    expect(resume?.runId).toBe(latest);
    expect(resume?.iter).toBe(10);
    // Rows after the checkpoint are dropped: those iterations run again.
    expect(resume?.metrics.map((m) => m.iter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await store.listRuns()).map((r) => r.id)).toEqual([latest]);
    expect((await store.getMetrics(latest)).length).toBe(10);
    store.close();
  });

  it('nothing to resume: every old run goes and the widget starts fresh', async () => {
    const store = await freshStore();
    await run(store, OTHER, 5, 'paused');
    await run(store, CONFIG, 40, 'done');
    await run(store, CONFIG, 0, 'paused', 1);
    expect(await prepareWidgetStore(store, CONFIG)).toBeNull();
    expect(await store.listRuns()).toEqual([]);
    store.close();
  });

  it('after a reset only the new run is kept', async () => {
    const store = await freshStore();
    const old = await run(store, CONFIG, 5, 'paused');
    const fresh = await run(store, CONFIG, 0, 'running', 0);
    await keepOnlyRun(store, fresh);
    expect((await store.listRuns()).map((r) => r.id)).toEqual([fresh]);
    expect(await store.getMetrics(old)).toEqual([]);
    store.close();
  });
});

describe('widget storage: a finished run survives a reload (issue 20 item 7)', () => {
  it("shows the latest finished run of the widget's config, not another config's or an unfinished one", async () => {
    const store = await freshStore();
    expect(await finishedRun(store, CONFIG)).toBeNull();
    await run(store, CONFIG, 3, 'paused');
    await run(store, OTHER, 40, 'done');
    expect(await finishedRun(store, CONFIG)).toBeNull();
    await run(store, CONFIG, 40, 'done', 4);
    expect((await finishedRun(store, CONFIG))?.map((m) => m.iter)).toEqual([1, 2, 3, 4]);
    // Reading it deletes nothing (the next start does, as before).
    expect((await store.listRuns()).length).toBe(3);
    store.close();
  });
});
