/**
 * The teaching page as a new user meets it (issue 5): pick SCOPE on add with wasm, train a few
 * iterations, watch chart points and the rollout inspector; pause, reset, share the link, compare two
 * algorithms, a 360 px viewport, keyboard only. Every test fails on any console error.
 * Screenshots of the main view are attached to the report (desktop and 360 px).
 */
import { expect, type Page, type TestInfo, test } from '@playwright/test';

/** Console errors and uncaught exceptions of a page, collected from the start. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** A full-page screenshot, kept under test-results/ and attached to the report. */
async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  // From the top: the run bar is sticky and would be drawn where the page was scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

const progress = (page: Page) => page.locator('#progress-text');

/** The iteration the progress line shows. */
async function shownIter(page: Page): Promise<number> {
  const m = /Iteration (\d+) \//.exec(await progress(page).innerText());
  if (!m) throw new Error(`no iteration in '${await progress(page).innerText()}'`);
  return Number(m[1]);
}

/** Type into a knob the way a user does: replace the text, leave the field (the change commits). */
async function setKnob(page: Page, key: string, value: string): Promise<void> {
  const input = page.locator(`#f-${key}`);
  await input.fill(value);
  await input.press('Tab');
}

/** Number of iterations a chart has points at (its text alternative carries it). */
const chartPoints = (page: Page, chart: string) =>
  page.locator(`sl-chart[data-chart='${chart}'] .latest`).getAttribute('data-points').then(Number);

test('train SCOPE on add with wasm: live chart points, an inspector entry with the first error and the rectified step', async ({
  page,
}, testInfo) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/');
  await expect(page).toHaveTitle('scope-lab');
  await page.locator('#f-task').selectOption('add');
  await page.locator('#f-algo').selectOption('scope');
  await page.locator('#f-backend').selectOption('wasm');
  await setKnob(page, 'iters', '5');
  await expect(page).toHaveURL(/algo=scope/);
  await expect(page).toHaveURL(/iters=5/);
  await expect(page).toHaveURL(/backend=wasm/);

  await page.locator('#train').click();
  // Points appear during training, not only at the end: the reward chart has a point while the
  // run is still training (iterations 1..4 of 5).
  await expect
    .poll(
      async () => ((await progress(page).innerText()).includes('training') ? chartPoints(page, 'reward') : 0),
      {
        timeout: 150_000,
      },
    )
    .toBeGreaterThan(0);
  await expect(progress(page)).toContainText('Iteration 5 / 5 · done', { timeout: 150_000 });
  expect(await chartPoints(page, 'reward')).toBe(5);
  // Evaluations at the start and at the end.
  expect(await chartPoints(page, 'accuracy')).toBe(2);
  await expect(page.locator('[data-status=backend]')).toContainText('wasm');
  // A single run's updates use the second core (src/core/shards.ts), and the status bar says so.
  if ((await page.evaluate(() => navigator.hardwareConcurrency)) >= 2)
    await expect(page.locator('[data-status=backend]')).toContainText('updates on 2 cores');

  // The inspector opens on a group with a rectification: the failed original with its first
  // error marked, and the teacher's corrected step.
  const inspector = page.locator('sl-inspector');
  await expect(inspector.locator('h2')).toContainText('iteration 5');
  const rectified = inspector.locator('li.rollout[data-origin=rectified]').first();
  await expect(rectified).toBeVisible();
  await expect(rectified.locator('.rect del')).not.toBeEmpty();
  await expect(rectified.locator('.rect ins')).not.toBeEmpty();
  await expect(rectified.locator('.step[data-kind=teacher]').first()).toBeVisible();
  await expect(inspector.locator('.step[data-first-error]').first()).toBeVisible();
  await expect(inspector.locator('.step[data-first-error] .mark').first()).toContainText('first error');

  // Colour by advantage: the steps become token runs.
  await inspector.getByLabel('advantage').check();
  await expect(inspector.locator('.tokens .tok').first()).toBeVisible();
  await expect(page).toHaveURL(/colorBy=advantage/);

  await screenshot(page, testInfo, 'desktop');
  expect(errors).toEqual([]);
});

