/**
 * npm run train -- --task <add|arith> --algo <grpo|prm-dense|luffy|scope|rrpo|srpo|sft-control>
 *   [--iters N] [--seed S] [--runtime node|browser] [--backend ...] [--out DIR] [--force] [--json]
 *   [--set key=value ...] [--start-eval FILE]
 * npm run train -- --resume DIR [--json]
 * RL from the shipped checkpoints; writes the run directory of src/node/run-dir.ts: DIR/run.json,
 * DIR/metrics.jsonl, DIR/summary.json and the latest policy checkpoint as one unit
 * (DIR/checkpoint.json -> DIR/ckpt-NNNNNN/policy.{json,bin}); node runs also DIR/start-eval.json.
 */
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { BackendInfo } from '../src/browser/session-api';
import { PolicyModel } from '../src/core/agents';
import { crc32 } from '../src/core/checkpoint';
import type { EdgeEval, EvalResult } from '../src/core/evaluate';
import type { RlConfig } from '../src/core/rl/config';
import { resumedTrainerRng, withTrainerRng } from '../src/core/rl/resume';
import { RunLoop, type RunSummary } from '../src/core/rl/run';
import { LocalPolicyService, LocalPrmService, type StoredCheckpoint } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { type IterationMetrics, Trainer } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import { type NodeBackend, useBackend } from '../src/node/backend';
import { runInBrowser } from '../src/node/browser-run';
import { chromiumPath } from '../src/node/chromium';
import { cliMain } from '../src/node/cli';
import { readCheckpoint } from '../src/node/files';
import { startGradientThread } from '../src/node/gradient-thread';
import { parseTrainArgs, TRAIN_HELP } from '../src/node/options';
import { Progress } from '../src/node/progress';
import {
  type CheckpointState,
  loadRunCheckpoint,
  METRICS,
  prepareRunDir,
  readRunRecord,
  START_EVAL,
  SUMMARY,
  saveRunCheckpoint,
  truncateMetrics,
  writeFileAtomic,
  writeRunRecord,
} from '../src/node/run-dir';
import { readStartEval, startEvalKey, writeStartEval } from '../src/node/start-eval';

/** The edge evaluation's headline numbers (held-out carry chains), for the start and end lines. */
const edgeLine = (e: EdgeEval | undefined) =>
  e
    ? ` | edge (n=${e.n}): greedy ${e.testAcc.toFixed(3)} pass@1 ${e.passAtK['1'].toFixed(3)} pass@16 ${e.passAtK['16'].toFixed(3)} pass@64 ${e.passAtK['64'].toFixed(3)}`
    : '';

const crcOf = (ck: StoredCheckpoint) => crc32(ck.blob).toString(16).padStart(8, '0');

/** The policy service of a CLI run: every checkpoint carries the coordinator RNG, as in the browser. */
class RunPolicyService extends LocalPolicyService {
  trainer: Trainer | null = null;
  override checkpoint(meta: Record<string, unknown>) {
    return super.checkpoint(this.trainer ? withTrainerRng(meta, this.trainer.rng) : meta);
  }
}

