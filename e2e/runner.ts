/** Shared by the specs that drive the headless runner page (runner.html). */
import { expect, type Page } from '@playwright/test';

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