test('Pause stops within one iteration; Reset clears charts and inspector', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/#task=add&algo=grpo&iters=40&evalN=20&backend=wasm');
  await page.locator('#train').click();
  await expect.poll(() => shownIter(page), { timeout: 150_000 }).toBeGreaterThanOrEqual(2);
  // Read the shown iteration and press Pause (the same button, while training) in one task of the
  // page, so no iteration can finish between the two: a separate read and Playwright click leave
  // the click's actionability checks in between, long enough for an iteration to end.
  const progressText = await progress(page).elementHandle();
  const atClick = await page.locator('#train').evaluate((button, text) => {
    const m = /Iteration (\d+) \//.exec(text?.textContent ?? '');
    (button as HTMLButtonElement).click();
    return m ? Number(m[1]) : Number.NaN;
  }, progressText);
  expect(atClick).toBeGreaterThanOrEqual(2);
  await expect(progress(page)).toContainText('paused', { timeout: 60_000 });
  const stopped = await shownIter(page);
  expect(stopped - atClick).toBeLessThanOrEqual(1);
  // Nothing moves while paused.
  await page.waitForTimeout(1500);
  expect(await shownIter(page)).toBe(stopped);
  await expect(page.locator('#train')).toHaveText('Resume');

  // Step: exactly one more iteration.
  await page.locator('#step').click();
  await expect.poll(() => shownIter(page), { timeout: 60_000 }).toBe(stopped + 1);
  await expect(progress(page)).toContainText('paused');

  await page.locator('#reset').click();
  await expect(progress(page)).toContainText('Iteration 0 / 40');
  expect(await chartPoints(page, 'reward')).toBe(0);
  await expect(page.locator("sl-chart[data-chart='reward'] .latest")).toContainText('no data yet');
  await expect(page.locator('sl-inspector')).toContainText('Train or step once');
  await expect(page.locator('#train')).toHaveText('Train');
  expect(errors).toEqual([]);
});

test('the copied link reopens the same configuration; a bad link resets with a visible notice', async ({
  page,
  context,
}) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await page.locator('#f-task').selectOption('arith');
  await page.locator('#f-algo').selectOption('srpo');
  await page.locator('#f-backend').selectOption('cpu');
  await page.locator('#f-compare').selectOption('grpo');
  await setKnob(page, 'groupSize', '6');
  await setKnob(page, 'lr', '0.00003');
  await setKnob(page, 'pMin', '0.3');
  await setKnob(page, 'rectifyCap', '3');
  const url = page.url();
  expect(url).toContain('#');

  const again = await context.newPage();
  const errorsAgain = watchErrors(again);
  await again.goto(url);
  await expect(again.locator('#f-task')).toHaveValue('arith');
  await expect(again.locator('#f-algo')).toHaveValue('srpo');
  await expect(again.locator('#f-backend')).toHaveValue('cpu');
  await expect(again.locator('#f-compare')).toHaveValue('grpo');
  await expect(again.locator('#f-groupSize')).toHaveValue('6');
  await expect(again.locator('#f-lr')).toHaveValue('0.00003');
  await expect(again.locator('#f-pMin')).toHaveValue('0.3');
  await expect(again.locator('#f-rectifyCap')).toHaveValue('3');
  expect(again.url()).toBe(url);

  // An odd G is invalid for SRPO: the field says so and Train is blocked until it is fixed.
  await setKnob(again, 'groupSize', '7');
  await expect(again.locator('#f-groupSize')).toHaveAttribute('aria-invalid', 'true');
  await expect(again.locator('#train')).toBeDisabled();

  // A bad link, opened fresh and pasted into an open page (hashchange): defaults plus a notice.
  const bad = '/#algo=nope&groupSize=abc&iters=3';
  const fresh = await context.newPage();
  const errorsFresh = watchErrors(fresh);
  for (const p of [fresh, again]) {
    await p.goto(bad);
    const notice = p.locator('.notices');
    await expect(notice).toContainText("algo='nope'");
    await expect(notice).toContainText("groupSize='abc'");
    await expect(p.locator('#f-algo')).toHaveValue('scope');
    await expect(p.locator('#f-groupSize')).toHaveValue('8');
    await expect(p.locator('#f-iters')).toHaveValue('3');
    expect(p.url()).toContain('algo=scope');
  }
  await fresh.locator('.notices button').click();
  await expect(fresh.locator('.notices')).toHaveCount(0);
  errors.push(...errorsFresh);
  expect([...errors, ...errorsAgain]).toEqual([]);
});

