/**
 * npm run train -- --task <add|arith> --algo <grpo|prm-dense|luffy|scope|rrpo|srpo|sft-control>
 *   --iters N --seed S [--runtime node|browser] [--backend ...] [--out DIR] [--json] [--set key=value ...]
 * RL from the shipped checkpoints; writes DIR/metrics.jsonl, DIR/summary.json, DIR/policy.{json,bin}.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendInfo } from '../src/browser/session-api';
import { PolicyModel } from '../src/core/agents';
import type { EvalResult } from '../src/core/evaluate';
import { type RunSummary, runTraining } from '../src/core/rl/run';
import { LocalPolicyService, LocalPrmService } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { type IterationMetrics, Trainer } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { runInBrowser } from '../src/node/browser-run';
import { chromiumPath } from '../src/node/chromium';
import { cliMain } from '../src/node/cli';
import { readCheckpoint, writeCheckpoint } from '../src/node/files';
import { parseTrainArgs, TRAIN_HELP } from '../src/node/options';
import { Progress } from '../src/node/progress';

await cliMain(TRAIN_HELP, async () => {
  const args = parseTrainArgs(process.argv.slice(2));
  if (!args) return console.log(TRAIN_HELP);
  const { config: cfg, runtime, out } = args;
  const task = getTask(cfg.task);
  if (
    !args.force &&
    (existsSync(path.join(out, 'metrics.jsonl')) || existsSync(path.join(out, 'summary.json')))
  )
    throw new Error(`'${out}' already holds a run; pass --force to overwrite it or choose another --out`);
  if (runtime === 'browser') chromiumPath(); // no browser: fail before anything is written
  // Read (and validate) the starting checkpoints before anything is written.
  const start =
    args.runtime === 'node'
      ? {
          policy: readCheckpoint(args.checkpointDir, 'policy', task.name),
          prm: readCheckpoint(args.checkpointDir, 'prm', task.name),
        }
      : null;

  mkdirSync(out, { recursive: true });
  const metricsPath = path.join(out, 'metrics.jsonl');
  writeFileSync(metricsPath, '');
  const log = args.json ? console.error : console.log;
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
  const onEval = (iter: number, e: EvalResult) => {
    if (iter === 0)
      log(
        `start: test ${e.testAcc.toFixed(3)} sampled ${e.testAccSampled.toFixed(3)} ood ${e.oodAcc.toFixed(3)}`,
      );
  };
  const header = (b: string) =>
    log(
      `train ${task.name} ${cfg.algo} seed=${cfg.seed} iters=${cfg.iters} runtime=${runtime} backend=${b} -> ${out}`,
    );

  let summary: RunSummary;
  if (args.runtime === 'node' && start) {
    const used = await useBackend(args.backend);
    const pc = start.policy;
    const policy = prepareRlPolicy(task, pc, cfg);
    const prm = loadPrm(task, start.prm);
    const service = new LocalPolicyService(task, policy, () =>
      PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob),
    );
    const trainer = new Trainer(task, cfg, service, new LocalPrmService(prm));
    if (args.faults) trainer.injectFaults(args.faults);
    header(used);
    summary = await runTraining(trainer, {
      onIteration: ({ metrics }) => onIteration(metrics),
      onEval,
      onCheckpoint: (_iter, ck) => writeCheckpoint(out, 'policy', ck),
    });
  } else {
    const res = await runInBrowser({
      config: cfg,
      backend: args.backend,
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
    writeCheckpoint(out, 'policy', res.checkpoint);
    summary = res.summary;
  }
  writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    `end: test ${summary.end.testAcc.toFixed(3)} sampled ${summary.end.testAccSampled.toFixed(3)} (start ${summary.start.testAccSampled.toFixed(3)}) ood ${summary.end.oodAcc.toFixed(3)} in ${summary.wallSeconds.toFixed(0)}s`,
  );
  if (summary.skippedUpdates > 0)
    log(
      `warning: ${summary.skippedUpdates} update(s) skipped because the loss or a gradient was not finite (the weights were left as they were)`,
    );
  if (args.json) console.log(JSON.stringify(summary));
});
