/**
 * The kernel-parity page: drives ./worker.ts and shows its report. Tests call
 * `window.parity.run(options)` / `window.parity.checkErrorCapture()`; a person presses Run.
 */
import type {
  ErrorCaptureReport,
  ParityOptions,
  ParityReport,
  WorkerRequest,
  WorkerResponse,
} from './protocol';

const out = document.getElementById('out') as HTMLPreElement;
const log = (line: string) => {
  out.textContent += `${line}\n`;
};

/** One request to a fresh worker (each run starts from clean tfjs state); resolves with its answer. */
function ask<T>(request: WorkerRequest, pick: (msg: WorkerResponse) => T | undefined): Promise<T> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  return new Promise<T>((resolve, reject) => {
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`parity worker failed: ${e.message}`));
    };
    worker.onmessage = (e: MessageEvent<WorkerResponse>) => {
      const msg = e.data;
      if (msg.type === 'progress') return log(`... ${msg.message}`);
      worker.terminate();
      if (msg.type === 'failed') return reject(new Error(msg.message));
      const value = pick(msg);
      if (value === undefined) reject(new Error(`unexpected worker answer '${msg.type}'`));
      else resolve(value);
    };
    worker.postMessage(request);
  });
}

/** Worst relative difference per output: max|a-b| / max(max|b|, 1e-12), the test's metric. */
function render(report: ParityReport): void {
  log(`cpu reference: ${report.referenceSeconds.toFixed(1)} s`);
  for (const b of report.backends) {
    log(`\n${b.backend}${b.adapter ? ` (${b.adapter})` : ''}: ${b.seconds.toFixed(1)} s`);
    log(
      `  ${Object.entries(b.probeSeconds)
        .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
        .join(', ')}`,
    );
    if (b.error) log(`  ERROR ${b.error}`);
    for (const f of b.faults) log(`  DEVICE ${f.kind} in ${f.probe}: ${f.message}`);
    for (const d of b.diffs) {
      const rel = d.maxAbsDiff / Math.max(d.refMaxAbs, 1e-12);
      log(
        `  ${d.name.padEnd(28)} ${d.kind === 'exact' ? `${d.mismatches} mismatches` : rel.toExponential(2)}`,
      );
    }
  }
}

const parity = {
  async run(options: Partial<ParityOptions> = {}): Promise<ParityReport> {
    const full: ParityOptions = { backends: ['wasm', 'webgpu'], assetsBase: document.baseURI, ...options };
    const report = await ask({ type: 'run', options: full }, (m) =>
      m.type === 'report' ? m.report : undefined,
    );
    render(report);
    return report;
  },
  checkErrorCapture(): Promise<ErrorCaptureReport> {
    return ask({ type: 'check-error-capture' }, (m) => (m.type === 'error-capture' ? m.report : undefined));
  },
};

declare global {
  interface Window {
    parity: typeof parity;
  }
}
window.parity = parity;

document.getElementById('run')?.addEventListener('click', () => {
  out.textContent = '';
  parity.run().catch((e) => log(`FAILED ${e instanceof Error ? e.message : e}`));
});
