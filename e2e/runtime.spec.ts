/**
 * The browser runtime end to end, on the built runner page: the policy and PRM workers run beside
 * a responsive page, a lost WebGPU device falls back to WASM from the same weights, and (with
 * IndexedDB) runs resume after a reload and checkpoints move between browser profiles.
 */
import { expect, test } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';
import { fingerprint, openRunner, type Row, SMALL, straightRun } from './runner';

declare global {
  interface Window {
    longTasks: { start: number; duration: number }[];
  }
}

test('the two workers run on their own threads at once and the page stays responsive while training', async ({
  page,
}) => {
  test.setTimeout(600_000);
  // Long tasks of the page's main thread, recorded from the first script on.
  await page.addInitScript(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  await openRunner(page, `task=add&algo=scope&iters=3&seed=1&backend=wasm&${SMALL}`);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const t0 = performance.now();
    const summary = await s.start();
    const t1 = performance.now();
    const during = window.longTasks.filter((t) => t.start >= t0 && t.start <= t1);

    // Distinct threads running at once: both workers block on a shared counter until both arrived.
    const parallel = await s.rendezvous(['policy', 'prm']);
    // The control: one worker twice cannot (its first call blocks its only thread).
    const sameThread = await s.rendezvous(['policy', 'policy'], 1_000);
    // For the record: the same policy and PRM work one after the other, then both at once.
    const prompts = Array.from({ length: 96 }, (_, i) => ({ prompt: `${100 + i}+${250 + i}` }));
    const gen = () => s.policyService.generate(prompts, { temperature: 1, topP: 1 });
    const texts = (await gen()).texts;
    const items = [...texts, ...texts].map((completion, i) => ({
      prompt: prompts[i % prompts.length].prompt,
      completion,
    }));
    const score = () => s.prmService!.scoreSteps(items);
    await score(); // warm-up
    const timed = async (f: () => Promise<unknown>) => {
      const a = performance.now();
      await f();
      return performance.now() - a;
    };
    const round = {
      policy: await timed(gen),
      prm: await timed(score),
      both: await timed(() => Promise.all([gen(), score()])),
    };
    return {
      iters: summary?.iters,
      trainMs: t1 - t0,
      longest: Math.max(0, ...during.map((t) => t.duration)),
      longTasks: during,
      parallel,
      sameThread,
      round,
      policyBackend: s.backendInfo,
      prmBackend: s.prmBackendInfo,
    };
  });
  console.log(JSON.stringify(r));
  expect(r.iters).toBe(3);
  expect(r.policyBackend?.backend).toBe('wasm');
  expect(r.prmBackend?.backend).toBe('wasm');
  // Both workers run their products on our kernels (src/core/wasm-kernels.ts), not tfjs's.
  expect(r.policyBackend?.wasmKernels).toBe('ours');
  expect(r.prmBackend?.wasmKernels).toBe('ours');
  // Responsive: no main-thread task over 100 ms while training.
  expect(r.longest).toBeLessThanOrEqual(100);
  expect(r.parallel).toBe(true);
  expect(r.sameThread).toBe(false);
  // Not asserted (it depends on free cores on a shared machine), only reported.
  console.log(
    `both at once / one after the other = ${(r.round.both / (r.round.policy + r.round.prm)).toFixed(2)}`,
  );
});

