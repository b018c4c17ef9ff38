/**
 * The browser runtime end to end, on the built runner page: the policy and PRM workers run beside
 * a responsive page, a lost WebGPU device falls back to WASM from the same weights, and (with
 * IndexedDB) runs resume after a reload and checkpoints move between browser profiles.
 */
import { expect, type Page, test } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';

/** Small runs: a few prompts, tiny evaluations, so SwiftShader WebGPU finishes in minutes. */
const SMALL = 'set.promptsPerIter=2&set.groupSize=4&set.evalN=4&set.evalEvery=100';

async function openRunner(page: Page, query: string): Promise<void> {
  await page.goto(`/runner.html?${query}&autostart=0`);
  await page.waitForFunction(() => window.scopeRunner !== undefined);
  const failed = await page.evaluate(() =>
    window.scopeRunner!.ready.then(
      () => null,
      (e: Error) => e.message,
    ),
  );
  expect(failed).toBeNull();
}

declare global {
  interface Window {
    longTasks: { start: number; duration: number }[];
  }
}

test('two workers compute at the same time and the page stays responsive while training', async ({
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

    // Parallelism: the same policy and PRM work, one after the other, then both at once.
    const prompts = Array.from({ length: 48 }, (_, i) => ({ prompt: `${100 + i}+${250 + i}` }));
    const gen = () => s.policyService.generate(prompts, { temperature: 1, topP: 1 });
    const texts = (await gen()).texts;
    const items = [...texts, ...texts, ...texts, ...texts].map((completion, i) => ({
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
    const rounds: { policy: number; prm: number; both: number }[] = [];
    for (let i = 0; i < 2; i++)
      rounds.push({
        policy: await timed(gen),
        prm: await timed(score),
        both: await timed(() => Promise.all([gen(), score()])),
      });
    return {
      iters: summary?.iters,
      trainMs: t1 - t0,
      longest: Math.max(0, ...during.map((t) => t.duration)),
      longTasks: during,
      rounds,
      policyBackend: s.backendInfo,
      prmBackend: s.prmBackendInfo,
    };
  });
  console.log(JSON.stringify(r));
  expect(r.iters).toBe(3);
  expect(r.policyBackend?.backend).toBe('wasm');
  expect(r.prmBackend?.backend).toBe('wasm');
  // Responsive: no main-thread task over 100 ms while training.
  expect(r.longest).toBeLessThanOrEqual(100);
  // Parallel: together they take clearly less than one after the other (best of two rounds).
  const ratio = Math.min(...r.rounds.map((x) => x.both / (x.policy + x.prm)));
  console.log(`parallel/sequential = ${ratio.toFixed(2)}`);
  expect(ratio).toBeLessThan(0.85);
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
