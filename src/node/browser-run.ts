/**
 * `--runtime browser`: the same training in headless Chromium. Builds the pages with vite (or
 * reuses an up-to-date dist/), serves them with `vite preview` on a free port (COOP/COEP included),
 * opens runner.html with the run's config in its URL and relays the runner's events.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from '@playwright/test';
import { build, preview } from 'vite';
import type { BackendChoice, BackendInfo } from '../browser/session-api';
import { DEFAULT_RL, type RlConfig } from '../core/rl/config';
import type { RunSummary } from '../core/rl/run';
import type { StoredCheckpoint } from '../core/rl/services';
import type { RunnerEvent } from '../runner/main';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';

/** What the built pages depend on: a newer file here means dist/ is stale. */
const BUILD_INPUTS = ['src', 'workers', 'public', 'vite.config.ts', 'package-lock.json'];
const STAMP = '.build-stamp';

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(p).reduce((m, f) => Math.max(m, newestMtime(path.join(p, f))), st.mtimeMs);
}

/** Build dist/ unless it is newer than every input. Returns whether it built. */
export async function ensureBuilt(root: string, log: (s: string) => void): Promise<boolean> {
  const dist = path.join(root, 'dist');
  const stamp = path.join(dist, STAMP);
  const pages = readdirSync(root).filter((f) => f.endsWith('.html')); // every page is an entry
  const inputs = Math.max(...[...BUILD_INPUTS, ...pages].map((p) => newestMtime(path.join(root, p))));
  if (existsSync(stamp) && statSync(stamp).mtimeMs > inputs) return false;
  log('building the pages (vite build) ...');
  await build({ root, logLevel: 'error', configFile: path.join(root, 'vite.config.ts') });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  return true;
}

/** The runner URL's query for a config: the four main knobs, then every other one as set.key. */
export function runnerQuery(
  config: RlConfig,
  backend: BackendChoice,
  extra: Record<string, string> = {},
): string {
  const q = new URLSearchParams({
    task: config.task,
    algo: config.algo,
    iters: String(config.iters),
    seed: String(config.seed),
    backend,
  });
  for (const key of Object.keys(DEFAULT_RL) as (keyof RlConfig)[])
    if (!['task', 'algo', 'iters', 'seed'].includes(key)) q.set(`set.${key}`, String(config[key]));
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

export interface BrowserRunResult {
  summary: RunSummary;
  checkpoint: StoredCheckpoint;
  backend: BackendInfo;
  prmBackend: BackendInfo | null;
}

export interface BrowserRunOptions {
  config: RlConfig;
  backend: BackendChoice;
  root?: string;
  /** Every runner event as it arrives (iterations, evals, notices, ...). */
  onEvent?: (e: RunnerEvent) => void;
  log?: (s: string) => void;
  /** Extra runner URL parameters (storage=ns, autosave=N, soak=N; see src/runner/params.ts). */
  query?: Record<string, string>;
  /** Extra Chromium flags for this run. */
  launchArgs?: string[];
}

/**
 * Build the pages if stale, serve dist/ with `vite preview` on a free port (COOP/COEP from
 * vite.config.ts) and start the system Chromium; `fn` gets the base URL (http://localhost:PORT, no
 * trailing slash: WebGPU needs a secure context) and the browser. Both are stopped afterwards.
 */
export async function withServedChromium<T>(
  o: { root?: string; log?: (s: string) => void; launchArgs?: string[] },
  fn: (base: string, browser: Browser) => Promise<T>,
): Promise<T> {
  const root = o.root ?? process.cwd();
  const executablePath = chromiumPath();
  await ensureBuilt(root, o.log ?? (() => {}));
  const server = await preview({
    root,
    logLevel: 'warn',
    configFile: path.join(root, 'vite.config.ts'),
    preview: { port: 0, host: 'localhost', strictPort: false, open: false },
  });
  try {
    const args = [...CHROMIUM_ARGS, ...(o.launchArgs ?? [])];
    const browser = await chromium.launch({ executablePath, args }).catch((e) => {
      throw new Error(`could not start Chromium at ${executablePath}: ${e instanceof Error ? e.message : e}`);
    });
    try {
      const base = server.resolvedUrls?.local[0];
      if (!base) throw new Error('vite preview did not report a local URL');
      return await fn(base.replace(/\/$/, ''), browser);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
}

/** Train in headless Chromium; resolves with the summary and the final policy checkpoint. */
export async function runInBrowser(o: BrowserRunOptions): Promise<BrowserRunResult> {
  return withServedChromium(o, async (base, browser) => {
    const page = await browser.newPage();
    let backend: BackendInfo | null = null;
    let prmBackend: BackendInfo | null = null;
    let resolve!: (r: BrowserRunResult) => void;
    let reject!: (e: Error) => void;
    const finished = new Promise<BrowserRunResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A failure can arrive while the page is still loading, before `finished` is awaited: mark it
    // handled so Node does not crash with an unhandled rejection (the await below still throws it).
    finished.catch(() => {});
    page.on('pageerror', (e) => reject(new Error(`runner page error: ${e.message}`)));
    page.on('crash', () => reject(new Error('the Chromium page crashed')));
    await page.exposeFunction('scopeReport', (e: RunnerEvent) => {
      o.onEvent?.(e);
      if (e.type === 'ready') {
        backend = e.backend as BackendInfo;
        prmBackend = e.prmBackend as BackendInfo | null;
      } else if (e.type === 'backend') backend = e.detail as BackendInfo;
      else if (e.type === 'fatal') reject(new Error(e.message));
      else if (e.type === 'done') {
        const ck = e.finalCheckpoint;
        if (!ck || !backend) return reject(new Error('the runner finished without its final checkpoint'));
        resolve({
          summary: e.summary,
          checkpoint: {
            manifestJson: ck.manifestJson,
            blob: new Uint8Array(Buffer.from(ck.blobBase64, 'base64')),
          },
          backend,
          prmBackend,
        });
      }
    });
    const query = runnerQuery(o.config, o.backend, { ...o.query, final: '1' });
    await page.goto(`${base}/runner.html?${query}`);
    return await finished;
  });
}
