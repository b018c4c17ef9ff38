/**
 * <scope-trainer> on a page we do not control: the example page is served from one origin and
 * loads the built widget (dist/widget/, from `npm run build`) from a second origin that only sends
 * CORS headers. Neither origin sends COOP/COEP, so the page is not cross-origin isolated and the
 * workers run single-threaded WASM. The page also carries a hostile stylesheet.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { measureWidget, WIDGET_JS_GZIP_BUDGET } from '../scripts/widget-size';
import { EMBED_EXAMPLE_CSP, embedCspFor } from '../src/node/csp';
import { type StaticServer, serve as serveStatic } from './static-server';

const DIST = resolve(import.meta.dirname, '../dist');
const WIDGET_DIR = join(DIST, 'widget');

/**
 * A stylesheet that hides everything it can reach and restyles every button and text. (It leaves
 * the root's font-size alone: `rem` inside a shadow root follows the page's <html>, a known limit
 * reported to the UI components.) The page's own landmark (<main>) stays shown: the widget inside it is
 * what is under attack.
 */
const HOSTILE_CSS = `
  * { display: none !important; color: transparent !important; pointer-events: none !important;
      visibility: hidden !important; }
  body, body * { font-size: 3px !important; line-height: 0 !important; font-family: fantasy !important; }
  html, body, main { display: block !important; visibility: visible !important; pointer-events: auto !important; }
  button { display: none !important; opacity: 0 !important; width: 0 !important; height: 0 !important;
           padding: 0 !important; border: 0 !important; }
  canvas, svg, div, p { display: none !important; }
`;

/** A plain static file server on 127.0.0.1 (a free port); `pages` serves generated HTML. */
function serve(
  root: string,
  opts: { cors: boolean; pages?: Record<string, (query: URLSearchParams) => string> },
): Promise<StaticServer> {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (opts.cors) headers['Access-Control-Allow-Origin'] = '*';
  return serveStatic(root, { headers, pages: opts.pages });
}

let widgetServer: StaticServer;
let pageServer: StaticServer;

/** The example page as a host would serve it: the widget from the other origin, 3 iterations. */
function examplePage(): string {
  const html = readFileSync(join(DIST, 'embed-example.html'), 'utf8');
  const src = './widget/scope-trainer.js';
  expect(html).toContain(src);
  // The example's strict CSP, opened to the widget's origin as its comment tells a host to do.
  expect(html).toContain(EMBED_EXAMPLE_CSP);
  return html
    .replace(src, `${widgetServer.origin}/scope-trainer.js`)
    .replace(EMBED_EXAMPLE_CSP, embedCspFor(widgetServer.origin))
    .replaceAll(/iters="\d+"/g, 'iters="3"')
    .replace('</head>', `<style id="hostile">${HOSTILE_CSS}</style></head>`);
}

/**
 * Iterations of the resume test's run: enough that Pause (clicked after the first iteration, taking
 * effect within one more) lands well before the end, however fast an iteration has become.
 */
const RESUME_ITERS = 12;

/** One GRPO widget; `?autostart` adds the attribute. */
function resumePage(query: URLSearchParams): string {
  const autostart = query.has('autostart') ? ' autostart' : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>resume</title>
    <script type="module" src="${widgetServer.origin}/scope-trainer.js"></script></head>
    <body><scope-trainer id="resumable" task="add" algo="grpo" iters="${RESUME_ITERS}" seed="3"${autostart}></scope-trainer></body></html>`;
}

/** A widget whose `assets` base has no checkpoints (the page origin serves nothing there). */
function missingAssetsPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>missing assets</title>
    <script type="module" src="${widgetServer.origin}/scope-trainer.js"></script></head>
    <body><scope-trainer id="lost" task="add" algo="grpo" assets="/no-such-models/"></scope-trainer></body></html>`;
}

/** A SCOPE widget racing GRPO, 2 iterations, and a compact widget showing the accuracy chart. */
function racePage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>race</title>
    <script type="module" src="${widgetServer.origin}/scope-trainer.js"></script></head>
    <body><main><h1>Race</h1>
    <scope-trainer id="race" algo="scope" race="grpo" iters="2" eval-n="10" tau="0.4" group-size="6" view="full"></scope-trainer>
    <scope-trainer id="acc" algo="grpo" chart="accuracy"></scope-trainer></main></body></html>`;
}

function badTaskPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>bad task</title>
    <script type="module" src="${widgetServer.origin}/scope-trainer.js"></script></head>
    <body><p>Text before.</p><scope-trainer id="bad" task="nope"></scope-trainer></body></html>`;
}

