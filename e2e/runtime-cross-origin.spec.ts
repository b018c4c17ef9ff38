/**
 * The session when its module (and so its workers and WASM binaries) comes from another origin than
 * the page, as for the embeddable widget: the workers start through a same-origin blob trampoline.
 */
import { expect, test } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';
import { CHROMIUM_ARGS, chromiumPath } from '../src/node/chromium';
import { SMALL } from './runner';

// The host page below is fulfilled by Playwright, so Chromium files it under the public address
// space and blocks its requests to the loopback server (Local Network Access). A real embedding
// page and asset server are both public: only this test needs the check off.
test.use({
  launchOptions: {
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks'],
  },
});

test('the session runs when its module is served from another origin than the page (the widget case)', async ({
  page,
  baseURL,
}) => {
  test.setTimeout(300_000);
  // localhost and 127.0.0.1 are two origins; vite preview answers both with CORS for local origins.
  const other = baseURL!.replace('localhost', '127.0.0.1');
  expect(other).not.toBe(baseURL);
  const html = await (await page.request.get(`${other}/runner.html`)).text();
  const entry = /src="(\/assets\/runner-[^"]+\.js)"/.exec(html)?.[1];
  expect(entry).toBeTruthy();
  // A page of this origin (no COOP/COEP, like a page embedding the widget) loads the other's module.
  await page.route(`${baseURL}/host.html*`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><p id="status"></p><script type="module" src="${other}${entry}"></script>`,
    }),
  );
  await page.goto(
    `${baseURL}/host.html?task=add&algo=scope&iters=1&seed=1&backend=wasm&${SMALL}&autostart=0`,
  );
  await page.waitForFunction(() => window.scopeRunner !== undefined);
  const r = await page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const summary = await s.start();
    return {
      iters: summary?.iters,
      backend: s.backendInfo?.backend,
      prm: s.prmBackendInfo?.backend,
      isolated: self.crossOriginIsolated,
      origin: location.origin,
      cores: navigator.hardwareConcurrency,
    };
  });
  expect(r).toMatchObject({ iters: 1, backend: 'wasm', prm: 'wasm', isolated: false, origin: baseURL });
  // The workers were started through a same-origin trampoline importing the other origin's script:
  // the policy and PRM workers by the page, the gradient worker (the updates' second shard) by the
  // policy worker (where there is a second core).
  const workers = page.workers().map((w) => w.url());
  expect(workers.filter((u) => u.startsWith(`blob:${baseURL}`))).toHaveLength(r.cores >= 2 ? 3 : 2);
});
