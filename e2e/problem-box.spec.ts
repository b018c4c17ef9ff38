/**
 * The problem box (issue 20 item 6), in the page and in the widget's full view: a typed problem gets
 * the policy's steps with the PRM's scores, the oracle's verdicts, the first error and the teacher's
 * correction; text the task cannot read gets a clear message and loads nothing.
 */
import { expect, type Page, test } from '@playwright/test';

async function ask(page: Page, scope: string, text: string): Promise<void> {
  await page.locator(`${scope} #problem-input`).fill(text);
  await page.locator(`${scope} #problem-try`).click();
}

test('page: invalid input gets a clear message; a problem gets steps, PRM scores and the correction', async ({
  page,
}) => {
  await page.goto('/#task=add&algo=scope&iters=3&evalN=20&backend=wasm');
  await ask(page, 'scope-lab-app', '4x5');
  await expect(page.locator('#problem-message')).toContainText("'x' cannot appear in a add problem");
  await ask(page, 'scope-lab-app', '47++85');
  await expect(page.locator('#problem-message')).toContainText('is not a add problem');
  // A real problem: the models load, the policy answers.
  await ask(page, 'scope-lab-app', '478+965');
  const result = page.locator('#probe-result');
  await expect(result).toBeVisible({ timeout: 120_000 });
  await expect(result).toContainText('478+965 = 1443');
  const steps = result.locator('li');
  expect(await steps.count()).toBeGreaterThan(0);
  // SCOPE runs the learned PRM: every step carries its score.
  await expect(steps.first()).toContainText(/PRM \d\.\d\d/);
  await expect(page.locator('#probe-correction')).toContainText(
    /First error at step \d+:[\s\S]*teacher's step|No step is wrong/,
  );
  const verdicts = await steps.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.verdict));
  expect(verdicts.filter((v) => v === 'first-error').length).toBeLessThanOrEqual(1);
});

test('widget full view (embed example): the problem box answers too', async ({ page }) => {
  await page.goto('/embed-example.html');
  await ask(page, 'scope-trainer#scope-demo', '123+456');
  const result = page.locator('scope-trainer#scope-demo #probe-result');
  await expect(result).toBeVisible({ timeout: 120_000 });
  await expect(result).toContainText('123+456 = 579');
  await expect(result.locator('li').first()).toContainText(/PRM \d\.\d\d/);
});
