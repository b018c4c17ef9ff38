/**
 * A training session in the page: the shared RunLoop and Trainer run here, on the main thread,
 * over the policy and PRM workers (the maths is light; the models, and so the heavy work, live in
 * the workers). It persists to IndexedDB when asked: a stored run, a checkpoint every
 * `autosaveEvery` iterations and on pause / at the end, and the metrics history; a stored run
 * resumes exactly where its latest checkpoint left it (the coordinator RNG is in the checkpoint).
 */
import type { PolicyWorkerApi, PrmWorkerApi, WorkerEvent } from '../../workers/protocol';
import type { EvalOptions } from '../core/evaluate';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import type { UpdateBatch } from '../core/rl/loss';
import { RunLoop, type RunSummary } from '../core/rl/run';
import type {
  GenerateRequest,
  PolicyService,
  PrmService,
  StoredCheckpoint,
  UpdateOptions,
} from '../core/rl/services';
import { type IterationResult, Trainer } from '../core/rl/trainer';
import { Rng, type RngState } from '../core/rng';
import { getTask } from '../core/tasks';
import type { Store } from '../storage';
import type {
  BackendInfo,
  Session,
  SessionEventMap,
  SessionListener,
  SessionOptions,
  SessionState,
} from './session-api';
import { type RemotePolicyService, startPolicyWorker, startPrmWorker, type WorkerHandle } from './workers';

/** Opens the IndexedDB store of a namespace (replaceable in tests). */
export type StoreOpener = (namespace: string) => Promise<Store>;

/** The real store, loaded on demand: a session without persistence never pulls it in. */
const openIndexedDbStore: StoreOpener = async (namespace) =>
  (await import('../storage')).openStore(namespace);

/** Defaults of the optional session knobs. */
export const SESSION_DEFAULTS = {
  /** IndexedDB namespace when the caller names none (null disables persistence). */
  storageNamespace: 'scope-lab',
  /** Autosave a checkpoint every N iterations (0: only on pause and at the end). */
  autosaveEvery: 10,
} as const;

/** Algorithms that score steps with the learned PRM (and so need the PRM worker). */
function needsPrm(c: RlConfig): boolean {
  return (c.algo === 'scope' || c.algo === 'prm-dense') && c.prmMode === 'learned';
}

async function fetchCheckpoint(base: URL, task: string, name: 'policy' | 'prm'): Promise<StoredCheckpoint> {
  const get = async (ext: string) => {
    const url = new URL(`checkpoints/${task}/${name}.${ext}`, base);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`could not load the ${name} checkpoint: ${url.href} answered ${res.status}`);
    return res;
  };
  const [json, bin] = await Promise.all([get('json'), get('bin')]);
  return { manifestJson: await json.text(), blob: new Uint8Array(await bin.arrayBuffer()) };
}

/**
 * The worker's PolicyService, plus the coordinator's RNG state in every checkpoint's meta: with it
 * a resumed run draws the same problems as an uninterrupted one.
 */
class RunPolicy implements PolicyService {
  constructor(
    readonly inner: RemotePolicyService,
    private readonly trainerRng: () => RngState,
  ) {}
  describe() {
    return this.inner.describe();
  }
  generate(r: GenerateRequest[], o: { temperature: number; topP: number; greedy?: boolean }) {
    return this.inner.generate(r, o);
  }
  update(b: UpdateBatch, o: UpdateOptions) {
    return this.inner.update(b, o);
  }
  evaluate(o: Partial<EvalOptions>) {
    return this.inner.evaluate(o);
  }
  checkpoint(meta: Record<string, unknown>) {
    return this.inner.checkpoint({ ...meta, trainerRng: this.trainerRng() });
  }
  load(ck: StoredCheckpoint) {
    return this.inner.load(ck);
  }
  numTensors() {
    return this.inner.numTensors();
  }
}

function trainerRngOf(ck: StoredCheckpoint): RngState | null {
  const meta = (JSON.parse(ck.manifestJson) as { meta?: { trainerRng?: RngState } }).meta;
  return meta?.trainerRng ?? null;
}

export class TrainingSession implements Session {
  private listeners = new Map<keyof SessionEventMap, Set<(d: never) => void>>();
  private _state: SessionState = 'loading';
  private _runId: string | null = null;
  private _backend: BackendInfo | null = null;
  /** The PRM worker's backend (null when the algorithm needs no PRM). */
  prmBackendInfo: BackendInfo | null = null;
  private trainer!: Trainer;
  private loop!: RunLoop;
  private running: Promise<RunSummary | null> | null = null;
  private stopRequested = false;
  private stepping = false;
  /** The latest checkpoint taken (on schedule, autosave, pause or at the end). */
  private latest: { iter: number; ck: StoredCheckpoint } | null = null;
  private lastSavedIter = -1;
  private disposed = false;

