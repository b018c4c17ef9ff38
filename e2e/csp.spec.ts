/**
 * The built pages under a strict Content-Security-Policy without 'unsafe-eval' (issue 9, item 9),
 * and that policy shipped with them (issue 18): in a <meta> of every built page, as a header from
 * `vite preview`, and in the embed example.
 * A small node:http server in this spec serves dist/ (built by the Playwright config's webServer)
 * with the policy below on every response, so the workers get it too. Violations are collected in
 * three ways: the browser's reports (report-uri, which covers the workers), the document's
 * `securitypolicyviolation` events, and console errors. A control shows that detection works.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { EMBED_EXAMPLE_CSP, PAGE_CSP } from '../src/node/csp';
import type { RunnerEvent } from '../src/runner/main';
import { serve } from './static-server';

const DIST = path.resolve(import.meta.dirname, '..', 'dist');

/** The policy that ships with the pages (src/node/csp.ts explains each directive). */
const CSP = PAGE_CSP;

/** On every response: the policy, where to report, and `vite preview`'s isolation headers. */
const HEADERS = {
  'Content-Security-Policy': `${CSP}; report-uri /csp-report`,
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** A page embedding the built widget (dist/widget/), as a third-party page would. */
const WIDGET_PAGE = '/csp-widget.html';
const WIDGET_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>widget under CSP</title>
<script type="module" src="/widget/scope-trainer.js"></script></head>
<body><scope-trainer id="w" task="add" algo="grpo" iters="2" seed="1" backend="wasm"></scope-trainer></body></html>`;

/** A worker of our origin that tries eval: the control (served by this spec, not in dist/). */
const CONTROL_WORKER = '/csp-control-worker.js';

interface Violation {
  source: string;
  directive: string;
  blocked: string;
  sample?: string;
  where?: string;
}

/** dist/ with the CSP (+ report-uri) and the same isolation headers as `vite preview`. */
async function serveDist(reports: Violation[]): Promise<{ base: string; close(): Promise<void> }> {
  const { origin, close } = await serve(DIST, {
    host: 'localhost',
    // Only on what is served: the report collector, the favicon and the errors answer bare.
    headers: (status) => (status === 200 ? HEADERS : {}),
    pages: {
      [CONTROL_WORKER]: () => "try { eval('1') } catch {} postMessage('tried')",
      [WIDGET_PAGE]: () => WIDGET_HTML,
    },
    route: (req, res, url) => {
      if (url.pathname !== '/csp-report') return false;
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const r = (JSON.parse(body) as { 'csp-report': Record<string, string> })['csp-report'];
        reports.push({
          source: 'report-uri',
          directive: r['violated-directive'],
          blocked: r['blocked-uri'],
          sample: r['script-sample'],
          where: `${r['source-file'] ?? r['document-uri']}:${r['line-number'] ?? ''}`,
        });
        res.writeHead(204).end();
      });
      return true;
    },
    index: true,
    forbidOutside: true,
    notFound: (url, res) => {
      reports.push({ source: 'server', directive: '', blocked: '', sample: `404 ${url.pathname}` });
      res.writeHead(404).end();
    },
  });
  return { base: origin, close };
}

/** Document-level violations and console errors of a page, into `into`. */
async function watch(page: Page, into: Violation[]): Promise<void> {
  await page.exposeFunction('cspViolation', (v: Violation) => into.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { cspViolation(v: unknown): void }).cspViolation({
        source: 'event',
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        sample: e.sample,
        where: `${e.sourceFile}:${e.lineNumber}`,
      }),
    );
  });
  page.on('console', (m) => {
    if (m.type() === 'error') into.push({ source: 'console', directive: '', blocked: '', sample: m.text() });
  });
  page.on('pageerror', (e) =>
    into.push({ source: 'pageerror', directive: '', blocked: '', sample: e.message }),
  );
}

let served: { base: string; close(): Promise<void> };
const violations: Violation[] = [];

test.beforeAll(async () => {
  expect(existsSync(path.join(DIST, 'runner.html')), 'dist/ is built by the webServer').toBe(true);
  served = await serveDist(violations);
});
test.afterAll(async () => {
  await served.close();
});
test.beforeEach(() => {
  violations.length = 0;
});

/** Reports arrive asynchronously: give them a moment before judging. */
async function settledViolations(page: Page): Promise<Violation[]> {
  await page.waitForTimeout(1500);
  return [...violations];
}

test('the runner trains 2 iterations on wasm under the CSP, with no violation anywhere', async ({ page }) => {
  await watch(page, violations);
  const events: RunnerEvent[] = [];
  let done!: (e: RunnerEvent) => void;
  const finished = new Promise<RunnerEvent>((r) => {
    done = r;
  });
  await page.exposeFunction('scopeReport', (e: RunnerEvent) => {
    events.push(e);
    if (e.type === 'done' || e.type === 'fatal') done(e);
  });
  const q =
    'task=add&algo=scope&iters=2&seed=1&backend=wasm&set.evalN=4&set.promptsPerIter=2&set.groupSize=4';
  await page.goto(`${served.base}/runner.html?${q}`);
  const end = await finished;
  expect(end.type === 'fatal' ? end.message : '').toBe('');
  expect(events.filter((e) => e.type === 'iteration').length).toBe(2);
  const ready = events.find((e) => e.type === 'ready') as Extract<RunnerEvent, { type: 'ready' }>;
  expect((ready.backend as { backend: string }).backend).toBe('wasm');
  expect(ready.crossOriginIsolated).toBe(true);
  expect(await settledViolations(page)).toEqual([]);

  // The control: the same watchers do see a violation, in the page and in a worker. (Code run by
  // page.evaluate itself is exempt from CSP, so the page's attempt runs later, from a timer.)
  await page.evaluate((workerUrl) => {
    setTimeout(() => {
      try {
        new Function('return 1');
      } catch {}
    }, 0);
    const w = new Worker(workerUrl);
    return new Promise((resolve, reject) => {
      w.onmessage = resolve;
      w.onerror = (e) => reject(new Error(`the control worker failed: ${e.message}`));
    });
  }, CONTROL_WORKER);
  const seen = await settledViolations(page);
  expect(seen.some((v) => v.source === 'event' && /script-src/.test(v.directive))).toBe(true);
  expect(seen.filter((v) => v.source === 'report-uri' && v.blocked === 'eval').length).toBe(2);
});

test('the app page trains 2 iterations on wasm under the CSP, with no violation', async ({ page }) => {
  await watch(page, violations);
  await page.goto(`${served.base}/`);
  await expect(page).toHaveTitle('scope-lab');
  await page.locator('#f-task').selectOption('add');
  await page.locator('#f-algo').selectOption('scope');
  await page.locator('#f-backend').selectOption('wasm');
  for (const [key, value] of [
    ['iters', '2'],
    ['evalN', '20'],
  ]) {
    await page.locator(`#f-${key}`).fill(value);
    await page.locator(`#f-${key}`).press('Tab');
  }
  await page.locator('#train').click();
  await expect(page.locator('#progress-text')).toContainText('Iteration 2 / 2 · done', { timeout: 150_000 });
  await expect(page.locator('[data-status=backend]')).toContainText('wasm');
  expect(await settledViolations(page)).toEqual([]);
});