test("the update's second shard runs in a gradient worker beside the policy worker, and the numbers are those without it", async ({
  page,
}) => {
  test.setTimeout(600_000);
  // Two shards (the default) on WASM: the policy worker starts a gradient worker and hands it the
  // second shard of every update once it is up; with the test hook it computes both itself.
  const run = async (query: string) => {
    await openRunner(page, query);
    return page.evaluate(async () => {
      const s: TrainingSession = await window.scopeRunner!.ready;
      const rows: Row[] = [];
      s.on('iteration', (r) => rows.push(r.metrics as unknown as Row));
      await s.start();
      return {
        rows,
        helperShards: (await s.policyService.describe()).helperShards,
        // What the page's status bar reads ("updates on 2 cores").
        gradientWorker: s.backendInfo?.gradientWorker ?? false,
      };
    });
  };
  const q = `task=add&algo=scope&iters=4&seed=2&backend=wasm&${SMALL}`;
  await page.goto('/runner.html?autostart=0');
  test.skip((await page.evaluate(() => navigator.hardwareConcurrency)) < 2, 'one core: no gradient worker');
  const shared = await run(q);
  const alone = await run(`${q}&gradientWorker=0`);
  // One shard per update once the worker is up (it starts beside the first iterations).
  expect(shared.helperShards).toBeGreaterThanOrEqual(2);
  expect(alone.helperShards).toBe(0);
  expect([shared.gradientWorker, alone.gradientWorker]).toEqual([true, false]);
  expect(shared.rows).toHaveLength(4);
  expect(shared.rows.map(fingerprint)).toEqual(alone.rows.map(fingerprint));
});

test('a lost WebGPU device: the worker falls back to WASM with the same weights, tells the page, trains on', async ({
  page,
}) => {
  test.setTimeout(900_000);
  await openRunner(page, `task=add&algo=grpo&iters=10&seed=1&backend=webgpu&${SMALL}`);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const hash = async (b: Uint8Array) =>
      Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b.slice())))
        .map((x) => x.toString(16).padStart(2, '0'))
        .join('');
    const manifest = (ck: { manifestJson: string }) =>
      JSON.parse(ck.manifestJson) as { step: number; optimizer: { iterations: number } };
    const events: { type: string; detail: unknown }[] = [];
    s.on('backend', (d) => events.push({ type: 'backend', detail: d }));
    s.on('notice', (d) => events.push({ type: 'notice', detail: d }));
    const start = s.backendInfo;
    const first = await s.stepOnce();
    const before = await s.checkpointNow(true);

    // 1. Lost while idle: the next checkpoint, now read from WASM, holds the same bytes.
    const lost = await s.loseDevice('policy');
    while (!events.some((e) => e.type === 'backend')) await new Promise((res) => setTimeout(res, 100));
    const after = await s.checkpointNow(true);
    const second = await s.stepOnce();
    const afterStep = await s.checkpointNow(true);
    return {
      start,
      lost,
      firstLoss: first.metrics.loss,
      secondLoss: second.metrics.loss,
      secondGradNorm: second.metrics.gradNorm,
      before: await hash(before.ck.blob),
      after: await hash(after.ck.blob),
      afterStep: await hash(afterStep.ck.blob),
      stepsAfter: manifest(afterStep.ck).step - manifest(before.ck).step,
      adamAfter: manifest(afterStep.ck).optimizer.iterations,
      events,
      now: s.backendInfo,
      described: (await s.policyService.describe()).backend,
    };
  });
  console.log(JSON.stringify({ ...r, events: r.events.length }));
  expect(r.start?.backend).toBe('webgpu');
  expect(r.start?.adapter).toMatch(/swiftshader/i);
  expect(r.lost).toBe(true);
  expect(r.after).toBe(r.before); // same weights, optimizer state, RNG and step
  expect(r.afterStep).not.toBe(r.after); // and training moved them on
  expect(r.stepsAfter).toBe(1);
  expect(r.adamAfter).toBe(2);
  expect(Number.isFinite(r.secondLoss) && Number.isFinite(r.secondGradNorm)).toBe(true);
  expect(r.now?.backend).toBe('wasm');
  expect(r.now?.requested).toBe('webgpu');
  expect(r.now?.note).toMatch(/lost/);
  expect(r.described).toBe('wasm');
  expect(r.events.map((e) => e.type)).toEqual(['backend', 'notice']);
  expect(JSON.stringify(r.events[1].detail)).toMatch(/lost.*continuing on WASM/);
});

