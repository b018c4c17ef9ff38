/**
 * Faults in the browser (issue 9): a worker that crashes mid-iteration is restarted and the run goes
 * on from the latest checkpoint, exactly as an uninterrupted run would; too many crashes in a row
 * fail loudly; injected non-finite updates are skipped, counted and shown on the page; a lost WebGPU
 * device is shown on the page (backend and notice).
 */
import { expect, type Page, test } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';
import { fingerprint, openRunner, type Row, SMALL, straightRun } from './runner';

/**
 * Train with a crash planned once iteration `armAt` is done: `which` worker dies while its next
 * `during` call is in flight. Returns every iteration event, the notices and the summary.
 */
async function crashedRun(
  page: Page,
  query: string,
  plan: { armAt: number; which: 'policy' | 'prm'; during: string },
) {
  await openRunner(page, query);
  return page.evaluate(async ({ armAt, which, during }) => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const rows: unknown[] = [];
    const notices: string[] = [];
    const errors: string[] = [];
    s.on('notice', (n) => notices.push(n.message));
    s.on('error', (e) => errors.push(e.message));
    s.on('iteration', (r) => {
      rows.push(r.metrics);
      if (r.metrics.iter === armAt && rows.length === armAt) s.crashWorker(which, during);
    });
    const summary = await s.start();
    let stored: number[] | null = null;
    if (s.runId) {
      const store = await window.scopeRunner!.store();
      stored = (await store.getMetrics(s.runId)).map((m) => m.iter);
      store.close();
    }
    return {
      rows: rows as Row[],
      notices,
      errors,
      recovery: summary?.recovery,
      iters: summary?.iters,
      skipped: summary?.skippedUpdates,
      iter: s.iter,
      stored,
    };
  }, plan);
}

/** The last event of each iteration, in order (a rerun iteration replaces the lost one). */
function history(rows: Row[]): Row[] {
  const byIter = new Map<number, Row>();
  for (const r of rows) byIter.set(r.iter, r);
  return [...byIter.values()].sort((a, b) => a.iter - b.iter);
}

test('the policy worker crashes during iteration 5 (no storage, autosave 2): restored from iteration 4, the run completes exactly', async ({
  page,
}) => {
  test.setTimeout(600_000);
  const base = `task=add&algo=scope&iters=7&seed=2&backend=wasm&${SMALL}`;
  const straight = await straightRun(page, base);
  const r = await crashedRun(page, `${base}&autosave=2`, { armAt: 4, which: 'policy', during: 'update' });
  console.log(
    JSON.stringify({ events: r.rows.map((m) => m.iter), recovery: r.recovery, notices: r.notices }),
  );
  expect(r.errors).toEqual([]);
  expect(r.iters).toBe(7);
  expect(r.iter).toBe(7);
  // Iteration 5 died in its update; the checkpoint of iteration 4 (kept in memory) was restored.
  expect(r.recovery).toEqual({ restarts: 1, lostIterations: 1 });
  expect(r.notices.join('\n')).toMatch(
    /the policy worker crashed: terminated by the test during update\. Restarted the workers and restored the checkpoint of iteration 4: 1 iteration lost/,
  );
  expect(r.rows.map((m) => m.iter)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  // Exactly the uninterrupted run: weights, Adam, sampling and problem RNGs came back with it.
  expect(r.rows.map(fingerprint)).toEqual(straight.map(fingerprint));
});

test('the PRM worker crashes during iteration 6 (IndexedDB, autosave 2): two iterations lost and rerun, no metrics row missing or doubled', async ({
  page,
}) => {
  test.setTimeout(600_000);
  // prm-dense scores every rollout, so iteration 6 surely calls the PRM.
  const base = `task=add&algo=prm-dense&iters=7&seed=2&backend=wasm&${SMALL}`;
  const straight = await straightRun(page, base);
  const ns = `e2e-crash-${Date.now()}`;
  const r = await crashedRun(page, `${base}&storage=${ns}&autosave=2`, {
    armAt: 5,
    which: 'prm',
    during: 'scoreSteps',
  });
  console.log(
    JSON.stringify({ events: r.rows.map((m) => m.iter), recovery: r.recovery, notices: r.notices }),
  );
  expect(r.errors).toEqual([]);
  expect(r.iters).toBe(7);
  // Iteration 5 was done but not saved (autosave at 4 and 6); 6 died scoring: both run again.
  expect(r.recovery).toEqual({ restarts: 1, lostIterations: 2 });
  expect(r.recovery!.lostIterations).toBeLessThanOrEqual(2);
  expect(r.notices.join('\n')).toMatch(
    /the prm worker crashed.*checkpoint of iteration 4: 2 iterations lost/,
  );
  expect(r.rows.map((m) => m.iter)).toEqual([1, 2, 3, 4, 5, 5, 6, 7]);
  expect(history(r.rows).map(fingerprint)).toEqual(straight.map(fingerprint));
  // The stored history: every iteration once, none missing.
  expect(r.stored).toEqual([1, 2, 3, 4, 5, 6, 7]);
});

test('a worker that crashes again after every restart: three restarts, then an error event', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await openRunner(page, `task=add&algo=grpo&iters=4&seed=1&backend=wasm&autosave=1&${SMALL}`);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const notices: string[] = [];
    const errors: string[] = [];
    s.on('notice', (n) => notices.push(n.message));
    s.on('error', (e) => errors.push(e.message));
    s.on('iteration', (r) => {
      if (r.metrics.iter === 1) s.crashWorker('policy', 'generate', 4);
    });
    const failed = await s.start().then(
      () => null,
      (e: Error) => e.message,
    );
    return { failed, notices, errors, state: s.state, iter: s.iter, recovery: s.recovery };
  });
  console.log(JSON.stringify(r));
  expect(r.failed).toMatch(/gave up after 3 restarts in a row/);
  expect(r.errors).toEqual([r.failed]);
  expect(r.state).toBe('error');
  expect(r.recovery.restarts).toBe(3);
  expect(r.notices.filter((n) => /Restarted the workers/.test(n))).toHaveLength(3);
  expect(r.iter).toBe(1);
});