test('the widget trains 2 iterations on wasm on a page with the CSP, with no violation', async ({ page }) => {
  expect(existsSync(path.join(DIST, 'widget', 'scope-trainer.js')), 'dist/widget is built').toBe(true);
  await watch(page, violations);
  await page.addInitScript(() => {
    const log: string[] = [];
    (window as unknown as { widgetEvents: string[] }).widgetEvents = log;
    for (const type of ['iteration', 'done', 'error'])
      document.addEventListener(type, (e) => {
        if ((e.target as Element | null)?.localName === 'scope-trainer') log.push(type);
      });
  });
  await page.goto(`${served.base}${WIDGET_PAGE}`);
  await page.locator('#w').getByRole('button', { name: 'Train' }).click();
  const events = () => page.evaluate(() => (window as unknown as { widgetEvents: string[] }).widgetEvents);
  await expect.poll(async () => (await events()).at(-1), { timeout: 150_000 }).toMatch(/done|error/);
  expect(await events()).toEqual(['iteration', 'iteration', 'done']);
  expect(await settledViolations(page)).toEqual([]);
});

test('every built page (the app, the test pages, the embed example) loads under the CSP with no violation', async ({
  page,
}) => {
  await watch(page, violations);
  const pages = readdirSync(DIST).filter((f) => f.endsWith('.html'));
  expect(pages).toContain('index.html');
  const seen: Record<string, Violation[]> = {};
  for (const name of pages) {
    violations.length = 0;
    await page.goto(`${served.base}/${name}`);
    expect(await page.evaluate(() => document.readyState)).toBe('complete');
    seen[name] = await settledViolations(page);
  }
  expect(seen).toEqual(Object.fromEntries(pages.map((p) => [p, []])));
});