  private policyWorker: WorkerHandle<PolicyWorkerApi> | null = null;
  private prmWorker: WorkerHandle<PrmWorkerApi> | null = null;
  private policy: RunPolicy | null = null;
  private prm: PrmService | null = null;
  /** The prepared starting state (weights, fresh Adam, seeded sampling) that `reset` returns to. */
  private initial: StoredCheckpoint | null = null;

  private constructor(
    readonly config: RlConfig,
    private readonly opts: SessionOptions,
    private readonly store: Store | null,
  ) {}

  /**
   * Validate the config, fetch the checkpoints, start the workers, and (with `resumeRunId`) load
   * the stored run's latest checkpoint. `openStore` replaces the IndexedDB store (tests).
   */
  static async create(
    opts: SessionOptions,
    openStore: StoreOpener = openIndexedDbStore,
  ): Promise<TrainingSession> {
    const namespace =
      opts.storageNamespace === undefined ? SESSION_DEFAULTS.storageNamespace : opts.storageNamespace;
    const store = namespace === null ? null : await openStore(namespace);
    try {
      let config = parseRlConfig(opts.config);
      let resume: { iter: number; ck: StoredCheckpoint } | null = null;
      let runId: string | null = null;
      if (opts.resumeRunId) {
        if (!store) throw new Error('resumeRunId needs persistence (storageNamespace is null)');
        const run = await store.getRun(opts.resumeRunId);
        if (!run) throw new Error(`no stored run '${opts.resumeRunId}' to resume`);
        config = parseRlConfig({ ...run.config });
        const latest = await store.latestCheckpoint(run.id);
        resume = latest && { iter: latest.iter, ck: latest.ck };
        // Iterations after the checkpoint (run before a reload, never saved) will run again.
        await store.deleteMetricsAfter(run.id, resume?.iter ?? 0);
        runId = run.id;
      }
      const s = new TrainingSession(config, opts, store);
      try {
        await s.boot(resume, runId);
      } catch (e) {
        s.terminateWorkers();
        throw e;
      }
      return s;
    } catch (e) {
      store?.close();
      throw e;
    }
  }

  get state(): SessionState {
    return this._state;
  }
  get iter(): number {
    return this.trainer?.iter ?? 0;
  }
  get backendInfo(): BackendInfo | null {
    return this._backend;
  }
  get runId(): string | null {
    return this._runId;
  }

  on<K extends keyof SessionEventMap>(type: K, listener: SessionListener<K>): () => void {
    const set = this.listeners.get(type) ?? new Set();
    this.listeners.set(type, set);
    set.add(listener as (d: never) => void);
    return () => set.delete(listener as (d: never) => void);
  }

  private emit<K extends keyof SessionEventMap>(type: K, detail: SessionEventMap[K]): void {
    for (const l of this.listeners.get(type) ?? []) {
      try {
        (l as SessionListener<K>)(detail);
      } catch (e) {
        console.error(`session '${type}' listener failed`, e);
      }
    }
  }

  private setState(state: SessionState): void {
    this._state = state;
    this.emit('state', { state, iter: this.iter });
  }

  // -----------------------------------------------------------------------------------------------
  // Set-up

  private async boot(resume: { iter: number; ck: StoredCheckpoint } | null, runId: string | null) {
    const c = this.config;
    const base = new URL(String(this.opts.assetsBase), self.location.href);
    const req = { task: c.task, backend: this.opts.backend };
    const onCrash = (message: string) => this.fail(new Error(message));
    const [policyCk, prmCk] = await Promise.all([
      fetchCheckpoint(base, c.task, 'policy'),
      needsPrm(c) ? fetchCheckpoint(base, c.task, 'prm') : null,
    ]);
    const [polStarted, prmStarted] = await Promise.allSettled([
      startPolicyWorker(
        { ...req, checkpoint: policyCk, rl: { seed: c.seed, adamEps: c.adamEps } },
        (e) => this.onWorkerEvent('policy', e),
        onCrash,
      ),
      prmCk
        ? startPrmWorker({ ...req, checkpoint: prmCk }, (e) => this.onWorkerEvent('prm', e), onCrash)
        : null,
    ]);
    // Keep whichever started, so a failure of the other still ends it.
    if (polStarted.status === 'fulfilled') this.policyWorker = polStarted.value.handle;
    if (prmStarted.status === 'fulfilled') this.prmWorker = prmStarted.value?.handle ?? null;
    if (polStarted.status === 'rejected') throw polStarted.reason;
    if (prmStarted.status === 'rejected') throw prmStarted.reason;
    const pol = polStarted.value;
    const prm = prmStarted.value;
    this.prm = prm?.service ?? null;
    this._backend = pol.info;
    this.prmBackendInfo = prm?.info ?? null;
    this.policy = new RunPolicy(pol.service, () => this.trainer.rng.getState());
    this.initial = await pol.service.checkpoint({});
    if (resume) await pol.service.load(resume.ck);
    this.newRun(resume, runId);
    if (this.store && !runId) this._runId = (await this.store.createRun(c)).id;
    this.emit('backend', pol.info);
    this.setState(resume ? 'paused' : 'ready');
  }