test('runner faults= hook: injected non-finite updates are skipped and counted in the metrics and summary', async ({
  page,
}) => {
  test.setTimeout(300_000);
  const faults = encodeURIComponent(JSON.stringify({ nonFiniteLossAt: [2], nonFiniteGradientAt: [3] }));
  await openRunner(page, `task=add&algo=grpo&iters=4&seed=1&backend=wasm&${SMALL}&faults=${faults}`);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const rows: { iter: number; skippedUpdates: number; loss: number; gradNorm: number }[] = [];
    const notices: string[] = [];
    s.on('iteration', (x) => rows.push(x.metrics));
    s.on('notice', (n) => notices.push(n.message));
    const summary = await s.start();
    return { rows, notices, skipped: summary?.skippedUpdates };
  });
  expect(r.rows.map((m) => m.skippedUpdates)).toEqual([0, 1, 1, 0]);
  expect(Number.isNaN(r.rows[1].loss)).toBe(true);
  expect(Number.isFinite(r.rows[2].loss) && !Number.isFinite(r.rows[2].gradNorm)).toBe(true);
  expect(r.skipped).toBe(2);
  expect(r.notices).toEqual([
    'iteration 2: 1 update skipped because the loss or a gradient was not finite; the weights were kept',
    'iteration 3: 1 update skipped because the loss or a gradient was not finite; the weights were kept',
  ]);
});

const progress = (page: Page) => page.locator('#progress-text');

test('the teaching page shows skipped non-finite updates: a count in the status bar and a notice', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await page.goto('/#task=add&algo=grpo&iters=4&promptsPerIter=2&groupSize=4&evalN=4&backend=wasm');
  await page.locator('#step').click();
  // The step is over only when the session is idle again (the Train button is a Pause button while
  // it runs: clicking it then would pause the run).
  await expect(progress(page)).toContainText('Iteration 1 / 4 · paused', { timeout: 120_000 });
  await expect(page.locator('#train')).toHaveText('Resume');
  await expect(page.locator('[data-status=skipped]')).toHaveCount(0);
  await page.evaluate(() =>
    window.scopeLabSession!.injectFaults({ nonFiniteLossAt: [2], nonFiniteGradientAt: [3] }),
  );
  await page.locator('#train').click();
  await expect(progress(page)).toContainText('Iteration 4 / 4 · done', { timeout: 180_000 });
  await expect(page.locator('[data-status=skipped]')).toHaveText('2 (not finite)');
  await expect(page.locator('sl-status')).toContainText(
    'iteration 3: 1 update skipped because the loss or a gradient was not finite',
  );
});

test('the teaching page says when the WebGPU device is lost: the status bar shows WASM and the notice', async ({
  page,
}) => {
  test.setTimeout(900_000);
  await page.goto('/#task=add&algo=grpo&iters=3&promptsPerIter=2&groupSize=4&evalN=4&backend=webgpu');
  await page.locator('#step').click();
  await expect(progress(page)).toContainText('Iteration 1 / 3', { timeout: 600_000 });
  const backend = page.locator('[data-status=backend]');
  await expect(backend).toContainText('webgpu');
  expect(await page.evaluate(() => window.scopeLabSession!.loseDevice('policy'))).toBe(true);
  await expect(backend).toContainText('wasm', { timeout: 120_000 });
  await expect(backend).toContainText('requested webgpu');
  await expect(page.locator('sl-status')).toContainText(/lost.*continuing on WASM/, { timeout: 60_000 });
  // And training goes on, on WASM.
  await page.locator('#step').click();
  await expect(progress(page)).toContainText('Iteration 2 / 3', { timeout: 120_000 });
  await expect(backend).toContainText('wasm');
});
