/**
 * A training session in the page: the shared RunLoop and Trainer run here, on the main thread,
 * over the policy and PRM workers (the maths is light; the models, and so the heavy work, live in
 * the workers). It persists to IndexedDB when asked: a stored run, a checkpoint every
 * `autosaveEvery` iterations and on pause / at the end, and the metrics history; a stored run
 * resumes exactly where its latest checkpoint left it (the coordinator RNG is in the checkpoint).
 *
 * A crashed worker (an uncaught error, or terminated) fails its pending calls with WorkerCrashed. The
 * session then restarts both workers, restores the latest checkpoint it took (one at every autosave
 * point, kept in memory with or without storage) and trains on from there, exactly as a resumed run
 * would; the iterations since that checkpoint run again, and the count is reported ('notice', and
 * `recovery` in the summary). After `maxRestartsInARow` restarts with no iteration completed between
 * them it gives up with an 'error'.
 */
import type { PolicyWorkerApi, PrmWorkerApi, WorkerEvent } from '../../workers/protocol';
import type { EvalOptions, EvalResult } from '../core/evaluate';
import { needsLearnedPrm, parseRlConfig, type RlConfig } from '../core/rl/config';
import type { UpdateBatch } from '../core/rl/loss';
import { trainerRngOf } from '../core/rl/resume';
import { RunLoop, type RunLoopMark, type RunSummary } from '../core/rl/run';
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
import { fetchCheckpoint } from './assets';
import type {
  BackendInfo,
  ProbeAnswer,
  Session,
  SessionEventMap,
  SessionListener,
  SessionOptions,
  SessionState,
} from './session-api';
import {
  type RemotePolicyService,
  type RemotePrmService,
  startPolicyWorker,
  startPrmWorker,
  WorkerCrashed,
  type WorkerHandle,
} from './workers';

/** Opens the IndexedDB store of a namespace (replaceable in tests). */
export type StoreOpener = (namespace: string) => Promise<Store>;

/** The real store, loaded on demand: a session without persistence never pulls it in. */
const openIndexedDbStore: StoreOpener = async (namespace) =>
  (await import('../storage')).openStore(namespace);

/** Defaults of the optional session knobs. */
export const SESSION_DEFAULTS = {
  /** IndexedDB namespace when the caller names none (null disables persistence). */
  storageNamespace: 'scope-lab',
  /**
   * Take a checkpoint every N iterations (0: only on pause and at the end). It is stored when
   * persistence is on, and kept in memory either way: a worker crash costs at most N iterations.
   */
  autosaveEvery: 10,
  /** Worker restarts after crashes with no iteration completed between them, before giving up. */
  maxRestartsInARow: 3,
} as const;

type WorkerName = 'policy' | 'prm';

/** Where a crash restores to: a checkpoint (null: the prepared start) and the loop's counters then. */
interface RestorePoint {
  iter: number;
  ck: StoredCheckpoint | null;
  mark: RunLoopMark;
}

/**
 * The worker's PolicyService, plus the coordinator's RNG state in every checkpoint's meta: with it
 * a resumed run draws the same problems as an uninterrupted one.
 */
class RunPolicy implements PolicyService {
  constructor(
    readonly inner: RemotePolicyService,
    private readonly trainerRng: () => RngState,
    /** Told of each generate / update once it is in flight (the `crashWorker` test hook). */
    private readonly sent: (op: string) => void,
    /** Told when an evaluation starts and ends (the page's "evaluating" state). */
    private readonly evaluating: (running: boolean) => void = () => {},
  ) {}
  describe() {
    return this.inner.describe();
  }
  generate(r: GenerateRequest[], o: { temperature: number; topP: number; greedy?: boolean }) {
    const call = this.inner.generate(r, o);
    this.sent('generate');
    return call;
  }
  update(b: UpdateBatch, o: UpdateOptions) {
    const call = this.inner.update(b, o);
    this.sent('update');
    return call;
  }
  async evaluate(o: Partial<EvalOptions>) {
    this.evaluating(true);
    try {
      return await this.inner.evaluate(o);
    } finally {
      this.evaluating(false);
    }
  }
  checkpoint(meta: Record<string, unknown>) {
    return this.inner.checkpoint({ ...meta, trainerRng: this.trainerRng() }); // read by trainerRngOf
  }
  load(ck: StoredCheckpoint) {
    return this.inner.load(ck);
  }
  numTensors() {
    return this.inner.numTensors();
  }
}