await cliMain(TRAIN_HELP, async () => {
  const args = parseTrainArgs(process.argv.slice(2));
  if (!args) return console.log(TRAIN_HELP);
  const log = args.json ? console.error : console.log;

  // --- what to run: a new run, or a killed one resumed from its latest checkpoint ------------
  let cfg: RlConfig;
  let out: string;
  let node: { backend: NodeBackend; checkpointDir: string; faults: unknown } | null = null;
  let resumeFrom: { ck: StoredCheckpoint; state: CheckpointState } | null = null;
  let resuming = false;
  if ('resume' in args) {
    out = args.resume;
    const record = readRunRecord(out);
    if (record.runtime !== 'node' || !record.start)
      throw new Error(`'${out}' is a ${record.runtime} run; only node runs resume`);
    if (existsSync(path.join(out, SUMMARY))) throw new Error(`'${out}' is finished (it has ${SUMMARY})`);
    cfg = record.config;
    node = {
      backend: args.backend ?? (record.backend as NodeBackend),
      checkpointDir: record.start.dir,
      faults: null,
    };
    resumeFrom = loadRunCheckpoint(out, cfg.task);
    resuming = true;
  } else {
    cfg = args.config;
    out = args.out;
    if (args.runtime === 'node')
      node = { backend: args.backend, checkpointDir: args.checkpointDir, faults: args.faults };
    else chromiumPath(); // no browser: fail before anything is written
  }
  const task = getTask(cfg.task);
  // Read (and validate) the starting checkpoints before anything is written.
  const start = node
    ? {
        policy: readCheckpoint(node.checkpointDir, 'policy', task.name),
        prm: readCheckpoint(node.checkpointDir, 'prm', task.name),
      }
    : null;
  if (resuming && start) {
    const record = readRunRecord(out);
    if (record.start?.policy !== crcOf(start.policy) || record.start?.prm !== crcOf(start.prm))
      throw new Error(
        `the start checkpoints in '${node?.checkpointDir}' changed since the run began (CRC-32 differs); the run cannot resume exactly`,
      );
  }

  // The starting evaluation: reused from another run's start-eval.json (checked before anything is
  // written), and kept in this run's directory for others.
  const startKey = start ? startEvalKey(cfg, crcOf(start.policy)) : null;
  const reusedStart =
    'startEval' in args && args.startEval && startKey ? readStartEval(args.startEval, startKey) : null;

  const metricsPath = path.join(out, METRICS);
  let keptRows: object[] = [];
  if (resuming) keptRows = truncateMetrics(out, resumeFrom?.state.iter ?? 0);
  else {
    prepareRunDir(out, 'force' in args && args.force);
    writeRunRecord(out, {
      kind: 'scope-lab/run',
      version: 1,
      runtime: node ? 'node' : 'browser',
      backend: node ? node.backend : 'runtime' in args && args.runtime === 'browser' ? args.backend : '',
      config: cfg,
      start:
        start && node
          ? { dir: node.checkpointDir, policy: crcOf(start.policy), prm: crcOf(start.prm) }
          : null,
    });
    writeFileAtomic(metricsPath, '');
  }
  const bar = new Progress('train', cfg.iters);
  // The same files and progress lines from either runtime.
  const onIteration = (metrics: IterationMetrics) => {
    appendFileSync(metricsPath, `${JSON.stringify(metrics)}\n`);
    const e = metrics.eval
      ? ` | test ${metrics.eval.testAcc.toFixed(3)} sampled ${metrics.eval.testAccSampled.toFixed(3)}`
      : '';
    const r = metrics.rewardMean === null ? '' : `reward ${metrics.rewardMean.toFixed(3)}`;
    const skipped = metrics.skippedUpdates ? ` | SKIPPED ${metrics.skippedUpdates} non-finite update(s)` : '';
    bar.update(metrics.iter, `${r} ${(metrics.timeMs.total / 1000).toFixed(2)}s/it${e}${skipped}`);
  };
  let startEval: EvalResult | null = (resumeFrom?.state.start as EvalResult | undefined) ?? null;
  const onEval = (iter: number, e: EvalResult) => {
    if (iter === 0) {
      startEval = e;
      if (startKey) writeStartEval(path.join(out, START_EVAL), startKey, e);
      log(
        `start: test ${e.testAcc.toFixed(3)} sampled ${e.testAccSampled.toFixed(3)} ood ${e.oodAcc.toFixed(3)}${edgeLine(e.edge)}${reusedStart && 'startEval' in args ? ` (reused from ${args.startEval})` : ''}`,
      );
    }
  };
  const header = (b: string) =>
    log(
      `train ${task.name} ${cfg.algo} seed=${cfg.seed} iters=${cfg.iters} runtime=${node ? 'node' : 'browser'} backend=${b} -> ${out}${resuming ? ` (resumed at iteration ${resumeFrom?.state.iter ?? 0})` : ''}`,
    );

  let summary: RunSummary;
  if (node && start) {
    const used = await useBackend(node.backend);
    const pc = start.policy;
    const policy = prepareRlPolicy(task, pc, cfg);
    if (resumeFrom) policy.loadCheckpoint(resumeFrom.ck.manifestJson, resumeFrom.ck.blob);
    const service = new RunPolicyService(task, policy, () =>
      PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob),
    );
    // A second core computes shards of each update (src/core/shards.ts); the numbers are the
    // same without it. Awaited here (~1 s): the run's loop never yields to the thread's messages.
    const thread =
      cfg.updateShards > 1
        ? await startGradientThread({ backend: node.backend, task: task.name, checkpoint: pc }).catch(
            (e: Error) => {
              log(`note: ${e.message}; every shard of the update runs on this thread`);
              return null;
            },
          )
        : null;
    service.helper = thread;
    const prm = new LocalPrmService(loadPrm(task, start.prm));
    // The coordinator RNG of the checkpoint (as the browser session resumes): the same problems.
    const rng = resumeFrom ? resumedTrainerRng(resumeFrom.ck) : undefined;
    const trainer = new Trainer(task, cfg, service, prm, rng);
    trainer.iter = resumeFrom?.state.iter ?? 0;
    service.trainer = trainer;
    if (node.faults) trainer.injectFaults(node.faults as Parameters<Trainer['injectFaults']>[0]);
    header(used);
    const loop: RunLoop = new RunLoop(trainer, {
      onIteration: ({ metrics }) => onIteration(metrics),
      onEval,
      onCheckpoint: (iter, ck) => saveRunCheckpoint(out, ck, { iter, mark: loop.mark(), start: startEval }),
    });
    if (resumeFrom && startEval) loop.rewind(trainer, resumeFrom.state.mark);
    // A resumed run begins with its own starting evaluation, restored from the checkpoint, instead
    // of evaluating the resumed policy (its summary is then the uninterrupted run's); a new run may
    // reuse another's (--start-eval). The evaluation reads the policy only, with its own RNG, so
    // skipping it leaves every later number as it was.
    const knownStart = resumeFrom ? startEval : reusedStart;
    if (knownStart) {
      const evaluate = trainer.evaluate.bind(trainer);
      trainer.evaluate = async () => {
        trainer.evaluate = evaluate;
        return knownStart;
      };
    }
    await loop.begin();
    while (!loop.finished) await loop.next();
    summary = loop.summary();
    await thread?.close();
    // The loop saw the evaluations after the checkpoint; the lowest sampled accuracy counts the
    // ones before it too (they are in the kept metrics rows).
    for (const row of keptRows as IterationMetrics[])
      if (row.eval) summary.minTestAccSampled = Math.min(summary.minTestAccSampled, row.eval.testAccSampled);
  } else {
    const res = await runInBrowser({
      config: cfg,
      backend: (args as { backend: Parameters<typeof runInBrowser>[0]['backend'] }).backend,
      query: (args as { remeasureBackend?: boolean }).remeasureBackend ? { remeasure: '1' } : undefined,
      log,
      onEvent: (e) => {
        if (e.type === 'ready') {
          const b = e.backend as BackendInfo;
          header(`${b.backend}${b.adapter ? ` (${b.adapter})` : ''} threads=${b.threads}`);
          if (b.note) log(`backend note: ${b.note}`);
        } else if (e.type === 'iteration') onIteration(e.metrics);
        else if (e.type === 'eval') {
          const d = e.detail as { iter: number; result: EvalResult };
          onEval(d.iter, d.result);
        } else if (e.type === 'notice') {
          const d = e.detail as { level: string; message: string };
          log(`${d.level}: ${d.message}`);
        }
      },
    });
    summary = res.summary;
    saveRunCheckpoint(out, res.checkpoint, {
      iter: summary.iters,
      mark: { done: summary.iters, rectified: 0, salvaged: 0, skipped: summary.skippedUpdates },
      start: startEval,
    });
  }
  writeFileAtomic(path.join(out, SUMMARY), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    `end: test ${summary.end.testAcc.toFixed(3)} sampled ${summary.end.testAccSampled.toFixed(3)} (start ${summary.start.testAccSampled.toFixed(3)}) ood ${summary.end.oodAcc.toFixed(3)}${edgeLine(summary.edge?.end)}${summary.edge ? `; forgetting ${summary.forgetting >= 0 ? '+' : ''}${summary.forgetting.toFixed(3)}` : ''} in ${summary.wallSeconds.toFixed(0)}s`,
  );
  if (summary.skippedUpdates > 0)
    log(
      `warning: ${summary.skippedUpdates} update(s) skipped because the loss or a gradient was not finite (the weights were left as they were)`,
    );
  if (args.json) console.log(JSON.stringify(summary));
});