test('compare mode: GRPO vs SCOPE for 5 iterations shows two curves', async ({ page }, testInfo) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/#task=add&algo=scope&iters=5&evalN=20&backend=wasm');
  await page.locator('#f-compare').selectOption('grpo');
  await page.locator('#train').click();
  await expect(progress(page)).toContainText('Iteration 5 / 5 · done', { timeout: 170_000 });
  // uPlot's legend: the x value, then each run's own-samples reward and its trained-on reward (off).
  const legend = page.locator("sl-chart[data-chart='reward'] .u-legend .u-series");
  await expect(legend.locator('.u-label')).toHaveText([
    'iteration',
    "SCOPE · policy's own samples: reward",
    'SCOPE · reward of trained-on rollouts (includes teacher steps)',
    "GRPO · policy's own samples: reward",
    'GRPO · reward of trained-on rollouts (includes teacher steps)',
  ]);
  await expect(legend.nth(2)).toHaveClass(/u-off/);
  await expect(legend.nth(1)).not.toHaveClass(/u-off/);
  // The runs differ by colour, not only by dash: the legend markers' colours.
  const colours = await legend
    .locator('.u-marker')
    .evaluateAll((els) => els.slice(1).map((e) => getComputedStyle(e).borderTopColor));
  expect(colours[0]).not.toBe(colours[2]);
  // A click toggles a series (uPlot's own toggle), and hovering shows values.
  await legend.nth(2).click();
  await expect(legend.nth(2)).not.toHaveClass(/u-off/);
  const plot = page.locator("sl-chart[data-chart='reward'] .u-over");
  const pb = await plot.boundingBox();
  if (!pb) throw new Error('no plot area');
  await page.mouse.move(pb.x + pb.width - 2, pb.y + pb.height / 2);
  await expect(legend.nth(1).locator('.u-value')).not.toHaveText(/^(–|--)?$/);
  // Both curves have all five points.
  const latest = page.locator("sl-chart[data-chart='reward'] .latest");
  await expect(latest).toContainText("SCOPE · policy's own samples: reward");
  await expect(latest).toContainText("GRPO · policy's own samples: reward");
  expect((await latest.innerText()).match(/at iteration 5/g)).toHaveLength(2);
  const accuracy = await page.locator("sl-chart[data-chart='accuracy'] .latest").innerText();
  expect(accuracy).toContain('SCOPE · test (sampled)');
  expect(accuracy).toContain('GRPO · test (sampled)');
  // The inspector switches between the two runs.
  await page.locator('#inspect-run').selectOption({ label: 'GRPO' });
  await expect(page.locator('sl-inspector h2')).toContainText('Rollouts of GRPO');
  await expect(page.locator('sl-inspector li.rollout[data-origin=rectified]')).toHaveCount(0);
  await screenshot(page, testInfo, 'compare');
  expect(errors).toEqual([]);
});

test('360 px wide: nothing overflows horizontally, before and after training', async ({ page }, testInfo) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto('/#task=add&algo=scope&iters=2&evalN=20&backend=wasm');
  const overflow = () =>
    page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await overflow()).toBe(0);
  await page.locator('#train').click();
  await expect(progress(page)).toContainText('done', { timeout: 150_000 });
  await page.locator('sl-how-it-works summary').first().click();
  expect(await overflow()).toBe(0);
  // Every visible box inside the shadow roots ends within the viewport.
  const outside = await page.evaluate(`(() => {
    const out = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && (r.right > innerWidth + 0.5 || r.left < -0.5)) out.push(el.tagName + '.' + el.className);
        if (el.shadowRoot) walk(el.shadowRoot);
      }
    };
    walk(document);
    return out;
  })()`);
  expect(outside).toEqual([]);
  await screenshot(page, testInfo, 'mobile-360');
  expect(errors).toEqual([]);
});

