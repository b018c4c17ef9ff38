/**
 * Accessibility (issue 20 item 8, issue 15's inspector legend): axe-core on the teaching page (single
 * and compare mode, before and after an iteration) and on the embed example, with no serious or
 * critical violation; the inspector's legend says what its marks mean; a step's details open from the
 * keyboard (not only a `title`); the live region carries no iteration counter.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';

async function seriousViolations(page: Page): Promise<string[]> {
  const res = await new AxeBuilder({ page }).analyze();
  return res.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' > ')).join(' | ')}`);
}

const progress = (page: Page) => page.locator('#progress-text');

test('the page, single run: no serious or critical axe violations, before and after an iteration; the inspector legend and keyboard step details', async ({
  page,
}) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/#task=add&algo=scope&iters=3&evalN=20&backend=wasm');
  expect(await seriousViolations(page)).toEqual([]);
  await page.locator('#step').click();
  await expect(progress(page)).toContainText('Iteration 1 / 3 · paused', { timeout: 150_000 });
  await expect(page.locator('sl-inspector li.rollout').first()).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);

  // The legend says what each mark means (issue 15).
  const legend = page.locator('sl-inspector #step-legend');
  await expect(legend).toContainText('valid given the steps before it');
  await expect(legend).toContainText('first error');
  await expect(legend).toContainText('after the error');
  await expect(page.locator('sl-inspector .prm-note')).toContainText('0.20 0.20 0.20');
  // No step after the first error is marked as an error of its own.
  const verdicts = await page
    .locator('sl-inspector button.step')
    .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.verdict));
  expect(verdicts.length).toBeGreaterThan(0);
  expect(verdicts.every((v) => ['valid', 'first-error', 'after-error', 'unfinished'].includes(v ?? ''))).toBe(
    true,
  );

  // Step details by keyboard: focus a step chip, Enter opens its details.
  const chip = page.locator('sl-inspector button.step').first();
  await chip.focus();
  await page.keyboard.press('Enter');
  await expect(chip).toHaveAttribute('aria-expanded', 'true');
  await expect(page.locator('sl-inspector .step-detail')).toContainText(/Step 1, .*task oracle/);

  // The inspector is one keypress away.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('i');
  await expect.poll(() => page.evaluate(() => window.scrollY), { timeout: 5_000 }).toBeGreaterThan(100);

  // The live region announces the phase, not every iteration.
  await expect(page.locator('#announce')).not.toContainText(/Iteration|\d+ \//);
});

test('the page, compare mode: no serious or critical axe violations after an iteration', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/#task=add&algo=scope&iters=3&evalN=20&backend=wasm&compare=grpo');
  await page.locator('#step').click();
  await expect(progress(page)).toContainText('Iteration 1 / 3 · paused', { timeout: 150_000 });
  expect(await seriousViolations(page)).toEqual([]);
});

test('the embed example: no serious or critical axe violations', async ({ page }) => {
  await page.goto('/embed-example.html');
  await expect(page.locator('scope-trainer#scope-demo #train')).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
});