test.beforeAll(async () => {
  try {
    readFileSync(join(WIDGET_DIR, 'scope-trainer.js'));
    readFileSync(join(DIST, 'embed-example.html'));
  } catch {
    throw new Error('dist/widget or dist/embed-example.html is missing: run `npm run build` first');
  }
  widgetServer = await serve(WIDGET_DIR, { cors: true });
  pageServer = await serve(join(DIST, 'nothing-else'), {
    cors: false,
    pages: {
      '/embed-example.html': examplePage,
      '/bad-task.html': badTaskPage,
      '/resume.html': resumePage,
      '/missing-assets.html': missingAssetsPage,
      '/race.html': racePage,
    },
  });
});

test.afterAll(async () => {
  await widgetServer?.close();
  await pageServer?.close();
});

interface Logged {
  type: string;
  id: string;
  detail: unknown;
}

/** Before any page script: the window's own keys, and a log of the widgets' events. */
async function instrument(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const log: unknown[] = [];
    Object.defineProperty(window, '__widgetTest', {
      value: { keysBefore: Object.keys(window), log },
      enumerable: false,
    });
    // The widget's own events, and its components' events that must not reach the page.
    for (const type of ['iteration', 'done', 'error', 'train', 'pause', 'step', 'reset', 'color-by-change'])
      document.addEventListener(type, (e) => {
        const target = e.target as Element | null;
        if (target?.localName !== 'scope-trainer') return;
        log.push({
          type,
          id: target.id,
          detail: JSON.parse(JSON.stringify((e as CustomEvent).detail ?? null)),
        });
      });
  });
}

type TestWindow = Window & { __widgetTest: { keysBefore: string[]; log: Logged[] } };

const events = (page: Page) => page.evaluate(() => (window as unknown as TestWindow).__widgetTest.log);

