/**
 * The storage layer in real Chromium IndexedDB (the unit tests use fake-indexeddb): the v1 -> v2
 * upgrade, a page closed while a checkpoint is being written, export -> import into a fresh
 * profile, and a real QuotaExceededError (quota lowered through the DevTools protocol).
 */
import { type BrowserContext, expect, type Page, test } from '@playwright/test';
import type {} from '../src/storage/test-page';

async function openTestPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto('/storage-test.html');
  await expect(page.locator('body[data-ready="1"]')).toBeAttached();
  return page;
}

test('v1 database upgraded in place; checkpoints round-trip bit-exact', async ({ context }) => {
  const page = await openTestPage(context);
  const result = await page.evaluate(async () => {
    const { storage, openDB, makeCheckpoint, parseRlConfig } = window.scopeStorageTest;
    const ck = makeCheckpoint(5);
    const config = parseRlConfig({ task: 'add', algo: 'scope', seed: 7, iters: 1000 });
    const v1 = await openDB(storage.dbNameFor('upgrade'), 1, {
      upgrade(db) {
        db.createObjectStore('runs', { keyPath: 'id' });
        db.createObjectStore('checkpoints', { keyPath: ['runId', 'iter'] });
        db.createObjectStore('metrics', { keyPath: ['runId', 'iter'] });
      },
    });
    await v1.put('runs', { id: 'old', config, createdAt: 1, updatedAt: 1, iter: 5, status: 'paused' });
    await v1.put('checkpoints', {
      runId: 'old',
      iter: 5,
      createdAt: 2,
      task: 'add',
      manifestJson: ck.manifestJson,
      blob: ck.blob,
    });
    v1.close();
    const s = await storage.openStore('upgrade');
    const latest = await s.latestCheckpoint('old');
    const fresh = makeCheckpoint(9);
    await s.saveCheckpoint('old', 9, fresh);
    const back = await s.loadCheckpoint('old', 9);
    s.close();
    const raw = await openDB(storage.dbNameFor('upgrade'));
    const out = {
      version: raw.version,
      stores: Array.from(raw.objectStoreNames).sort(),
      upgradedSame: latest?.ck.manifestJson === ck.manifestJson && latest.ck.blob.join() === ck.blob.join(),
      roundTripSame: back.manifestJson === fresh.manifestJson && back.blob.join() === fresh.blob.join(),
      blobIsUint8Array: back.blob instanceof Uint8Array,
    };
    raw.close();
    return out;
  });
  expect(result).toEqual({
    version: 2,
    stores: ['blobs', 'checkpoints', 'metrics', 'runs'],
    upgradedSame: true,
    roundTripSame: true,
    blobIsUint8Array: true,
  });
});

test('a page closed while a checkpoint is being written: the latest complete checkpoint loads', async ({
  context,
}) => {
  const setup = await openTestPage(context);
  const runId = await setup.evaluate(async () => {
    const { storage, makeCheckpoint, parseRlConfig } = window.scopeStorageTest;
    const s = await storage.openStore('close-mid-save');
    const run = await s.createRun(parseRlConfig({ task: 'add', algo: 'scope', seed: 7, iters: 1000 }));
    await s.saveCheckpoint(run.id, 1, makeCheckpoint(1));
    s.close();
    return run.id;
  });
  await setup.close();
  const outcomes: { delayMs: number; latest: number }[] = [];
  let iter = 1;
  // Close at different moments of an ~8 MB save; whichever side of the commit it lands on, the
  // store must hold only whole checkpoints and the latest must load.
  for (const delayMs of [0, 2, 5, 10, 20, 40, 80]) {
    iter++;
    const page = await openTestPage(context);
    await page.evaluate(
      async ({ runId, iter, delayMs }) => {
        const { storage, makeCheckpoint } = window.scopeStorageTest;
        const s = await storage.openStore('close-mid-save');
        const big = makeCheckpoint(iter, 512);
        void s.saveCheckpoint(runId, iter, big).catch(() => undefined);
        await new Promise((r) => setTimeout(r, delayMs));
      },
      { runId, iter, delayMs },
    );
    await page.close();
    const check = await openTestPage(context);
    const state = await check.evaluate(async (runId) => {
      const { storage, openDB } = window.scopeStorageTest;
      const s = await storage.openStore('close-mid-save');
      const latest = await s.latestCheckpoint(runId);
      const run = await s.getRun(runId);
      s.close();
      const raw = await openDB(storage.dbNameFor('close-mid-save'));
      const keys = async (name: string) => JSON.stringify(await raw.getAllKeys(name));
      const pairsMatch = (await keys('checkpoints')) === (await keys('blobs'));
      raw.close();
      return { latest: latest?.iter ?? -1, skipped: latest?.skipped ?? [], runIter: run?.iter, pairsMatch };
    }, runId);
    await check.close();
    expect(state.pairsMatch, `delay ${delayMs}: index records and blobs pair up`).toBe(true);
    expect(state.skipped, `delay ${delayMs}: no damaged checkpoint`).toEqual([]);
    expect(state.latest, `delay ${delayMs}`).toBeGreaterThanOrEqual(1);
    expect(state.runIter).toBe(state.latest);
    outcomes.push({ delayMs, latest: state.latest });
  }
  console.log(
    'close-mid-save outcomes (delay -> latest iteration after reopening):',
    JSON.stringify(outcomes),
  );
});