/** The worker's PrmService, telling the session of each call in flight (the `crashWorker` hook). */
class RunPrm implements PrmService {
  constructor(
    readonly inner: RemotePrmService,
    private readonly sent: (op: string) => void,
  ) {}
  scoreSteps(items: { prompt: string; completion: string }[]) {
    const call = this.inner.scoreSteps(items);
    this.sent('scoreSteps');
    return call;
  }
}

export class TrainingSession implements Session {
  private listeners = new Map<keyof SessionEventMap, Set<(d: never) => void>>();
  private _state: SessionState = 'loading';
  private _runId: string | null = null;
  private _backend: BackendInfo | null = null;
  /** While the workers start, the policy worker's latest info (announced to the page after start). */
  private booting = false;
  private bootPolicyInfo: BackendInfo | null = null;
  /** The PRM worker's backend (null when the algorithm needs no PRM). */
  prmBackendInfo: BackendInfo | null = null;
  private trainer!: Trainer;
  private loop!: RunLoop;
  private running: Promise<RunSummary | null> | null = null;
  private stopRequested = false;
  private stepping = false;
  private lastSavedIter = -1;
  private disposed = false;
  /** The starting evaluation was begun (inline or in a second worker). */
  private startEvalBegun = false;
  /** Starts the parallel starting evaluation (after the first iteration). */
  private afterFirstIteration: (() => void) | null = null;
  /** Ends the second worker of a parallel starting evaluation, while it runs. */
  private stopEvaluator: (() => void) | null = null;

  private policyWorker: WorkerHandle<PolicyWorkerApi> | null = null;
  private prmWorker: WorkerHandle<PrmWorkerApi> | null = null;
  private policy: RunPolicy | null = null;
  private prm: RunPrm | null = null;
  /** The prepared starting state (weights, fresh Adam, seeded sampling) that `reset` returns to. */
  private initial: StoredCheckpoint | null = null;
  /** The shipped checkpoints the workers start from (kept to restart them after a crash). */
  private startCheckpoints: { policy: StoredCheckpoint; prm: StoredCheckpoint | null } | null = null;