test('keyboard only: Tab reaches Train with a visible focus ring, Enter trains, Enter again pauses', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/#task=add&algo=grpo&iters=30&evalN=20&backend=wasm');
  await page.keyboard.press('Tab');
  const focused = () =>
    page.evaluate(() => {
      let el = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      return el ? { id: el.id, tag: el.tagName, outline: getComputedStyle(el).outlineStyle } : null;
    });
  expect(await focused()).toEqual({ id: 'train', tag: 'BUTTON', outline: 'solid' });
  await page.keyboard.press('Enter');
  await expect.poll(() => shownIter(page), { timeout: 150_000 }).toBeGreaterThanOrEqual(1);
  expect((await focused())?.id).toBe('train');
  await expect(page.locator('#train')).toHaveText('Pause');
  await page.keyboard.press('Enter');
  await expect(progress(page)).toContainText('paused', { timeout: 60_000 });
  // The settings are reachable by keyboard too, each with a label.
  const unlabeled = await page.evaluate(`(() => {
    const root = document.querySelector('scope-lab-app').shadowRoot.querySelector('sl-controls').shadowRoot;
    return [...root.querySelectorAll('input, select')].filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id);
  })()`);
  expect(unlabeled).toEqual([]);
  expect(errors).toEqual([]);
});

test('checkpoints panel: a saved run is listed, exported, imported, resumed to the end and deleted', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/#task=add&algo=grpo&iters=4&evalN=20&backend=wasm');
  const panel = page.locator('sl-checkpoints');
  await expect(panel).toContainText('No saved runs yet');
  await page.locator('#step').click();
  await expect.poll(() => shownIter(page), { timeout: 150_000 }).toBe(1);
  await page.locator('#step').click();
  await expect.poll(() => shownIter(page), { timeout: 60_000 }).toBe(2);
  // Stepping saves a checkpoint; the live run cannot be deleted or resumed from the panel.
  const live = panel.locator('li.run').first();
  await expect(live).toContainText('GRPO on add');
  await expect(live).toContainText('(live)');
  await expect(live.locator('ul.cks li')).toContainText(['iteration 1', 'iteration 2']);
  await expect(live.getByRole('button', { name: /Delete GRPO run/ })).toBeDisabled();

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    live.getByRole('button', { name: 'Export iteration 2' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('scope-lab_add_grpo_seed1_iter2.scopelab');
  const file = await download.path();

  // A new setting ends the live run; importing the file adds a paused run at iteration 2.
  await setKnob(page, 'seed', '2');
  await page.locator('sl-checkpoints #import').setInputFiles(file);
  await expect(panel.locator('[role=status]')).toContainText('a paused GRPO run at iteration 2');
  await expect(panel.locator('li.run')).toHaveCount(2);

  const imported = panel.locator('li.run').first();
  await imported.getByRole('button', { name: /Resume GRPO run from iteration 2/ }).click();
  await expect(progress(page)).toContainText('Iteration 2 / 4 · paused', { timeout: 120_000 });
  await expect(page.locator('#f-seed')).toHaveValue('1');
  await expect(page.locator('#train')).toHaveText('Resume');
  await page.locator('#train').click();
  await expect(progress(page)).toContainText('Iteration 4 / 4 · done', { timeout: 150_000 });
  expect(await chartPoints(page, 'reward')).toBe(2);

  // The first run is not live any more: delete it.
  const original = panel.locator('li.run').nth(1);
  await original.getByRole('button', { name: /Delete GRPO run/ }).click();
  await expect(panel.locator('li.run')).toHaveCount(1);
  await expect(panel.locator('[role=status]')).toContainText('Deleted');

  // A file that is not a checkpoint is refused with a reason, and nothing is added.
  await page.locator('sl-checkpoints #import').setInputFiles({
    name: 'notes.scopelab',
    mimeType: 'application/octet-stream',
    buffer: Buffer.from('not a checkpoint'),
  });
  await expect(panel.locator('[role=alert]')).toContainText('not a scope-lab checkpoint file');
  await expect(panel.locator('li.run')).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('"How it works" opens the chosen algorithm, from the settings', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/#algo=srpo');
  await page.locator('sl-controls').getByRole('button', { name: 'How it works' }).click();
  const srpo = page.locator('sl-how-it-works #how-srpo');
  await expect(srpo).toHaveAttribute('open', '');
  await expect(srpo).toContainText('pMin');
  await expect(page.locator('sl-how-it-works #how-scope')).not.toHaveAttribute('open', '');
  expect(errors).toEqual([]);
});