  /** A fresh trainer and loop, at iteration 0 or at a resumed checkpoint. */
  private newRun(resume: { iter: number; ck: StoredCheckpoint } | null, runId: string | null): void {
    const c = this.config;
    let rng: Rng | undefined;
    if (resume) {
      const state = trainerRngOf(resume.ck);
      if (!state)
        console.warn('the checkpoint carries no coordinator RNG state: the resumed run draws new problems');
      rng = state
        ? Rng.fromState(state)
        : new Rng(`rl/${c.task}/${c.algo}/${c.seed}/resumed-at-${resume.iter}`);
    }
    const task = getTask(c.task);
    this.trainer = new Trainer(task, this.config, this.policy!, this.prm, rng);
    this.trainer.iter = resume?.iter ?? 0;
    this.loop = new RunLoop(this.trainer, {
      onIteration: (r) => this.onIteration(r),
      onEval: (iter, result) => this.emit('eval', { iter, result }),
      onCheckpoint: (iter, ck) => this.save(iter, ck),
    });
    this.loop.done = this.trainer.iter;
    this._runId = runId;
    this.lastSavedIter = resume?.iter ?? -1;
    this.latest = resume;
  }

  private onWorkerEvent(which: 'policy' | 'prm', e: WorkerEvent): void {
    if (e.type === 'notice') this.emit('notice', { level: e.level, message: `${which}: ${e.message}` });
    else if (which === 'prm') this.prmBackendInfo = e.info;
    else if (this._backend) {
      // Only changes after start-up (the first one is announced by `boot`).
      this._backend = e.info;
      this.emit('backend', e.info);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Running

  start(): Promise<RunSummary | null> {
    if (this.running) return this.running;
    if (this.stepping) return Promise.reject(new Error('a single step is running; wait for it'));
    this.assertUsable();
    this.stopRequested = false;
    this.running = this.drive().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async pause(): Promise<void> {
    if (!this.running) return;
    this.stopRequested = true;
    await this.running.catch(() => {});
  }

  async stepOnce(): Promise<IterationResult> {
    if (this.running || this.stepping) throw new Error('the session is running; pause it before stepping');
    this.assertUsable();
    if (this.loop.finished) throw new Error(`the run is finished (${this.config.iters} iterations)`);
    this.stepping = true;
    this.setState('running');
    try {
      const r = await this.loop.next();
      if (this.loop.finished) await this.finish();
      else {
        await this.autosave(true);
        this.setState('paused');
      }
      return r;
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.stepping = false;
    }
  }

  async reset(): Promise<void> {
    await this.pause();
    this.assertUsable(false);
    await this.policy!.load(this.initial!);
    this.newRun(null, null);
    if (this.store) this._runId = (await this.store.createRun(this.config)).id;
    this.setState('ready');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.pause();
    this.disposed = true;
    this.terminateWorkers();
    this.store?.close();
  }

  private terminateWorkers(): void {
    this.policyWorker?.terminate();
    this.prmWorker?.terminate();
    this.policyWorker = this.prmWorker = null;
  }

  /** The services the coordinator talks to (tools and tests; training goes through the session). */
  get policyService(): PolicyService {
    return this.policy!;
  }
  get prmService(): PrmService | null {
    return this.prm;
  }

  /** The policy checkpoint at the current iteration (the latest one taken, unless `fresh`). */
  async checkpointNow(fresh = false): Promise<{ iter: number; ck: StoredCheckpoint }> {
    const iter = this.trainer.iter;
    if (!fresh && this.latest?.iter === iter) return this.latest;
    return { iter, ck: await this.policy!.checkpoint({ config: this.config, iter }) };
  }

  /**
   * Test hook: destroy a worker's WebGPU device now, or during its next operation named `during`
   * ('generate', 'update', 'scoreSteps', ...). False when that worker is not on WebGPU.
   */
  async loseDevice(which: 'policy' | 'prm' = 'policy', during?: string): Promise<boolean> {
    const w = which === 'policy' ? this.policyWorker : this.prmWorker;
    return w ? w.remote.loseDevice(during) : false;
  }

  /**
   * Test hook: true when the named workers all block at the same moment (see `rendezvous`), which
   * only distinct threads running at once can do: ['policy', 'prm'] is true, and ['policy',
   * 'policy'] (one thread twice) times out false. Needs a cross-origin isolated page.
   */
  async rendezvous(parties: ('policy' | 'prm')[], timeoutMs = 10_000): Promise<boolean> {
    if (!self.crossOriginIsolated) throw new Error('needs a cross-origin isolated page (SharedArrayBuffer)');
    const counter = new SharedArrayBuffer(4);
    const arrived = await Promise.all(
      parties.map((w) => {
        const handle = w === 'policy' ? this.policyWorker : this.prmWorker;
        if (!handle) throw new Error(`this session has no ${w} worker`);
        return handle.remote.rendezvous(counter, parties.length, timeoutMs);
      }),
    );
    return arrived.every(Boolean);
  }

  /** Live tensors in each worker (leak checks). */
  async numTensors(): Promise<{ policy: number; prm: number | null }> {
    return {
      policy: await this.policyWorker!.remote.numTensors(),
      prm: this.prmWorker ? await this.prmWorker.remote.numTensors() : null,
    };
  }

  private async drive(): Promise<RunSummary | null> {
    this.setState('running');
    await this.setRunStatus('running');
    try {
      await this.loop.begin();
      while (!this.loop.finished && !this.stopRequested) {
        await this.loop.next();
        await this.autosave();
      }
      if (this.loop.finished) return await this.finish();
      await this.autosave(true);
      await this.setRunStatus('paused');
      this.setState('paused');
      return null;
    } catch (e) {
      throw this.fail(e);
    }
  }

  private async finish(): Promise<RunSummary> {
    const summary = this.loop.summary();
    await this.setRunStatus('done');
    this.setState('done');
    this.emit('done', summary);
    return summary;
  }

  private async onIteration(r: IterationResult): Promise<void> {
    this.emit('iteration', r);
    if (this.store) await this.persist(() => this.store!.appendMetrics(this._runId!, [r.metrics]));
  }

  /** The autosave schedule (or `force`: on pause), unless this iteration is saved already. */
  private async autosave(force = false): Promise<void> {
    const every = this.opts.autosaveEvery ?? SESSION_DEFAULTS.autosaveEvery;
    const it = this.trainer.iter;
    if (it === this.lastSavedIter || !this.store) return;
    if (!force && !(every > 0 && it % every === 0)) return;
    await this.save(it, await this.policy!.checkpoint({ config: this.config, iter: it }));
  }

  private async save(iter: number, ck: StoredCheckpoint): Promise<void> {
    this.latest = { iter, ck };
    if (this.store && iter !== this.lastSavedIter) {
      const ok = await this.persist(async () => {
        await this.store!.saveCheckpoint(this._runId!, iter, ck);
        await this.store!.updateRun(this._runId!, { iter });
      });
      if (!ok) return;
    }
    this.lastSavedIter = iter;
    this.emit('checkpoint', { iter, runId: this._runId });
  }

  private async setRunStatus(status: 'running' | 'paused' | 'done'): Promise<void> {
    if (this.store) await this.persist(() => this.store!.updateRun(this._runId!, { status }));
  }

  /** A storage failure (quota, a blocked database) is reported; training goes on. */
  private async persist(write: () => Promise<void>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (e) {
      this.emit('notice', {
        level: 'error',
        message: `saving to IndexedDB failed: ${e instanceof Error ? e.message : String(e)}`,
      });
      return false;
    }
  }

  private fail(e: unknown): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this._state !== 'error') {
      this.setState('error');
      this.emit('error', { message: err.message });
      if (this.store && this._runId) this.store.updateRun(this._runId, { status: 'error' }).catch(() => {});
    }
    return err;
  }

  private assertUsable(checkError = true): void {
    if (this.disposed) throw new Error('the session is disposed');
    if (checkError && this._state === 'error')
      throw new Error('the session failed; reset or create a new one');
  }
}
