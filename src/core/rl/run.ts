/**
 * The run loop around the coordinator, shared by every runtime: evaluate at the start, iterate,
 * evaluate every `evalEvery` iterations and at the end, checkpoint every `checkpointEvery`, and
 * summarise. Runtimes plug in only where results go (files, IndexedDB, the page).
 */
import type { EdgeEval, EvalResult } from '../evaluate';
import type { RlConfig } from './config';
import type { StoredCheckpoint } from './services';
import type { IterationMetrics, IterationResult, Trainer } from './trainer';

export interface RunHooks {
  onIteration?(r: IterationResult): void | Promise<void>;
  onEval?(iter: number, e: EvalResult): void | Promise<void>;
  onCheckpoint?(iter: number, ck: StoredCheckpoint): void | Promise<void>;
  /** Polled after each iteration: true makes it the last one (evaluated and checkpointed). */
  shouldStop?(): boolean;
  /**
   * Polled when an iteration's periodic evaluation is due: true postpones it to the start of the
   * next `next()` (a pause stops at the phase boundary). The weights do not change in between and
   * the evaluation has its own RNG, so the result is the same; it is then reported by `onEval`
   * only, not in that iteration's metrics.
   */
  postponeEval?(): boolean;
}

export interface RunSummary {
  task: string;
  algo: string;
  seed: number;
  iters: number;
  backend: string;
  wallSeconds: number;
  secondsPerIter: number;
  start: EvalSummary;
  end: EvalSummary;
  /** Forgetting: greedy accuracy on the ordinary test split, end minus start (negative: lost). */
  forgetting: number;
  /** The full edge evaluations at the start and end (runs with edgeEvalN > 0), else null. */
  edge: { start: EdgeEval; end: EdgeEval } | null;
  /** Lowest sampled accuracy at any evaluation, and its drop below the start. */
  minTestAccSampled: number;
  /** Salvaged / rectified over the whole run (null for algorithms that do not rectify). */
  salvageRate: number | null;
  rectifications: number | null;
  skippedUpdates: number;
  /** Browser runs only: worker restarts after crashes, and the iterations they cost (run again). */
  recovery?: { restarts: number; lostIterations: number };
  config: RlConfig;
}

/** The headline numbers of an evaluation; the edge ones are null without an edge evaluation. */
export interface EvalSummary
  extends Pick<
    EvalResult,
    'testAcc' | 'testAccSampled' | 'oodAcc' | 'passAt8' | 'diversity' | 'correctPaths'
  > {
  edgeTestAcc?: number | null;
  edgeOodAcc?: number | null;
  edgePassAt1?: number | null;
  edgePassAt4?: number | null;
  edgePassAt16?: number | null;
  edgePassAt64?: number | null;
  edgeDiversity?: number | null;
  edgeAllWrongGroups?: number | null;
}

function pickEval(e: EvalResult): EvalSummary {
  const { testAcc, testAccSampled, oodAcc, passAt8, diversity, correctPaths } = e;
  const g = e.edge;
  return {
    testAcc,
    testAccSampled,
    oodAcc,
    passAt8,
    diversity,
    correctPaths,
    edgeTestAcc: g?.testAcc ?? null,
    edgeOodAcc: g?.oodAcc ?? null,
    edgePassAt1: g?.passAtK['1'] ?? null,
    edgePassAt4: g?.passAtK['4'] ?? null,
    edgePassAt16: g?.passAtK['16'] ?? null,
    edgePassAt64: g?.passAtK['64'] ?? null,
    edgeDiversity: g?.diversity ?? null,
    edgeAllWrongGroups: g?.allWrongGroups ?? null,
  };
}

/** The loop's counters at a checkpoint, so a run restored from that checkpoint counts on from it. */
export interface RunLoopMark {
  done: number;
  rectified: number;
  salvaged: number;
  skipped: number;
}

/**
 * A run, one iteration at a time, so a page can pause, step and resume it; `runTraining` drives it
 * to the end. The first `next()` evaluates the starting policy before iterating.
 */
export class RunLoop {
  private readonly t0 = Date.now();
  private iterStart = 0;
  private started = false;
  private pendingStart: Promise<void> | null = null;
  /** The iteration whose periodic evaluation a pause postponed, else null. */
  private postponedEval: number | null = null;
  private start: EvalResult | null = null;
  private last: EvalResult | null = null;
  private minSampled = Number.POSITIVE_INFINITY;
  private rectified = 0;
  private salvaged = 0;
  private skipped = 0;
  /** Iterations done in this loop (a resumed trainer may start at iter > 0). */
  done = 0;
  private backend = '';

  constructor(
    public trainer: Trainer,
    private readonly hooks: RunHooks = {},
  ) {}

  /** The counters now (take it with a checkpoint, to `rewind` to it after a crash). */
  mark(): RunLoopMark {
    return { done: this.done, rectified: this.rectified, salvaged: this.salvaged, skipped: this.skipped };
  }

  /**
   * Crash recovery: go on with `trainer`, restored from the checkpoint taken at `to`. The iterations
   * after it no longer count (they run again); the starting evaluation is kept.
   */
  rewind(trainer: Trainer, to: RunLoopMark): void {
    this.trainer = trainer;
    this.done = to.done;
    this.rectified = to.rectified;
    this.salvaged = to.salvaged;
    this.skipped = to.skipped;
  }

