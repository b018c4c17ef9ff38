/**
 * TEMPORARY: an in-thread Session over Trainer/RunLoop + LocalPolicyService, so the page can be
 * built before the real worker-based session (src/browser/session.ts) lands. No workers, no storage.
 * Delete this file once session.ts is merged (one engine only).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type {
  BackendInfo,
  Session,
  SessionEventMap,
  SessionListener,
  SessionOptions,
  SessionState,
} from '../browser/session-api';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import { RunLoop, type RunSummary } from '../core/rl/run';
import { LocalPolicyService, LocalPrmService, type StoredCheckpoint } from '../core/rl/services';
import { loadPrm, prepareRlPolicy } from '../core/rl/setup';
import { type IterationResult, Trainer } from '../core/rl/trainer';
import { getTask } from '../core/tasks';

// The threaded WASM build fails to start its pthread workers from this bundle; one thread it is.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

async function fetchCheckpoint(base: URL, task: string, name: string): Promise<StoredCheckpoint> {
  const url = (ext: string) => new URL(`checkpoints/${task}/${name}.${ext}`, base);
  const [j, b] = await Promise.all([fetch(url('json')), fetch(url('bin'))]);
  if (!j.ok || !b.ok)
    throw new Error(`could not load the ${name} checkpoint from ${url('json')} (${j.status})`);
  return { manifestJson: await j.text(), blob: new Uint8Array(await b.arrayBuffer()) };
}

async function chooseBackend(requested: SessionOptions['backend']): Promise<BackendInfo> {
  const name = requested === 'auto' ? 'wasm' : requested;
  if (!(await tf.setBackend(name))) throw new Error(`backend '${name}' failed to initialise`);
  await tf.ready();
  return {
    backend: tf.getBackend() as BackendInfo['backend'],
    requested,
    adapter: null,
    threads: 1,
    note: requested === 'auto' ? 'dev session: auto picks wasm' : undefined,
  };
}

export async function createDevSession(opts: SessionOptions): Promise<Session> {
  const config = parseRlConfig(opts.config);
  const backendInfo = await chooseBackend(opts.backend);
  const base = new URL(String(opts.assetsBase), document.baseURI);
  const task = getTask(config.task);
  const [policyCk, prmCk] = await Promise.all([
    fetchCheckpoint(base, config.task, 'policy'),
    fetchCheckpoint(base, config.task, 'prm'),
  ]);
  const prm = new LocalPrmService(loadPrm(task, prmCk));
  return new DevSession(config, backendInfo, () => {
    const policy = prepareRlPolicy(task, policyCk, config);
    const makeRef = () => prepareRlPolicy(task, policyCk, config);
    return { trainer: new Trainer(task, config, new LocalPolicyService(task, policy, makeRef), prm), policy };
  });
}

class DevSession implements Session {
  state: SessionState = 'ready';
  private listeners = new Map<string, Set<(d: unknown) => void>>();
  private loop: RunLoop;
  private policy: { dispose(): void } | null = null;
  private running: Promise<RunSummary | null> | null = null;
  private stopRequested = false;

  constructor(
    readonly config: RlConfig,
    readonly backendInfo: BackendInfo,
    private readonly makeTrainer: () => { trainer: Trainer; policy: { dispose(): void } },
  ) {
    this.loop = this.newLoop();
  }

  get iter() {
    return this.loop.trainer.iter;
  }

  get runId() {
    return null;
  }

  private newLoop(): RunLoop {
    this.policy?.dispose();
    const { trainer, policy } = this.makeTrainer();
    this.policy = policy;
    return new RunLoop(trainer, {
      onEval: (iter, result) => this.emit('eval', { iter, result }),
      onIteration: (r) => this.emit('iteration', r),
    });
  }

  on<K extends keyof SessionEventMap>(type: K, listener: SessionListener<K>): () => void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener as (d: unknown) => void);
    this.listeners.set(type, set);
    return () => set.delete(listener as (d: unknown) => void);
  }

  private emit<K extends keyof SessionEventMap>(type: K, detail: SessionEventMap[K]): void {
    for (const l of this.listeners.get(type) ?? []) l(detail);
  }

  private setState(s: SessionState): void {
    this.state = s;
    this.emit('state', { state: s, iter: this.iter });
  }

  start(): Promise<RunSummary | null> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<RunSummary | null> {
    this.stopRequested = false;
    this.setState('running');
    try {
      while (!this.loop.finished && !this.stopRequested) {
        await this.loop.next();
        await new Promise((r) => setTimeout(r, 0));
      }
    } catch (e) {
      this.setState('error');
      this.emit('error', { message: e instanceof Error ? e.message : String(e) });
      throw e;
    }
    if (this.loop.finished) {
      const s = this.loop.summary();
      this.setState('done');
      this.emit('done', s);
      return s;
    }
    this.setState('paused');
    return null;
  }

  async pause(): Promise<void> {
    this.stopRequested = true;
    await this.running?.catch(() => null);
  }

  async stepOnce(): Promise<IterationResult> {
    await this.pause();
    this.setState('running');
    const r = await this.loop.next();
    this.setState(this.loop.finished ? 'done' : 'paused');
    return r;
  }

  async reset(): Promise<void> {
    await this.pause();
    this.loop = this.newLoop();
    this.setState('ready');
  }

  async dispose(): Promise<void> {
    await this.pause();
    this.policy?.dispose();
    this.listeners.clear();
  }
}
