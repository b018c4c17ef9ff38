/**
 * bench.html: runs the benchmark in a dedicated worker. Query: ?backend=auto|webgpu|wasm|cpu
 * &threads=N&remeasure=1&parts=decode,sft,rl&runs=N&rlIters=N&quick=1, or opts=<BenchOptions as JSON> (what
 * `npm run bench -- --runtime browser` sends). The result lands in `window.benchResult` (and on the
 * page); progress goes to the console. Without a query the page waits for its Run button: a bare
 * visit does not start minutes of work.
 */
import { type BenchOptions, type BenchPart, QUICK_BENCH } from './options';
import type { BenchBackend, BenchMessage, BenchRequest } from './protocol';

declare global {
  interface Window {
    benchResult?: { ok: true; result: unknown } | { ok: false; error: string };
  }
}

const q = new URLSearchParams(location.search);
const num = (k: string) => (q.has(k) ? Number(q.get(k)) : undefined);
const opts: Partial<BenchOptions> = {
  ...(q.get('quick') === '1' ? QUICK_BENCH : {}),
  ...(JSON.parse(q.get('opts') ?? '{}') as Partial<BenchOptions>),
};
if (q.has('parts')) opts.parts = (q.get('parts') ?? '').split(',') as BenchPart[];
if (num('runs') !== undefined) opts.runs = opts.sftRuns = num('runs');
if (num('rlIters') !== undefined) opts.growthIters = num('rlIters');
const req: BenchRequest = {
  backend: (q.get('backend') ?? 'auto') as BenchBackend,
  threads: num('threads'),
  remeasure: q.get('remeasure') === '1',
  opts,
  base: new URL(import.meta.env.BASE_URL, location.href).href,
};

const out = document.getElementById('out') as HTMLPreElement;

function run(): void {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<BenchMessage>) => {
    const m = e.data;
    if (m.type === 'log') {
      console.log(`[bench] ${m.msg}`);
      out.textContent += `${m.msg}\n`;
    } else if (m.type === 'result') {
      out.textContent += `${JSON.stringify(m.result, null, 2)}\n`;
      window.benchResult = { ok: true, result: m.result };
    } else {
      out.textContent += `error: ${m.error}\n`;
      window.benchResult = { ok: false, error: m.error };
    }
  };
  worker.onerror = (e) => {
    window.benchResult = { ok: false, error: `worker failed to start: ${e.message}` };
  };
  worker.postMessage(req);
}

if (location.search) run();
else {
  const button = document.getElementById('run') as HTMLButtonElement;
  button.hidden = false;
  button.addEventListener('click', () => {
    button.disabled = true;
    run();
  });
}
