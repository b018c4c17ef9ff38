/**
 * Issue 18 in real Chromium, on the built pages served by `vite preview` (playwright.config.ts):
 * - two tabs of the teaching page, and of the embed example: one trains, the other cannot delete
 *   or resume its run (Web Locks, src/storage/ownership.ts); the training tab loses nothing;
 *   closing it frees the run;
 * - a checkpoint with a NaN weight (valid checksum) is refused by the page and by the widget;
 * - a stalled assets server ends the widget's start in an `error` event within the stated
 *   timeout (ASSET_LIMITS.stallMs, 15 s);
 * - the import panel refuses a checkpoint of another task than the page's.
 * Tabs of one browser context share an origin, its IndexedDB and its locks, as two real tabs do.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type BrowserContext, expect, type Page, test } from '@playwright/test';
import { ASSET_LIMITS } from '../src/browser/assets';
import { deserializeCheckpoint, packCheckpointFile, serializeCheckpoint } from '../src/core/checkpoint';
import { parseRlConfig } from '../src/core/rl/config';

const DIST = path.resolve(import.meta.dirname, '..', 'dist');

/** The iteration the page's progress text shows (0 before the first). */
async function shownIter(page: Page): Promise<number> {
  const text = (await page.locator('#progress-text').textContent()) ?? '';
  return Number(/Iteration (\d+)/.exec(text)?.[1] ?? 0);
}

/** The checkpoints panel of a page, as an element handle's method caller (it lives in shadow roots). */
function callPanel(page: Page, method: 'deleteRun' | 'resume') {
  return page.evaluate((m) => {
    const app = document.querySelector('scope-lab-app')!.shadowRoot!;
    const panel = app.querySelector('sl-checkpoints') as unknown as {
      rows: { run: unknown }[];
      [k: string]: unknown;
    };
    return (panel[m] as (run: unknown) => Promise<void>).call(panel, panel.rows[0].run);
  }, method);
}

/** Runs stored in a widget's IndexedDB namespace (raw IndexedDB, as the page sees it). */
function storedRuns(page: Page, namespace: string): Promise<{ id: string; iter: number; status: string }[]> {
  return page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open(name);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const req = db.transaction('runs').objectStore('runs').getAll();
          req.onsuccess = () => {
            db.close();
            resolve(req.result.map((r: { id: string; iter: number; status: string }) => r));
          };
          req.onerror = () => reject(req.error);
        };
      }),
    `scope-lab-store/${namespace}`,
  );
}

/** Widget events (iteration, done, error) of the element `id`, logged on the page. */
async function logWidgetEvents(
  page: Page,
  id: string,
): Promise<() => Promise<{ type: string; detail: unknown }[]>> {
  await page.addInitScript((widgetId) => {
    const log: { type: string; detail: unknown }[] = [];
    (window as unknown as { widgetEvents: typeof log }).widgetEvents = log;
    for (const type of ['iteration', 'done', 'error'])
      document.addEventListener(type, (e) => {
        if ((e.target as Element | null)?.id === widgetId)
          log.push({ type, detail: type === 'error' ? (e as CustomEvent).detail : null });
      });
  }, id);
  return () =>
    page.evaluate(
      () => (window as unknown as { widgetEvents: { type: string; detail: unknown }[] }).widgetEvents,
    );
}