test('a WebGPU device lost in the middle of an update: the update reruns on WASM from the weights before it', async ({
  page,
}) => {
  test.setTimeout(900_000);
  await openRunner(page, `task=add&algo=grpo&iters=10&seed=1&backend=webgpu&${SMALL}`);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const manifest = (ck: { manifestJson: string }) =>
      JSON.parse(ck.manifestJson) as { step: number; optimizer: { iterations: number } };
    const notices: string[] = [];
    s.on('notice', (d) => notices.push(d.message));
    await s.stepOnce();
    const before = await s.checkpointNow(true);
    await s.loseDevice('policy', 'update');
    const second = await s.stepOnce();
    const ck = await s.checkpointNow(true);
    return {
      loss: second.metrics.loss,
      step: manifest(ck.ck).step - manifest(before.ck).step,
      adam: manifest(ck.ck).optimizer.iterations,
      notices,
      now: s.backendInfo?.backend,
    };
  });
  console.log(JSON.stringify(r));
  expect(Number.isFinite(r.loss)).toBe(true);
  // One update per iteration: the interrupted one did not count twice.
  expect(r.step).toBe(1);
  expect(r.adam).toBe(2);
  expect(r.now).toBe('wasm');
  expect(r.notices.join(' ')).toMatch(/lost/);
});

test('a run autosaved every iteration resumes after a reload at the right iteration, config and state', async ({
  page,
}) => {
  test.setTimeout(600_000);
  const ns = `e2e-resume-${Date.now()}`;
  const base = `task=add&algo=scope&iters=5&seed=3&backend=wasm&${SMALL}&set.lr=3e-5`;

  // The reference: the same run straight through, without storage.
  const straight = await straightRun(page, base);

  // Three iterations with autosave every iteration, then pause.
  await openRunner(page, `${base}&storage=${ns}&autosave=1`);
  const first = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const saved: number[] = [];
    s.on('checkpoint', (c) => saved.push(c.iter));
    s.on('iteration', (r) => {
      if (r.metrics.iter === 3) void s.pause();
    });
    const result = await s.start();
    return { result, runId: s.runId, iter: s.iter, state: s.state, saved, config: s.config };
  });
  expect(first.result).toBeNull();
  expect(first.iter).toBe(3);
  expect(first.state).toBe('paused');
  expect(first.saved).toEqual([1, 2, 3]);
  expect(first.runId).toBeTruthy();

  // Reload into the stored run; the URL's own knobs (another seed and lr) must not leak in.
  await openRunner(
    page,
    `task=add&algo=scope&seed=99&set.lr=1e-3&backend=wasm&storage=${ns}&resume=${first.runId}`,
  );
  const resumed = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const at = { iter: s.iter, state: s.state, runId: s.runId, config: s.config };
    const rows: unknown[] = [];
    s.on('iteration', (r) => rows.push(r.metrics));
    const summary = await s.start();
    const store = await window.scopeRunner!.store();
    const stored = (await store.getMetrics(s.runId!)).map((m) => m.iter);
    const run = await store.getRun(s.runId!);
    store.close();
    return {
      at,
      rows: rows as Row[],
      done: summary?.iters,
      stored,
      status: run?.status,
    };
  });
  expect(resumed.at.iter).toBe(3);
  expect(resumed.at.state).toBe('paused');
  expect(resumed.at.runId).toBe(first.runId);
  expect(resumed.at.config).toEqual(first.config);
  expect(resumed.rows.map((m) => m.iter)).toEqual([4, 5]);
  // Exactly the uninterrupted run's iterations 4 and 5: weights, Adam, sampling and problem RNGs.
  expect(resumed.rows.map(fingerprint)).toEqual(straight.slice(3).map(fingerprint));
  expect(resumed.done).toBe(5);
  expect(resumed.stored).toEqual([1, 2, 3, 4, 5]);
  expect(resumed.status).toBe('done');
});