test('two widgets from another origin train 3 iterations each on a hostile, non-isolated page', async ({
  page,
}) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await instrument(page);
  await page.goto(`${pageServer.origin}/embed-example.html`);
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(false);

  const ids = ['grpo-demo', 'scope-demo'];
  for (const id of ids) {
    const widget = page.locator(`#${id}`);
    await expect(widget).toBeVisible();
    const train = widget.getByRole('button', { name: 'Train' });
    await expect(train).toBeVisible();
    const box = await train.boundingBox();
    expect(box && box.width > 20 && box.height > 15).toBe(true);
    await train.click();
  }

  await expect
    .poll(async () => (await events(page)).filter((e) => e.type === 'done').length, { timeout: 170_000 })
    .toBe(2);
  const log = await events(page);
  expect(log.filter((e) => !['iteration', 'done'].includes(e.type))).toEqual([]);
  for (const [id, algo] of [
    ['grpo-demo', 'grpo'],
    ['scope-demo', 'scope'],
  ]) {
    const its = log.filter((e) => e.type === 'iteration' && e.id === id).map((e) => e.detail);
    expect(its.map((m) => (m as { iter: number }).iter)).toEqual([1, 2, 3]);
    for (const m of its as { algo: string; rewardMean: number; timeMs: { total: number } }[]) {
      expect(m.algo).toBe(algo);
      expect(m.rewardMean).toBeGreaterThanOrEqual(0);
      expect(m.rewardMean).toBeLessThanOrEqual(1);
      expect(m.timeMs.total).toBeGreaterThan(0);
    }
    const done = log.find((e) => e.type === 'done' && e.id === id)!.detail as { iters: number; algo: string };
    expect(done).toMatchObject({ iters: 3, algo });
    // The chart shows the three iterations.
    const chart = page.locator(`#${id} sl-chart`).first();
    await expect(chart.locator('canvas').first()).toBeVisible();
    const canvasBox = await chart.locator('canvas').first().boundingBox();
    expect(canvasBox && canvasBox.width > 100 && canvasBox.height > 80).toBe(true);
    await expect(chart.locator('p.latest')).toHaveAttribute('data-points', '3');
    // view="full" (the SCOPE widget) adds the inspector of the latest iteration; compact has none.
    const inspector = page.locator(`#${id} sl-inspector`);
    if (algo === 'scope') await expect(inspector.getByText('Rollout inspector · iteration 3')).toBeVisible();
    else await expect(inspector).toHaveCount(0);
    // Text inside keeps its own size (the page's `font-size: 3px !important` stays outside).
    const textSize = await page
      .locator(`#${id} sl-run-buttons #progress-text`)
      .evaluate((el) => Number.parseFloat(getComputedStyle(el).fontSize));
    expect(textSize).toBeGreaterThanOrEqual(12);
    const info = await page
      .locator(`#${id}`)
      .evaluate((el) => (el as unknown as { backendInfo: unknown }).backendInfo);
    expect(info).toMatchObject({ backend: 'wasm', threads: 1 });
  }

  const shot = test.info().outputPath('embed-example-hostile-css.png');
  await page.screenshot({ path: shot, fullPage: true });
  await test.info().attach('embed-example-hostile-css', { path: shot, contentType: 'image/png' });

  // Everything of the widget came from its own origin; the page origin served only the page.
  const fromWidget = widgetServer.requests;
  expect(fromWidget).toContain('/scope-trainer.js');
  expect(fromWidget.some((p) => /^\/policy\.worker-.*\.js$/.test(p))).toBe(true);
  expect(fromWidget.some((p) => /^\/prm\.worker-.*\.js$/.test(p))).toBe(true);
  expect(fromWidget.some((p) => p.endsWith('.wasm'))).toBe(true);
  expect(fromWidget.some((p) => /^\/tfjs-.*\.js$/.test(p))).toBe(true);
  expect(fromWidget).toContain('/checkpoints/add/policy.bin');
  expect(fromWidget).toContain('/checkpoints/add/prm.bin');
  expect(pageServer.requests.filter((p) => p !== '/favicon.ico')).toEqual(['/embed-example.html']);

  // Each widget has its own IndexedDB namespace, holding its one run.
  const stored = await page.evaluate(async () => {
    const names = (await indexedDB.databases()).map((d) => d.name ?? '').sort();
    return names;
  });
  // Besides them only the backend decision cache of `backend: auto` (workers/backend-cache.ts, one per
  // origin, shared by every widget), when the workers opened it.
  expect(stored.filter((n) => n !== 'scope-lab-backend-choice')).toEqual([
    'scope-lab-store/scope-trainer/grpo-demo',
    'scope-lab-store/scope-trainer/scope-demo',
  ]);

  // No globals and no styles leaked into the host page.
  const leaks = await page.evaluate(() => {
    const w = window as unknown as TestWindow;
    const before = new Set(w.__widgetTest.keysBefore);
    return {
      newKeys: Object.keys(window).filter((k) => !before.has(k)),
      adopted: document.adoptedStyleSheets.length,
      sheets: document.styleSheets.length,
      styleNodes: document.querySelectorAll('style, link[rel="stylesheet"]').length,
    };
  });
  expect(leaks.newKeys).toEqual([]);
  expect(leaks.adopted).toBe(0);
  expect(leaks.sheets).toBe(leaks.styleNodes);
  expect(leaks.styleNodes).toBe(2); // the page's own <style> and the hostile one
  expect(consoleErrors).toEqual([]);
});

test('task="nope" shows a clear message inside the widget and fires error', async ({ page }) => {
  await instrument(page);
  const firstRequest = widgetServer.requests.length;
  await page.goto(`${pageServer.origin}/bad-task.html`);
  const widget = page.locator('#bad');
  const alert = widget.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('invalid task "nope"');
  await expect(alert).toContainText('add');
  await expect
    .poll(async () => (await events(page)).filter((e) => e.type === 'error'))
    .toEqual([
      { type: 'error', id: 'bad', detail: { message: expect.stringContaining('invalid task "nope"') } },
    ]);
  // The page loaded the element's module only: no workers, tfjs, WASM or checkpoints before a start
  // (tfjs is only ever imported by the workers).
  const loaded = widgetServer.requests.slice(firstRequest);
  expect(loaded).toContain('/scope-trainer.js');
  expect(loaded.filter((p) => /tfjs|worker|\.wasm|checkpoints/.test(p))).toEqual([]);
  // Fixing the attribute clears the message and the widget is usable.
  await widget.evaluate((el) => el.setAttribute('task', 'add'));
  await expect(alert).toHaveCount(0);
  await expect(widget.getByRole('button', { name: 'Train' })).toBeEnabled();
});

