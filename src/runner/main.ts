/**
 * The headless runner page: a TrainingSession configured from the URL, every event reported to the
 * driver (Playwright's exposed `scopeReport`, else one JSON console line each). Tests reach the
 * session through `window.scopeRunner`.
 */
import { TrainingSession } from '../browser/session';
import type { SessionEventMap } from '../browser/session-api';
import type { Store } from '../storage';
import { parseRunnerParams } from './params';
import { installSoakSampler, type SoakSample } from './soak';

export type RunnerEvent =
  | {
      type: 'ready';
      config: TrainingSession['config'];
      backend: unknown;
      prmBackend: unknown;
      runId: string | null;
      iter: number;
      crossOriginIsolated: boolean;
    }
  | { type: 'iteration'; metrics: SessionEventMap['iteration']['metrics'] }
  | {
      type: 'done';
      summary: SessionEventMap['done'];
      finalCheckpoint?: { iter: number; manifestJson: string; blobBase64: string };
    }
  | { type: 'fatal'; message: string }
  | { type: 'sample'; sample: SoakSample }
  | { type: Exclude<keyof SessionEventMap, 'iteration' | 'done'>; detail: unknown };

declare global {
  interface Window {
    scopeReport?: (e: RunnerEvent) => void | Promise<void>;
    scopeRunner?: {
      session: TrainingSession | null;
      ready: Promise<TrainingSession>;
      /** The IndexedDB store of the URL's namespace (export / import in tests). */
      store(): Promise<Store>;
    };
  }
}

function report(e: RunnerEvent): void {
  if (window.scopeReport) void window.scopeReport(e);
  else console.log(`scope-runner ${JSON.stringify(e)}`);
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const status = document.getElementById('status')!;

async function main(): Promise<TrainingSession> {
  const params = parseRunnerParams(location.search);
  const session = await TrainingSession.create(params.options);
  window.scopeRunner!.session = session;
  if (params.faults) session.injectFaults(params.faults);
  for (const type of ['state', 'backend', 'eval', 'checkpoint', 'notice', 'error'] as const)
    session.on(type, (detail) => report({ type, detail }));
  session.on('iteration', (r) => {
    status.textContent = `iteration ${r.metrics.iter}/${session.config.iters}`;
    report({ type: 'iteration', metrics: r.metrics });
  });
  report({
    type: 'ready',
    config: session.config,
    backend: session.backendInfo,
    prmBackend: session.prmBackendInfo,
    runId: session.runId,
    iter: session.iter,
    crossOriginIsolated: self.crossOriginIsolated,
  });
  const fatal = (e: unknown) =>
    report({ type: 'fatal', message: e instanceof Error ? e.message : String(e) });
  // 'done' comes from the session, so a run that a test paused and restarted (autostart=0, or a
  // soak that pauses to sample at rest) still reports its end.
  session.on('done', async (summary) => {
    try {
      let finalCheckpoint: Extract<RunnerEvent, { type: 'done' }>['finalCheckpoint'];
      if (params.reportFinalCheckpoint) {
        const { iter, ck } = await session.checkpointNow();
        finalCheckpoint = { iter, manifestJson: ck.manifestJson, blobBase64: base64(ck.blob) };
      }
      status.textContent = 'done';
      report({ type: 'done', summary, finalCheckpoint });
    } catch (e) {
      fatal(e);
    }
  });
  if (params.soakEvery !== null)
    await installSoakSampler(
      session,
      { every: params.soakEvery, namespace: params.options.storageNamespace! },
      (sample) => report({ type: 'sample', sample }),
      fatal,
    );
  if (params.autostart) session.start().catch(fatal);
  return session;
}

async function openRunnerStore(): Promise<Store> {
  const ns = parseRunnerParams(location.search).options.storageNamespace;
  if (!ns) throw new Error('the runner URL names no storage namespace');
  return (await import('../storage')).openStore(ns);
}

const ready = main();
window.scopeRunner = { session: null, ready, store: openRunnerStore };
ready.catch((e) => {
  status.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
  report({ type: 'fatal', message: e instanceof Error ? e.message : String(e) });
});