  get finished(): boolean {
    return this.done >= this.trainer.cfg.iters;
  }

  /** Evaluate the starting policy (once; `next` calls it if needed). */
  async begin(): Promise<EvalResult> {
    if (this.start) return this.start;
    this.backend = (await this.trainer.policy.describe()).backend;
    this.start = await this.trainer.evaluate(true);
    this.last = this.start;
    this.minSampled = this.start.testAccSampled;
    await this.hooks.onEval?.(this.trainer.iter, this.start);
    this.iterStart = Date.now();
    this.started = true;
    return this.start;
  }

  /**
   * Begin without waiting for the starting evaluation: `startEval` is the same evaluation of the
   * starting weights, computed elsewhere (the page runs it in a second worker while the policy trains,
   * so the first iteration shows at once). Its result is recorded and reported (`onEval` at the
   * starting iteration) when it arrives; `settled()` waits for it, and `summary()` needs it.
   */
  beginDeferred(startEval: Promise<EvalResult>): void {
    if (this.started) return;
    const at = this.trainer.iter;
    this.started = true;
    this.iterStart = Date.now();
    this.pendingStart = (async () => {
      this.backend = (await this.trainer.policy.describe()).backend;
      const start = await startEval;
      this.start = start;
      this.last ??= start;
      this.minSampled = Math.min(this.minSampled, start.testAccSampled);
      await this.hooks.onEval?.(at, start);
    })();
    // Awaited by settled(); a failure is reported there, not as an unhandled rejection.
    this.pendingStart.catch(() => {});
  }

  /** Waits for a deferred starting evaluation (see beginDeferred); rejects if it failed. */
  async settled(): Promise<void> {
    await this.pendingStart;
  }

  /** One iteration, with the evaluation and checkpoint it is due. `final` forces both. */
  async next(final = false): Promise<IterationResult> {
    if (!this.started) await this.begin();
    await this.runPostponedEval();
    const c = this.trainer.cfg;
    const trainer = this.trainer;
    const res = await trainer.step();
    this.done++;
    const m: IterationMetrics = res.metrics;
    this.rectified += m.rectifications ?? 0;
    this.salvaged += m.salvaged ?? 0;
    this.skipped += m.skippedUpdates;
    const last = final || this.finished || (this.hooks.shouldStop?.() ?? false);
    if (!last && trainer.iter % c.evalEvery === 0 && this.hooks.postponeEval?.()) {
      this.postponedEval = trainer.iter;
    } else if (trainer.iter % c.evalEvery === 0 || last) {
      this.last = await trainer.evaluate(last);
      m.eval = this.last;
      this.minSampled = Math.min(this.minSampled, this.last.testAccSampled);
      await this.hooks.onEval?.(trainer.iter, this.last);
    }
    await this.hooks.onIteration?.(res);
    if ((c.checkpointEvery > 0 && trainer.iter % c.checkpointEvery === 0) || last)
      await this.hooks.onCheckpoint?.(
        trainer.iter,
        await trainer.policy.checkpoint({ config: c, iter: trainer.iter }),
      );
    return res;
  }

  /** A periodic evaluation postponed by a pause (see RunHooks.postponeEval), run now. */
  async runPostponedEval(): Promise<void> {
    const at = this.postponedEval;
    if (at === null || at !== this.trainer.iter) {
      this.postponedEval = null;
      return;
    }
    this.last = await this.trainer.evaluate(false);
    this.postponedEval = null;
    this.minSampled = Math.min(this.minSampled, this.last.testAccSampled);
    await this.hooks.onEval?.(at, this.last);
  }

  summary(): RunSummary {
    const c = this.trainer.cfg;
    if (!this.start || !this.last) throw new Error('summary() before the run began');
    const rectifies = c.algo === 'scope';
    return {
      task: c.task,
      algo: c.algo,
      seed: c.seed,
      iters: this.done,
      backend: this.backend,
      wallSeconds: (Date.now() - this.t0) / 1000,
      secondsPerIter: (Date.now() - this.iterStart) / 1000 / Math.max(1, this.done),
      start: pickEval(this.start),
      end: pickEval(this.last),
      forgetting: this.last.testAcc - this.start.testAcc,
      edge: this.start.edge && this.last.edge ? { start: this.start.edge, end: this.last.edge } : null,
      minTestAccSampled: this.minSampled,
      salvageRate: rectifies ? (this.rectified ? this.salvaged / this.rectified : 0) : null,
      rectifications: rectifies ? this.rectified : null,
      skippedUpdates: this.skipped,
      config: c,
    };
  }
}

/** Run to the end (or until `shouldStop`), evaluating and checkpointing on schedule. */
export async function runTraining(trainer: Trainer, hooks: RunHooks = {}): Promise<RunSummary> {
  const loop = new RunLoop(trainer, hooks);
  await loop.begin();
  while (!loop.finished) {
    await loop.next();
    if (hooks.shouldStop?.()) break;
  }
  return loop.summary();
}