test('a paused widget resumes its run after a reload (autostart), from its own namespace', async ({
  page,
}) => {
  await instrument(page);
  await page.goto(`${pageServer.origin}/resume.html`);
  const widget = page.locator('#resumable');
  await widget.getByRole('button', { name: 'Train' }).click();
  await expect
    .poll(async () => (await events(page)).filter((e) => e.type === 'iteration').length, { timeout: 60_000 })
    .toBeGreaterThan(0);
  await widget.getByRole('button', { name: 'Pause' }).click();
  await expect(widget.getByRole('button', { name: 'Resume' })).toBeEnabled();
  const before = (await events(page))
    .filter((e) => e.type === 'iteration')
    .map((e) => (e.detail as { iter: number }).iter);
  const pausedAt = before.at(-1)!;
  expect(pausedAt).toBeLessThan(RESUME_ITERS);

  // The same page again (same origin, same namespace), now with `autostart`: it resumes by itself.
  await page.goto(`${pageServer.origin}/resume.html?autostart`);
  await expect
    .poll(async () => (await events(page)).filter((e) => e.type === 'done').length, { timeout: 120_000 })
    .toBe(1);
  const after = (await events(page))
    .filter((e) => e.type === 'iteration')
    .map((e) => (e.detail as { iter: number }).iter);
  expect(after).toEqual(Array.from({ length: RESUME_ITERS - pausedAt }, (_, i) => pausedAt + 1 + i));
  expect(await events(page).then((l) => l.filter((e) => e.type === 'error'))).toEqual([]);

  // GRPO needs the policy worker only (and, with a second core, its gradient worker, which shares
  // the updates); removing the widget ends them.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  expect(page.workers().length).toBe(cores >= 2 ? 2 : 1);
  await widget.evaluate((el) => el.remove());
  await expect.poll(() => page.workers().length).toBe(0);

  // The finished run survives a reload: shown done, every point on its chart, no model loaded.
  await page.goto(`${pageServer.origin}/resume.html`);
  await expect(widget.locator('#progress-text')).toContainText(
    `Iteration ${RESUME_ITERS} / ${RESUME_ITERS} · done`,
  );
  await expect(widget.locator('sl-chart .latest')).toHaveAttribute('data-points', String(RESUME_ITERS));
  expect(page.workers().length).toBe(0);
});

test('a run that cannot load its checkpoints says why and fires error', async ({ page }) => {
  await instrument(page);
  await page.goto(`${pageServer.origin}/missing-assets.html`);
  const widget = page.locator('#lost');
  await widget.getByRole('button', { name: 'Train' }).click();
  const alert = widget.getByRole('alert');
  await expect(alert).toContainText('could not load the policy checkpoint');
  await expect(alert).toContainText(`${pageServer.origin}/no-such-models/checkpoints/add/policy`);
  await expect.poll(async () => (await events(page)).map((e) => [e.type, e.id])).toEqual([['error', 'lost']]);
  expect(pageServer.requests).toContain('/no-such-models/checkpoints/add/policy.json');
});

test('the built widget JS is at most 1 MB gzipped', () => {
  const size = measureWidget(WIDGET_DIR);
  expect(size.files.some((f) => f.file === 'scope-trainer.js')).toBe(true);
  expect(size.files.filter((f) => f.kind === 'wasm').length).toBeGreaterThan(0);
  expect(size.js.gzip).toBeLessThanOrEqual(WIDGET_JS_GZIP_BUDGET);
});

test('attributes: race trains a second algorithm beside the first on shared axes; chart picks the compact chart', async ({
  page,
}) => {
  await instrument(page);
  await page.goto(`${pageServer.origin}/race.html`);
  await expect(page.locator('#acc sl-chart h3')).toHaveText('Held-out accuracy');
  const race = page.locator('#race');
  await expect(race.locator('h2.title')).toContainText('SCOPE vs GRPO');
  await race.getByRole('button', { name: 'Train' }).click();
  await expect
    .poll(async () => (await events(page)).filter((e) => e.type === 'done').length, { timeout: 150_000 })
    .toBe(2);
  const done = (await events(page))
    .filter((e) => e.type === 'done')
    .map((e) => e.detail as { algo: string; config: { tau: number; groupSize: number } });
  expect(done.map((d) => d.algo).sort()).toEqual(['grpo', 'scope']);
  for (const d of done) expect(d.config).toMatchObject({ tau: 0.4, groupSize: 6 });
  // One reward chart, both runs on it.
  const labels = race.locator("sl-chart[data-chart='reward'] .u-legend .u-label");
  await expect(labels).toContainText(["SCOPE · policy's own samples: reward"]);
  await expect(labels).toContainText(["GRPO · policy's own samples: reward"]);
  await expect(race.locator('#progress-text')).toContainText('Iteration 2 / 2 · done');
});