  // Crash recovery.
  /** Which set of workers is current: a late crash report of a replaced worker is ignored. */
  private generation = 0;
  /** A crash seen outside a call (while idle): the next iteration restarts first. */
  private pendingCrash: WorkerCrashed | null = null;
  private restorePoint!: RestorePoint;
  /** The iteration being run or saved (a crash loses the ones after the restore point up to it). */
  private workingOn = 0;
  private restartsInARow = 0;
  /** Worker restarts and the iterations they cost, over this session's run. */
  recovery = { restarts: 0, lostIterations: 0 };
  /** Test hook: crash a worker while its next call(s) of one kind are in flight. */
  private crashPlan: { which: WorkerName; during: string; times: number } | null = null;
  /** Test hook: the fault spec, applied again to every new Trainer (reset, crash recovery). */
  private faults: unknown = null;

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
        // Owned by this session from here on; refused ('busy') while another tab trains it.
        await store.claimRun(run.id);
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
    const [policyCk, prmCk] = await Promise.all([
      fetchCheckpoint(base, c.task, 'policy'),
      needsLearnedPrm(c) ? fetchCheckpoint(base, c.task, 'prm') : null,
    ]);
    this.startCheckpoints = { policy: policyCk, prm: prmCk };
    await this.startWorkers();
    this.initial = await this.policy!.inner.checkpoint({});
    if (resume) await this.policy!.load(resume.ck);
    this.newRun(resume, runId);
    if (this.store && !runId) this._runId = (await this.store.createRun(c)).id;
    this.emit('backend', this._backend!);
    this.setState(resume ? 'paused' : 'ready');
  }

  /** Start the policy (prepared for RL from the shipped checkpoint) and, if needed, PRM workers. */
  private async startWorkers(): Promise<void> {
    const c = this.config;
    const { policy: policyCk, prm: prmCk } = this.startCheckpoints!;
    const generation = ++this.generation;
    this.booting = true;
    this.bootPolicyInfo = null;
    // `auto` may measure the backends on the policy's model (only on the first start: a restart
    // after a crash reuses the cached decision); the PRM worker then takes the policy's choice.
    const req = {
      task: c.task,
      backend: this.opts.backend,
      remeasure: this.opts.remeasureBackend === true && generation === 1,
      probe: this.opts.backendProbe,
    };
    const onCrash = (e: WorkerCrashed) => {
      if (generation === this.generation) this.pendingCrash ??= e;
    };
    const startPolicy = () =>
      startPolicyWorker(
        {
          ...req,
          checkpoint: policyCk,
          rl: {
            seed: c.seed,
            adamEps: c.adamEps,
            updateShards: c.updateShards,
            gradientWorker: this.opts.gradientWorker !== false,
          },
        },
        (e) => this.onWorkerEvent('policy', e),
        onCrash,
      );
    const startPrm = (follow?: { backend: BackendInfo['backend']; note?: string }) =>
      prmCk
        ? startPrmWorker({ ...req, checkpoint: prmCk, follow }, (e) => this.onWorkerEvent('prm', e), onCrash)
        : null;
    let polStarted: PromiseSettledResult<Awaited<ReturnType<typeof startPolicy>>>;
    let prmStarted: PromiseSettledResult<Awaited<ReturnType<typeof startPrm>>>;
    if (req.backend === 'auto' && prmCk) {
      [polStarted] = await Promise.allSettled([startPolicy()]);
      const chosen = polStarted.status === 'fulfilled' ? polStarted.value.info : null;
      [prmStarted] = await Promise.allSettled([
        chosen ? startPrm({ backend: chosen.backend, note: chosen.note }) : null,
      ]);
    } else [polStarted, prmStarted] = await Promise.allSettled([startPolicy(), startPrm()]);
    this.booting = false;
    // Keep whichever started, so a failure of the other still ends it.
    if (polStarted.status === 'fulfilled') this.policyWorker = polStarted.value.handle;
    if (prmStarted.status === 'fulfilled') this.prmWorker = prmStarted.value?.handle ?? null;
    if (polStarted.status === 'rejected') throw polStarted.reason;
    if (prmStarted.status === 'rejected') throw prmStarted.reason;
    const pol = polStarted.value;
    const prm = prmStarted.value;
    this.prm = prm ? new RunPrm(prm.service, (op) => this.sent('prm', op)) : null;
    // The latest the policy worker said while the workers started (its gradient worker may have
    // joined already), else what its start returned.
    this._backend = this.bootPolicyInfo ?? pol.info;
    this.prmBackendInfo = prm?.info ?? null;
    this.policy = new RunPolicy(
      pol.service,
      () => this.trainer.rng.getState(),
      (op) => this.sent('policy', op),
      (running) =>
        this.emit('activity', { evaluating: running, background: false, iter: this.trainer?.iter ?? 0 }),
    );
  }

  /** A fresh trainer and loop, at iteration 0 or at a resumed checkpoint. */
  private newRun(resume: { iter: number; ck: StoredCheckpoint } | null, runId: string | null): void {
    this.trainer = this.newTrainer(resume);
    this.loop = new RunLoop(this.trainer, {
      onIteration: (r) => this.onIteration(r),
      onEval: (iter, result) => this.emit('eval', { iter, result }),
      onCheckpoint: (iter, ck) => this.save(iter, ck),
      // Pause takes effect before a due evaluation; it runs when training resumes.
      postponeEval: () => this.stopRequested && !this.stepping,
    });
    this.loop.done = this.trainer.iter;
    this.startEvalBegun = false;
    this._runId = runId;
    this.lastSavedIter = resume?.iter ?? -1;
    this.restorePoint = { iter: this.trainer.iter, ck: resume?.ck ?? null, mark: this.loop.mark() };
    this.recovery = { restarts: 0, lostIterations: 0 };
    this.restartsInARow = 0;
  }

  /**
   * A Trainer over the current workers, at iteration 0 or at a checkpoint (its coordinator RNG
   * comes from the checkpoint), with the injected faults, if any.
   */
  private newTrainer(at: { iter: number; ck: StoredCheckpoint } | null): Trainer {
    const c = this.config;
    let rng: Rng | undefined;
    if (at) {
      const state = trainerRngOf(at.ck);
      if (!state)
        console.warn('the checkpoint carries no coordinator RNG state: the resumed run draws new problems');
      rng = state ? Rng.fromState(state) : new Rng(`rl/${c.task}/${c.algo}/${c.seed}/resumed-at-${at.iter}`);
    }
    const trainer = new Trainer(getTask(c.task), c, this.policy!, this.prm, rng);
    trainer.iter = at?.iter ?? 0;
    if (this.faults) trainer.injectFaults(this.faults);
    return trainer;
  }

  private onWorkerEvent(which: 'policy' | 'prm', e: WorkerEvent): void {
    if (e.type === 'notice') this.emit('notice', { level: e.level, message: `${which}: ${e.message}` });
    else if (which === 'prm') this.prmBackendInfo = e.info;
    else if (this.booting) this.bootPolicyInfo = e.info;
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
      await this.beginLoop();
      const r = await this.iterate(true);
      if (this.loop.finished) await this.finish();
      else this.setState('paused');
      return r;
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.stepping = false;
    }
  }

  async probe(prompt: string): Promise<ProbeAnswer> {
    if (this.running || this.stepping) throw new Error('the run is training: pause it to try a problem');
    this.assertUsable(false);
    const c = this.config;
    const gen = await this.policy!.inner.generate([{ prompt }], {
      temperature: c.temperature,
      topP: c.topP,
      greedy: true,
    });
    const completion = gen.texts[0] ?? '';
    const prmScores = this.prm
      ? ((await this.prm.inner.scoreSteps([{ prompt, completion }]))[0] ?? null)
      : null;
    return { completion, prmScores };
  }

  async reset(): Promise<void> {
    await this.pause();
    this.assertUsable(false);
    if (this.pendingCrash) await this.restartWorkers();
    this.stopEvaluator?.();
    await this.policy!.load(this.initial!);
    this.newRun(null, null);
    if (this.store) this._runId = (await this.store.createRun(this.config)).id;
    this.setState('ready');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.pause();
    this.disposed = true;
    this.stopEvaluator?.();
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
    // The restore point is the latest checkpoint taken (on schedule, autosave, pause or at the end).
    const { ck } = this.restorePoint;
    if (!fresh && ck && this.restorePoint.iter === iter) return { iter, ck };
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
   * Test hook: crash a worker as a fatal error would (its thread is terminated). With `during`
   * ('generate', 'update' for the policy; 'scoreSteps' for the PRM) it happens while its next such
   * call is in flight, `times` calls in a row (each restart's next such call crashes again), else now.
   */
  crashWorker(which: WorkerName, during?: string, times = 1): void {
    if (!during) {
      const w = which === 'policy' ? this.policyWorker : this.prmWorker;
      if (!w) throw new Error(`this session has no ${which} worker`);
      w.crash('terminated by the test');
      return;
    }
    this.crashPlan = { which, during, times };
  }

  /** A call is in flight: crash its worker now if the test planned it. */
  private sent(which: WorkerName, op: string): void {
    const plan = this.crashPlan;
    if (!plan || plan.which !== which || plan.during !== op) return;
    if (--plan.times <= 0) this.crashPlan = null;
    const w = which === 'policy' ? this.policyWorker : this.prmWorker;
    w?.crash(`terminated by the test during ${op}`);
  }

  /**
   * Test hook: make chosen iterations' updates non-finite (see src/core/rl/faults.ts), validated
   * now and applied to this run's trainer and every later one (reset, crash recovery).
   */
  injectFaults(spec: unknown): void {
    this.trainer.injectFaults(spec); // validates first: a bad spec throws before anything changes
    this.faults = spec;
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
      this.workingOn = this.trainer.iter;
      await this.beginLoop();
      while (!this.loop.finished && !this.stopRequested) await this.iterate();
      if (this.loop.finished) return await this.finish();
      await this.autosave(true);
      await this.setRunStatus('paused');
      this.setState('paused');
      return null;
    } catch (e) {
      throw this.fail(e);
    }
  }

  /**
   * One iteration and its autosave (`forceSave`: a checkpoint whatever the schedule). A worker crash
   * restarts the workers and restores the latest checkpoint, and the loop goes on from there, so the
   * iteration returned may come earlier than the one that was running.
   */
  private iterate(forceSave = false): Promise<IterationResult> {
    return this.recovering(async () => {
      this.workingOn = this.trainer.iter + 1;
      const r = await this.loop.next();
      await this.autosave(forceSave);
      this.restartsInARow = 0;
      return r;
    });
  }

  /** Run `work`; after a worker crash (during it, or before it while idle), recover and run it again. */
  private async recovering<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        if (this.pendingCrash) throw this.pendingCrash;
        return await work();
      } catch (e) {
        const crash = e instanceof WorkerCrashed ? e : this.pendingCrash;
        if (!crash) throw e;
        try {
          await this.recover(crash);
        } catch (again) {
          // A worker crashed again while restarting: that counts as the next restart.
          if (!(again instanceof WorkerCrashed)) throw again;
          this.pendingCrash = again;
        }
      }
    }
  }

  /** After a crash: new workers, the latest checkpoint, and the loop rewound to it. */
  private async recover(crash: WorkerCrashed): Promise<void> {
    if (++this.restartsInARow > SESSION_DEFAULTS.maxRestartsInARow)
      throw new Error(
        `${crash.message}; gave up after ${SESSION_DEFAULTS.maxRestartsInARow} restarts in a row without completing an iteration`,
      );
    const to = this.restorePoint;
    const lost = Math.max(0, this.workingOn - to.iter);
    await this.restartWorkers();
    await this.policy!.load(to.ck ?? this.initial!);
    this.trainer = this.newTrainer(to.ck ? { iter: to.iter, ck: to.ck } : null);
    this.loop.rewind(this.trainer, to.mark);
    this.lastSavedIter = to.iter;
    // Metrics stored for the lost iterations go: they run again and are stored again.
    if (this.store && this._runId)
      await this.persist(() => this.store!.deleteMetricsAfter(this._runId!, to.iter));
    this.recovery.restarts++;
    this.recovery.lostIterations += lost;
    this.emit('notice', {
      level: 'warn',
      message: `${crash.message}. Restarted the workers and restored the checkpoint of iteration ${to.iter}: ${lost} iteration${lost === 1 ? '' : 's'} lost, running again.`,
    });
  }

  /** End the current workers (dead or alive) and start new ones. */
  private async restartWorkers(): Promise<void> {
    this.terminateWorkers();
    this.pendingCrash = null;
    await this.startWorkers();
  }

  /**
   * Evaluate the starting policy, once. With `parallelStartEval` (the page, the widget) a fresh run's
   * starting evaluation runs in a second policy worker, loaded with the same starting weights on the
   * same backend, while the first iterations train: the same computation with its own sampling RNG,
   * so the result and the training are those of the sequential order; only the first iteration
   * shows seconds earlier.
   */
  private async beginLoop(): Promise<void> {
    if (this.startEvalBegun) return;
    this.startEvalBegun = true;
    if (this.opts.parallelStartEval && this.trainer.iter === 0 && this.restorePoint.ck === null) {
      // The second worker starts once the first iteration is in: that one runs alone, at full speed.
      const firstIteration = new Promise<void>((resolve) => {
        this.afterFirstIteration = resolve;
      });
      this.loop.beginDeferred(firstIteration.then(() => this.evaluateStartElsewhere()));
      return;
    }
    await this.recovering(() => this.loop.begin());
  }

  private async evaluateStartElsewhere(): Promise<EvalResult> {
    const c = this.config;
    this.emit('activity', { evaluating: true, background: true, iter: 0 });
    let handle: WorkerHandle<PolicyWorkerApi> | null = null;
    const stop = () => handle?.terminate();
    this.stopEvaluator = stop;
    try {
      const started = await startPolicyWorker(
        {
          task: c.task,
          backend: this._backend?.backend ?? this.opts.backend,
          checkpoint: this.startCheckpoints!.policy,
          rl: { seed: c.seed, adamEps: c.adamEps },
        },
        () => {},
        () => {},
      );
      handle = started.handle;
      // Trainer.evaluate's own options, read from it (only cfg and policy are used).
      if (this.disposed) throw new Error('the session is disposed');
      return await Trainer.prototype.evaluate.call(
        { cfg: c, task: getTask(c.task), policy: started.service } as unknown as Trainer,
        true,
      );
    } finally {
      handle?.terminate();
      if (this.stopEvaluator === stop) this.stopEvaluator = null;
      this.emit('activity', { evaluating: false, background: true, iter: 0 });
    }
  }

  private async finish(): Promise<RunSummary> {
    await this.loop.settled();
    const summary: RunSummary = { ...this.loop.summary(), recovery: { ...this.recovery } };
    await this.setRunStatus('done');
    this.setState('done');
    this.emit('done', summary);
    return summary;
  }

  private async onIteration(r: IterationResult): Promise<void> {
    this.emit('iteration', r);
    this.afterFirstIteration?.();
    this.afterFirstIteration = null;
    const skipped = r.metrics.skippedUpdates;
    if (skipped > 0)
      this.emit('notice', {
        level: 'warn',
        message: `iteration ${r.metrics.iter}: ${skipped} update${skipped === 1 ? '' : 's'} skipped because the loss or a gradient was not finite; the weights were kept`,
      });
    if (this.store) await this.persist(() => this.store!.appendMetrics(this._runId!, [r.metrics]));
  }

  /**
   * The autosave schedule (or `force`: on pause), unless this iteration is saved already. Without
   * storage the checkpoint is only kept in memory, for crash recovery.
   */
  private async autosave(force = false): Promise<void> {
    const every = this.opts.autosaveEvery ?? SESSION_DEFAULTS.autosaveEvery;
    const it = this.trainer.iter;
    if (it === this.lastSavedIter) return;
    if (!force && !(every > 0 && it % every === 0)) return;
    await this.save(it, await this.policy!.checkpoint({ config: this.config, iter: it }));
  }

  private async save(iter: number, ck: StoredCheckpoint): Promise<void> {
    // Taken after the iteration's metrics were counted: a crash from here on restores to this.
    this.restorePoint = { iter, ck, mark: this.loop.mark() };
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
