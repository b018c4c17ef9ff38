/**
 * The run loop around the coordinator, shared by every runtime: evaluate at the start, iterate,
 * evaluate every `evalEvery` iterations and at the end, checkpoint every `checkpointEvery`, and
 * summarise. Runtimes plug in only where results go (files, IndexedDB, the page).
 */
import type { EvalResult } from '../evaluate';
import type { RlConfig } from './config';
import type { StoredCheckpoint } from './services';
import type { IterationMetrics, IterationResult, Trainer } from './trainer';

export interface RunHooks {
  onIteration?(r: IterationResult): void | Promise<void>;
  onEval?(iter: number, e: EvalResult): void | Promise<void>;
  onCheckpoint?(iter: number, ck: StoredCheckpoint): void | Promise<void>;
  /** Polled between iterations: true stops the run after the current one. */
  shouldStop?(): boolean;
}

export interface RunSummary {
  task: string;
  algo: string;
  seed: number;
  iters: number;
  backend: string;
  wallSeconds: number;
  secondsPerIter: number;
  start: Pick<EvalResult, 'testAcc' | 'testAccSampled' | 'oodAcc' | 'diversity' | 'passAt8' | 'correctPaths'>;
  end: Pick<EvalResult, 'testAcc' | 'testAccSampled' | 'oodAcc' | 'passAt8' | 'diversity' | 'correctPaths'>;
  /** Lowest sampled accuracy at any evaluation, and its drop below the start. */
  minTestAccSampled: number;
  /** Salvaged / rectified over the whole run (null for algorithms that do not rectify). */
  salvageRate: number | null;
  rectifications: number | null;
  skippedUpdates: number;
  config: RlConfig;
}

function pickEval(e: EvalResult) {
  const { testAcc, testAccSampled, oodAcc, passAt8, diversity, correctPaths } = e;
  return { testAcc, testAccSampled, oodAcc, passAt8, diversity, correctPaths };
}

export async function runTraining(trainer: Trainer, hooks: RunHooks = {}): Promise<RunSummary> {
  const c = trainer.cfg;
  const t0 = Date.now();
  const backend = (await trainer.policy.describe()).backend;
  const start = await trainer.evaluate();
  await hooks.onEval?.(trainer.iter, start);
  let last = start;
  let minSampled = start.testAccSampled;
  let rectified = 0;
  let salvaged = 0;
  let skipped = 0;
  const iterStart = Date.now();
  let done = 0;
  for (let i = 0; i < c.iters; i++) {
    const res = await trainer.step();
    done++;
    const m: IterationMetrics = res.metrics;
    rectified += m.rectifications ?? 0;
    salvaged += m.salvaged ?? 0;
    skipped += m.skippedUpdates;
    const final = i === c.iters - 1 || hooks.shouldStop?.();
    if (trainer.iter % c.evalEvery === 0 || final) {
      last = await trainer.evaluate();
      m.eval = last;
      minSampled = Math.min(minSampled, last.testAccSampled);
      await hooks.onEval?.(trainer.iter, last);
    }
    await hooks.onIteration?.(res);
    if ((c.checkpointEvery > 0 && trainer.iter % c.checkpointEvery === 0) || final)
      await hooks.onCheckpoint?.(
        trainer.iter,
        await trainer.policy.checkpoint({ config: c, iter: trainer.iter }),
      );
    if (hooks.shouldStop?.()) break;
  }
  const rectifies = c.algo === 'scope';
  return {
    task: c.task,
    algo: c.algo,
    seed: c.seed,
    iters: done,
    backend,
    wallSeconds: (Date.now() - t0) / 1000,
    secondsPerIter: (Date.now() - iterStart) / 1000 / Math.max(1, done),
    start: pickEval(start),
    end: pickEval(last),
    minTestAccSampled: minSampled,
    salvageRate: rectifies ? (rectified ? salvaged / rectified : 0) : null,
    rectifications: rectifies ? rectified : null,
    skippedUpdates: skipped,
    config: c,
  };
}
