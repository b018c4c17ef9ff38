import { expect, test } from '@playwright/test';

test('the built app is served cross-origin isolated', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveTitle('scope-lab');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
});
