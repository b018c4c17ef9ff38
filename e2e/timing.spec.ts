/**
 * Recorded timings of the teaching page (issue 20 items 1, 3 and 5), measured in real Chromium on
 * this machine and written to the report (annotations and test-results/.../timings.json), never
 * asserted against a clock: Train -> first visible iteration at default settings, the "evaluating"
 * state, Pause's immediate feedback, and compare mode's time per iteration against a single run's.
 */

import { writeFileSync } from 'node:fs';
import { expect, type Page, type TestInfo, test } from '@playwright/test';

const progress = (page: Page) => page.locator('#progress-text');

async function shownIter(page: Page): Promise<number> {
  const m = /Iteration (\d+) \//.exec(await progress(page).innerText());
  return m ? Number(m[1]) : -1;
}

const chartPoints = (page: Page, chart: string) =>
  page.locator(`sl-chart[data-chart='${chart}'] .latest`).getAttribute('data-points').then(Number);

/** Wall time until `cond` holds, polled every 25 ms. */
async function until(cond: () => Promise<boolean>, timeout = 180_000): Promise<number> {
  const t0 = Date.now();
  await expect.poll(cond, { timeout, intervals: [25] }).toBe(true);
  return Date.now() - t0;
}

function record(testInfo: TestInfo, name: string, values: Record<string, unknown>): void {
  const line = JSON.stringify({ name, ...values });
  console.log(`[timing] ${line}`);
  testInfo.annotations.push({ type: 'timing', description: line });
  writeFileSync(testInfo.outputPath(`${name}.json`), `${line}\n`);
}

test('default settings: Train -> first visible iteration, the evaluating state, Pause at once', async ({
  page,
}, testInfo) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/');
  const t0 = Date.now();
  await page.locator('#train').click();
  let sawEvaluating = false;
  const loadedMs = await until(async () => {
    const text = await progress(page).innerText();
    sawEvaluating ||= text.includes('evaluating');
    return text.includes('training');
  });
  const firstMs = await until(async () => {
    sawEvaluating ||= (await progress(page).innerText()).includes('evaluating');
    return (await chartPoints(page, 'reward')) > 0;
  });
  const trainToFirst = Date.now() - t0;
  // A per-iteration summary of what the algorithm did is on the first screen.
  await expect(page.locator('#this-iteration')).toContainText(/rectified/);
  await expect(page.locator('#this-iteration')).toContainText(/groups with no signal/);
  const box = await page.locator('#this-iteration').boundingBox();
  expect(box && box.y + box.height <= 900).toBe(true);
  const reward = await page.locator("sl-chart[data-chart='reward']").boundingBox();
  expect(reward && reward.y < 900).toBe(true);
  // Start evaluation lands on the accuracy chart.
  await until(async () => {
    sawEvaluating ||= (await progress(page).innerText()).includes('evaluating');
    return (await chartPoints(page, 'accuracy')) > 0;
  });
  const startEvalMs = Date.now() - t0;
  // The starting evaluation runs while the next iterations train, and says so.
  expect(sawEvaluating).toBe(true);
  const iterAtStartEval = await shownIter(page);
  // Pause: the button changes at once; the run stops at the end of its iteration.
  await until(async () => (await shownIter(page)) >= iterAtStartEval + 1);
  const tp = Date.now();
  await page.locator('#train').click();
  await expect(page.locator('#train')).toHaveText('Pausing…', { timeout: 500 });
  await expect(progress(page)).toContainText('paused', { timeout: 120_000 });
  const pauseMs = Date.now() - tp;
  await expect(page.locator('#train')).toHaveText('Resume');
  record(testInfo, 'first-iteration', {
    loadMs: loadedMs,
    trainToFirstIterationMs: trainToFirst,
    firstIterationAfterLoadMs: firstMs,
    startEvaluationShownMs: startEvalMs,
    iterationsBeforeStartEvaluationShown: iterAtStartEval,
    pauseToPausedMs: pauseMs,
  });
});

/** Mean wall time per iteration of the page's run(s), over iterations `from` -> `to`. */
async function secondsPerIter(page: Page, from: number, to: number): Promise<number> {
  await until(async () => (await shownIter(page)) >= from);
  const t = Date.now();
  await until(async () => (await shownIter(page)) >= to);
  return (Date.now() - t) / 1000 / (to - from);
}

test('compare mode: time per iteration against a single run (recorded)', async ({ page }, testInfo) => {
  test.setTimeout(400_000);
  await page.setViewportSize({ width: 1280, height: 900 });
  // No periodic evaluation in the window measured; a small starting one.
  const base = '/#task=add&algo=scope&iters=12&evalN=20&evalEvery=1000&backend=wasm';
  await page.goto(base);
  await page.locator('#train').click();
  const single = await secondsPerIter(page, 3, 9);
  const phase = () => page.locator("sl-chart[data-chart='time'] .latest").innerText();
  const singlePhases = await phase();
  await page.locator('#train').click();
  await expect(progress(page)).toContainText('paused', { timeout: 60_000 });

  await page.goto(`${base}&compare=grpo`);
  await page.reload();
  await page.locator('#train').click();
  const compare = await secondsPerIter(page, 3, 9);
  // Each run's phase times of its latest iteration (where the time goes).
  record(testInfo, 'compare-per-iteration', {
    singleScopeSecondsPerIter: single,
    compareScopeVsGrpoSecondsPerIter: compare,
    ratio: compare / single,
    singlePhases,
    comparePhases: await phase(),
    loadAverage: (await import('node:os')).loadavg(),
  });
});
