/**
 * The benchmark in headless Chromium: build the app with vite, serve it with vite's preview server
 * (COOP/COEP from vite.config.ts) on a free port, open bench.html with Playwright and wait for the
 * worker's result. Everything started here is stopped here.
 */
import { createServer } from 'node:net';
import { chromium } from '@playwright/test';
import { build, preview } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../node/chromium';
import type { BenchOptions } from './measure';
import type { BenchBackend, BrowserBenchResult } from './protocol';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface BrowserBenchRequest {
  backend: BenchBackend;
  threads?: number;
  opts: Partial<BenchOptions>;
  /** Skip `vite build` (reuse dist/). */
  noBuild?: boolean;
  timeoutMs?: number;
}

export async function benchBrowser(
  req: BrowserBenchRequest,
  log: (m: string) => void,
): Promise<BrowserBenchResult> {
  if (!req.noBuild) {
    log('browser: vite build');
    await build({ logLevel: 'warn' });
  }
  const port = await freePort();
  const server = await preview({ logLevel: 'warn', preview: { port, strictPort: true, host: '127.0.0.1' } });
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.text().startsWith('[bench]')) log(`browser: ${m.text().slice(8)}`);
    });
    page.on('pageerror', (e) => log(`browser page error: ${e.message}`));
    const q = new URLSearchParams({ backend: req.backend });
    if (req.threads !== undefined) q.set('threads', String(req.threads));
    q.set('opts', JSON.stringify(req.opts));
    // localhost: WebGPU needs a secure context.
    await page.goto(`http://localhost:${port}/bench.html?${q}`);
    const handle = await page.waitForFunction(() => window.benchResult, undefined, {
      timeout: req.timeoutMs ?? 60 * 60_000,
      polling: 500,
    });
    const res = (await handle.jsonValue()) as
      | { ok: true; result: BrowserBenchResult }
      | { ok: false; error: string };
    if (!res.ok) throw new Error(`browser bench failed: ${res.error}`);
    return res.result;
  } finally {
    await browser.close();
    await server.close();
  }
}