test('export, then import into a fresh browser profile, gives identical weights', async ({ browser }) => {
  const a = await browser.newContext();
  const pageA = await openTestPage(a);
  const exported = await pageA.evaluate(async () => {
    const { storage, makeCheckpoint, parseRlConfig, crc32 } = window.scopeStorageTest;
    const s = await storage.openStore();
    const run = await s.createRun(parseRlConfig({ task: 'add', algo: 'grpo', seed: 3, iters: 1000 }));
    const ck = makeCheckpoint(12, 64);
    await s.saveCheckpoint(run.id, 12, ck);
    const file = await s.exportCheckpoint(run.id, 12);
    s.close();
    return { file: Array.from(file), blobCrc: crc32(ck.blob), blobBytes: ck.blob.length };
  });
  await a.close();
  const b = await browser.newContext();
  const pageB = await openTestPage(b);
  const imported = await pageB.evaluate(async (file) => {
    const { storage, crc32 } = window.scopeStorageTest;
    const s = await storage.openStore();
    const runsBefore = (await s.listRuns()).length;
    const { run, iter } = await s.importCheckpoint(Uint8Array.from(file), { task: 'add' });
    const ck = await s.loadCheckpoint(run.id, iter);
    s.close();
    return { runsBefore, iter, algo: run.config.algo, blobCrc: crc32(ck.blob), blobBytes: ck.blob.length };
  }, exported.file);
  await b.close();
  expect(imported).toEqual({
    runsBefore: 0,
    iter: 12,
    algo: 'grpo',
    blobCrc: exported.blobCrc,
    blobBytes: exported.blobBytes,
  });
});

test('a real QuotaExceededError: StorageError quota, earlier checkpoint intact', async ({
  context,
  baseURL,
}) => {
  const page = await openTestPage(context);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', {
    origin: new URL(baseURL!).origin,
    quotaSize: 3 * 1024 * 1024,
  });
  const result = await page.evaluate(async () => {
    const { storage, makeCheckpoint, parseRlConfig, crc32 } = window.scopeStorageTest;
    const s = await storage.openStore('quota');
    const run = await s.createRun(parseRlConfig({ task: 'add', algo: 'scope', seed: 7, iters: 1000 }));
    const first = makeCheckpoint(1, 256); // ~2 MB
    await s.saveCheckpoint(run.id, 1, first);
    let error = null as { name: string; code?: string; message: string } | null;
    for (let iter = 2; iter <= 4 && !error; iter++)
      await s
        .saveCheckpoint(run.id, iter, makeCheckpoint(iter, 256))
        .catch((e: Error & { code?: string }) => {
          error = { name: e.name, code: e.code, message: e.message };
        });
    const list = (await s.listCheckpoints(run.id)).map((c) => c.iter);
    const back = await s.loadCheckpoint(run.id, list[list.length - 1]);
    const intact =
      list[0] === 1 ? crc32((await s.loadCheckpoint(run.id, 1)).blob) === crc32(first.blob) : null;
    s.close();
    return { error, list, latestLoads: back.blob.length > 0, intact, estimate: await s.estimate() };
  });
  console.log('quota test:', JSON.stringify(result));
  expect(result.error).toMatchObject({ name: 'StorageError', code: 'quota' });
  expect(result.error!.message).toMatch(/storage is full/i);
  expect(result.list).toEqual([1]);
  expect(result.intact).toBe(true);
});