/** The shipped add policy with a NaN in `wte`, re-checksummed: only the finite check can catch it. */
function nanPolicy(): { json: string; bin: Buffer } {
  const dir = path.join(DIST, 'checkpoints', 'add');
  const { manifest, tensors } = deserializeCheckpoint(
    readFileSync(path.join(dir, 'policy.json'), 'utf8'),
    readFileSync(path.join(dir, 'policy.bin')),
  );
  tensors.get('wte')!.data[0] = Number.NaN;
  const ck = serializeCheckpoint({
    ...manifest,
    tensors: [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
  });
  return { json: ck.manifestJson, bin: Buffer.from(ck.blob) };
}

async function serveNanPolicy(target: Page | BrowserContext, prefix: string): Promise<void> {
  const nan = nanPolicy();
  await target.route(`**${prefix}checkpoints/add/policy.json`, (r) =>
    r.fulfill({ body: nan.json, contentType: 'application/json' }),
  );
  await target.route(`**${prefix}checkpoints/add/policy.bin`, (r) =>
    r.fulfill({ body: nan.bin, contentType: 'application/octet-stream' }),
  );
}

test('two tabs of the page: the second cannot delete or resume the run the first trains; closing the first frees it', async ({
  page: tabA,
}) => {
  const settings = '/#task=add&algo=grpo&iters=60&evalN=20&backend=wasm';
  await tabA.goto(settings);
  // One step (its pause saves a checkpoint), then train on.
  await tabA.locator('#step').click();
  await expect.poll(() => shownIter(tabA), { timeout: 150_000 }).toBe(1);
  await tabA.locator('#train').click();
  await expect(tabA.locator('#train')).toHaveText('Pause');

  const tabB = await tabA.context().newPage();
  await tabB.goto(settings);
  const row = tabB.locator('sl-checkpoints li.run').first();
  await expect(row).toContainText('GRPO on add');
  await expect(row).toContainText('in use in another tab');
  await expect(row.getByRole('button', { name: /Resume GRPO run/ })).toBeDisabled();
  await expect(row.getByRole('button', { name: /Delete GRPO run/ })).toBeDisabled();
  await expect(row.getByRole('button', { name: /Delete.*checkpoint at iteration 1/ })).toBeDisabled();

  // Even past the disabled buttons (a list read before tab A took the run), the store refuses.
  await callPanel(tabB, 'deleteRun');
  await expect(tabB.locator('sl-checkpoints [role=alert]')).toContainText('in use in another tab');
  await callPanel(tabB, 'resume');
  await expect(tabB.locator('[data-status=error]')).toContainText('in use in another tab', {
    timeout: 60_000,
  });

  // Tab A lost nothing: it trains on, saves, and its run and checkpoints are all there.
  const before = await shownIter(tabA);
  await expect.poll(() => shownIter(tabA), { timeout: 120_000 }).toBeGreaterThan(before + 1);
  await expect(tabA.getByText(/saving to IndexedDB failed/)).toHaveCount(0);
  await tabA.locator('#train').click(); // Pause: saves a checkpoint
  await expect(tabA.locator('#progress-text')).toContainText('paused', { timeout: 60_000 });
  const pausedAt = await shownIter(tabA);
  await expect(tabB.locator('sl-checkpoints li.run')).toHaveCount(1);

  // Closing the owner frees the run: tab B's list updates by itself, and it resumes where A paused.
  await tabA.close();
  await expect(row).not.toContainText('in use in another tab', { timeout: 30_000 });
  await expect(row).toContainText(`iteration ${pausedAt}`);
  await row.getByRole('button', { name: /Resume GRPO run/ }).click();
  await expect(tabB.locator('#progress-text')).toContainText(`Iteration ${pausedAt} / 60 · paused`, {
    timeout: 120_000,
  });
});

test("two tabs of the embed example: the second widget neither deletes nor resumes the first one's run", async ({
  page: tabA,
}) => {
  const eventsA = await logWidgetEvents(tabA, 'grpo-demo');
  await tabA.goto('/embed-example.html');
  await tabA.locator('#grpo-demo').getByRole('button', { name: 'Train' }).click();
  // Autosave every 5 iterations (WIDGET_DEFAULTS): wait for a stored checkpoint.
  await expect
    .poll(async () => (await eventsA()).filter((e) => e.type === 'iteration').length, {
      timeout: 150_000,
    })
    .toBeGreaterThanOrEqual(6);
  const [runA] = await storedRuns(tabA, 'scope-trainer/grpo-demo');
  expect(runA.iter).toBeGreaterThanOrEqual(5);

  const tabB = await tabA.context().newPage();
  const eventsB = await logWidgetEvents(tabB, 'grpo-demo');
  await tabB.goto('/embed-example.html');
  await tabB.locator('#grpo-demo').getByRole('button', { name: 'Train' }).click();
  await expect
    .poll(async () => (await eventsB()).filter((e) => e.type === 'iteration').length, {
      timeout: 150_000,
    })
    .toBeGreaterThanOrEqual(1);
  // Tab B started a run of its own: from iteration 1, not from tab A's checkpoint.
  expect((await eventsB())[0]).toEqual({ type: 'iteration', detail: null });
  const runs = await storedRuns(tabB, 'scope-trainer/grpo-demo');
  expect(runs.map((r) => r.id)).toContain(runA.id);
  expect(runs.length).toBe(2);
  // Tab A trains on with no error, and its run keeps growing.
  const countA = (await eventsA()).length;
  await expect.poll(async () => (await eventsA()).length, { timeout: 120_000 }).toBeGreaterThan(countA);
  expect((await eventsA()).filter((e) => e.type === 'error')).toEqual([]);
  await tabB.locator('#grpo-demo').getByRole('button', { name: 'Pause' }).click();

  // Closing tab A frees its run: tab B's widget, reloaded, keeps one run and deletes the other.
  await tabA.close();
  await tabB.reload();
  await tabB.locator('#grpo-demo').getByRole('button', { name: 'Train' }).click();
  await expect
    .poll(async () => (await storedRuns(tabB, 'scope-trainer/grpo-demo')).length, {
      timeout: 60_000,
    })
    .toBe(1);
});

test('a NaN-weight checkpoint is refused by the page and by the widget, with the tensor named', async ({
  page,
}) => {
  await serveNanPolicy(page, '/');
  await page.goto('/#task=add&algo=grpo&iters=2&evalN=20&backend=wasm');
  await page.locator('#step').click();
  await expect(page.getByText(/tensor 'wte' holds NaN at element 0/).first()).toBeVisible({
    timeout: 60_000,
  });
  expect(await shownIter(page)).toBe(0);

  const widgetPage = await page.context().newPage();
  const events = await logWidgetEvents(widgetPage, 'grpo-demo');
  await serveNanPolicy(widgetPage, '/widget/');
  await widgetPage.goto('/embed-example.html');
  await widgetPage.locator('#grpo-demo').getByRole('button', { name: 'Train' }).click();
  await expect.poll(async () => (await events()).length, { timeout: 60_000 }).toBeGreaterThan(0);
  const [first] = await events();
  expect(first.type).toBe('error');
  expect((first.detail as { message: string }).message).toMatch(/unusable: tensor 'wte' holds NaN/);
});

test(`a stalled assets server ends the widget's start in an error event within ${ASSET_LIMITS.stallMs / 1000} s`, async ({
  page,
}) => {
  const events = await logWidgetEvents(page, 'grpo-demo');
  // The checkpoint's server accepts the request and never answers.
  await page.route('**/widget/checkpoints/add/policy.json', () => new Promise(() => {}));
  await page.goto('/embed-example.html');
  const t0 = Date.now();
  const started = page.evaluate(() =>
    (document.getElementById('grpo-demo') as unknown as { start(): Promise<unknown> }).start().then(
      () => 'settled',
      (e: Error) => `rejected: ${e.message}`,
    ),
  );
  await expect
    .poll(async () => (await events()).length, { timeout: ASSET_LIMITS.stallMs + 15_000 })
    .toBeGreaterThan(0);
  const waited = Date.now() - t0;
  const [first] = await events();
  expect(first.type).toBe('error');
  expect((first.detail as { message: string }).message).toMatch(
    new RegExp(`policy.json sent nothing for ${ASSET_LIMITS.stallMs / 1000} s`),
  );
  expect(waited).toBeGreaterThanOrEqual(ASSET_LIMITS.stallMs - 1000);
  expect(waited).toBeLessThan(ASSET_LIMITS.stallMs + 15_000);
  expect(await started).toMatch(/^rejected: .*sent nothing/);
  await expect(page.locator('#grpo-demo').getByRole('alert')).toContainText('sent nothing');
});

test("the import panel enforces the page's task", async ({ page }) => {
  // A valid exported run checkpoint of task add (the shipped policy, with a run config and iteration).
  const dir = path.join(DIST, 'checkpoints', 'add');
  const { manifest, tensors } = deserializeCheckpoint(
    readFileSync(path.join(dir, 'policy.json'), 'utf8'),
    readFileSync(path.join(dir, 'policy.bin')),
  );
  const ck = serializeCheckpoint({
    ...manifest,
    meta: { config: parseRlConfig({ task: 'add', algo: 'grpo', iters: 4 }), iter: 0 },
    tensors: [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
  });
  const file = { name: 'add.scopelab', mimeType: 'application/octet-stream' };
  const buffer = Buffer.from(packCheckpointFile(ck.manifestJson, ck.blob));
  const panel = page.locator('sl-checkpoints');
  await page.goto('/#task=arith&algo=grpo&iters=4&evalN=20&backend=wasm');
  await page.locator('sl-checkpoints #import').setInputFiles({ ...file, buffer });
  await expect(panel.locator('[role=alert]')).toContainText(
    "a checkpoint of task 'add', this page trains 'arith'",
  );
  await expect(panel.locator('li.run')).toHaveCount(0);
  await page.goto('/#task=add&algo=grpo&iters=4&evalN=20&backend=wasm');
  await page.reload();
  await page.locator('sl-checkpoints #import').setInputFiles({ ...file, buffer });
  await expect(panel.locator('[role=status]')).toContainText('a paused GRPO run at iteration 0');
});