/** The policy as a <meta> element in an HTML text (vite writes the tag its own way). */
function metaPolicy(html: string): string | null {
  const m = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"\s*\/?>/i.exec(html);
  // Vite writes the quotes as character references (&#39;): decode them as a browser does.
  return m ? m[1].replaceAll('&#39;', "'").replaceAll('&quot;', '"').replaceAll('&amp;', '&') : null;
}

test('the policy ships with the built pages: a <meta> in each, a header from vite preview, and it is enforced', async ({
  page,
  baseURL,
}) => {
  for (const name of readdirSync(DIST).filter((f) => f.endsWith('.html'))) {
    const html = readFileSync(path.join(DIST, name), 'utf8');
    const policy = metaPolicy(html);
    expect(policy, name).toBe(name === 'embed-example.html' ? EMBED_EXAMPLE_CSP : PAGE_CSP);
    // Before any script: a <meta> policy only covers what follows it.
    expect(html.indexOf('http-equiv="Content-Security-Policy"'), name).toBeLessThan(html.indexOf('<script'));
  }
  // The built app as `vite preview` serves it (the same server every other e2e test uses).
  await watch(page, violations);
  const res = await page.goto(`${baseURL}/`);
  expect(res?.headers()['content-security-policy']).toBe(PAGE_CSP);
  await expect(page).toHaveTitle('scope-lab');
  await expect(page.locator('#train')).toBeVisible();
  expect(await settledViolations(page)).toEqual([]);
  // Enforced: an injected inline script does not run, and the violation is reported.
  await page.addScriptTag({ content: 'window.injected = true' }).catch(() => {});
  expect(await page.evaluate(() => (window as { injected?: boolean }).injected)).toBeUndefined();
  const seen = await settledViolations(page);
  expect(seen.some((v) => v.source === 'event' && /script-src/.test(v.directive))).toBe(true);
});

test('the embed example, as shipped (its own <meta> policy, no header), trains a widget with no violation', async ({
  page,
}) => {
  // Served bare (no CSP header): only the page's own <meta> applies, as on a host we do not control.
  const { origin, close } = await serve(DIST, { host: 'localhost', index: true, forbidOutside: true });
  try {
    await watch(page, violations);
    await page.addInitScript(() => {
      const log: string[] = [];
      (window as unknown as { widgetEvents: string[] }).widgetEvents = log;
      for (const type of ['iteration', 'done', 'error'])
        document.addEventListener(type, (e) => {
          if ((e.target as Element | null)?.id === 'grpo-demo') log.push(type);
        });
    });
    const res = await page.goto(`${origin}/embed-example.html`);
    expect(res?.headers()['content-security-policy']).toBeUndefined();
    await page.locator('#grpo-demo').getByRole('button', { name: 'Train' }).click();
    const events = () => page.evaluate(() => (window as unknown as { widgetEvents: string[] }).widgetEvents);
    await expect.poll(async () => (await events())[0], { timeout: 150_000 }).toMatch(/iteration|error/);
    expect((await events())[0]).toBe('iteration');
    await page.locator('#grpo-demo').getByRole('button', { name: 'Pause' }).click();
    expect(await settledViolations(page)).toEqual([]);
    // Enforced there too.
    await page.addScriptTag({ content: 'window.injected = true' }).catch(() => {});
    expect(await page.evaluate(() => (window as { injected?: boolean }).injected)).toBeUndefined();
  } finally {
    await close();
  }
});
