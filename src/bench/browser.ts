/**
 * The benchmark in headless Chromium: the built pages served as for `--runtime browser`
 * (withServedChromium), bench.html opened with the options in its query, the worker's result awaited.
 */
import { withServedChromium } from '../node/browser-run';
import type { BenchOptions } from './measure';
import type { BenchBackend, BrowserBenchResult } from './protocol';

export interface BrowserBenchRequest {
  backend: BenchBackend;
  threads?: number;
  /** `auto`: measure the backends even on a software adapter. */
  remeasure?: boolean;
  opts: Partial<BenchOptions>;
  timeoutMs?: number;
}

export async function benchBrowser(
  req: BrowserBenchRequest,
  log: (m: string) => void,
): Promise<BrowserBenchResult> {
  return withServedChromium({ log: (m) => log(`browser: ${m}`) }, async (base, browser) => {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.text().startsWith('[bench]')) log(`browser: ${m.text().slice(8)}`);
    });
    page.on('pageerror', (e) => log(`browser page error: ${e.message}`));
    const q = new URLSearchParams({ backend: req.backend });
    if (req.threads !== undefined) q.set('threads', String(req.threads));
    if (req.remeasure) q.set('remeasure', '1');
    q.set('opts', JSON.stringify(req.opts));
    await page.goto(`${base}/bench.html?${q}`);
    const handle = await page.waitForFunction(() => window.benchResult, undefined, {
      timeout: req.timeoutMs ?? 60 * 60_000,
      polling: 500,
    });
    const res = (await handle.jsonValue()) as
      | { ok: true; result: BrowserBenchResult }
      | { ok: false; error: string };
    if (!res.ok) throw new Error(`browser bench failed: ${res.error}`);
    return res.result;
  });
}
