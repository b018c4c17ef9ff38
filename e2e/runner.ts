/** Shared by the specs that drive the headless runner page (runner.html). */
import { expect, type Page } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';

/** Small runs: a few prompts, tiny evaluations, so SwiftShader WebGPU finishes in minutes. */
export const SMALL = 'set.promptsPerIter=2&set.groupSize=4&set.evalN=4&set.evalEvery=100';

/** Open the runner without starting it, and fail the test if its session did not come up. */
export async function openRunner(page: Page, query: string): Promise<void> {
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

/** The per-iteration metrics the determinism checks compare. */
export interface Row {
  iter: number;
  rewardMean: number | null;
  loss: number;
  gradNorm: number;
  entropy: number;
}

/** Per-iteration metrics that must repeat exactly in a deterministic (WASM, one thread) run. */
export const fingerprint = (m: Row) => ({
  iter: m.iter,
  rewardMean: m.rewardMean,
  loss: m.loss,
  gradNorm: m.gradNorm,
  entropy: m.entropy,
});

/** The straight run's iteration metrics (no storage, no crash). */
export async function straightRun(page: Page, query: string): Promise<Row[]> {
  await openRunner(page, query);
  return page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const rows: unknown[] = [];
    s.on('iteration', (r) => rows.push(r.metrics));
    await s.start();
    return rows as Row[];
  });
}