test('a page reloaded in the middle of training resumes from its latest autosave and repeats the lost iteration exactly', async ({
  page,
}) => {
  test.setTimeout(600_000);
  const ns = `e2e-reload-${Date.now()}`;
  const base = `task=add&algo=grpo&iters=6&seed=5&backend=wasm&${SMALL}`;
  const straight = await straightRun(page, base);

  // Train with autosave every iteration and reload as soon as iteration 3 is saved: iteration 4 is
  // running (or just done) and is lost with the page.
  await openRunner(page, `${base}&storage=${ns}&autosave=1`);
  const runId = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    (window as unknown as { saved: number[] }).saved = [];
    s.on('checkpoint', (c) => (window as unknown as { saved: number[] }).saved.push(c.iter));
    void s.start();
    return s.runId!;
  });
  await page.waitForFunction(() => (window as unknown as { saved: number[] }).saved.includes(3), null, {
    polling: 10,
    timeout: 300_000,
  });
  await openRunner(page, `${base}&storage=${ns}&resume=${runId}`);
  const resumed = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const store = await window.scopeRunner!.store();
    const saved = (await store.listCheckpoints(s.runId!)).map((c) => c.iter);
    const metricsAtResume = (await store.getMetrics(s.runId!)).map((m) => m.iter);
    const at = s.iter;
    const rows: unknown[] = [];
    s.on('iteration', (r) => rows.push(r.metrics));
    await s.start();
    const metricsAtEnd = (await store.getMetrics(s.runId!)).map((m) => m.iter);
    store.close();
    return { at, saved, metricsAtResume, metricsAtEnd, rows: rows as Row[] };
  });
  // It resumed from the newest checkpoint the reload left (3, or 4 if that one got saved too) ...
  expect(resumed.at).toBeGreaterThanOrEqual(3);
  expect(resumed.at).toBe(Math.max(...resumed.saved));
  // ... forgot any metrics of the iteration lost with the page, and repeated it exactly.
  expect(resumed.metricsAtResume).toEqual(Array.from({ length: resumed.at }, (_, i) => i + 1));
  expect(resumed.rows.map(fingerprint)).toEqual(straight.slice(resumed.at).map(fingerprint));
  expect(resumed.metricsAtEnd).toEqual([1, 2, 3, 4, 5, 6]);
});

test('a checkpoint exported and imported into a fresh browser profile holds identical weights', async ({
  browser,
  page,
}) => {
  test.setTimeout(600_000);
  const ns = `e2e-export-${Date.now()}`;
  await openRunner(page, `task=add&algo=grpo&iters=2&seed=1&backend=wasm&${SMALL}&storage=${ns}&autosave=1`);
  const exported = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    await s.start();
    const store = await window.scopeRunner!.store();
    const file = await store.exportCheckpoint(s.runId!, 2);
    const saved = await store.loadCheckpoint(s.runId!, 2);
    store.close();
    const sha = async (b: Uint8Array) =>
      Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b.slice())))
        .map((x) => x.toString(16).padStart(2, '0'))
        .join('');
    let bin = '';
    for (const x of file) bin += String.fromCharCode(x);
    return { file: btoa(bin), blobSha: await sha(saved.blob), config: s.config };
  });

  // A new context is a new profile: empty IndexedDB, nothing shared with the first.
  const fresh = await browser.newContext();
  const other = await fresh.newPage();
  await other.goto(`/runner.html?task=add&algo=grpo&backend=wasm&storage=${ns}&autostart=0`);
  const imported = await other.evaluate(async (b64) => {
    const store = await window.scopeRunner!.store();
    const before = (await store.listRuns()).length;
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const { run, iter } = await store.importCheckpoint(bytes, { task: 'add' });
    const blob = (await store.loadCheckpoint(run.id, iter)).blob;
    store.close();
    const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', blob.slice())))
      .map((x) => x.toString(16).padStart(2, '0'))
      .join('');
    return { before, runId: run.id, iter, sha };
  }, exported.file);
  expect(imported.before).toBe(0);
  expect(imported.iter).toBe(2);
  expect(imported.sha).toBe(exported.blobSha);

  // And a session resumed from the imported run holds those weights in its policy worker.
  await openRunner(other, `task=add&algo=grpo&backend=wasm&storage=${ns}&resume=${imported.runId}`);
  const loaded = await other.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const { ck } = await s.checkpointNow(true);
    const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', ck.blob.slice())))
      .map((x) => x.toString(16).padStart(2, '0'))
      .join('');
    return { sha, iter: s.iter, config: s.config };
  });
  expect(loaded.sha).toBe(exported.blobSha);
  expect(loaded.iter).toBe(2);
  expect(loaded.config).toEqual(exported.config);
  await fresh.close();
});
