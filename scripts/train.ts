/**
 * npm run train -- --task <add|arith> --algo <grpo|prm-dense|luffy|scope|rrpo|srpo|sft-control>
 *   --iters N --seed S [--runtime node|browser] [--backend ...] [--out DIR] [--json] [--set key=value ...]
 * RL from the shipped checkpoints; writes DIR/metrics.jsonl, DIR/summary.json, DIR/policy.{json,bin}.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendChoice, BackendInfo } from '../src/browser/session-api';
import { PolicyModel } from '../src/core/agents';
import type { EvalResult } from '../src/core/evaluate';
import { ALGOS, DEFAULT_RL, parseRlConfig } from '../src/core/rl/config';
import { parseOverrides } from '../src/core/rl/overrides';
import { type RunSummary, runTraining } from '../src/core/rl/run';
import { LocalPolicyService, LocalPrmService } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { type IterationMetrics, Trainer } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import { type NodeBackend, useBackend } from '../src/node/backend';
import { runInBrowser } from '../src/node/browser-run';
import { chromiumPath } from '../src/node/chromium';
import { cliMain, intOption } from '../src/node/cli';
import { readCheckpoint, writeCheckpoint } from '../src/node/files';
import { Progress } from '../src/node/progress';

const BROWSER_BACKENDS = ['auto', 'webgpu', 'wasm', 'cpu'] as const;

const HELP = `usage: npm run train -- --task <add|arith> --algo <${ALGOS.join('|')}> --iters N --seed S
         [--runtime node|browser] [--backend wasm|cpu (node) | auto|webgpu|wasm|cpu (browser)]
         [--checkpoint DIR] [--out DIR] [--force] [--json] [--set key=value ...]
Starts from the shipped checkpoints (public/checkpoints/<task>, or --checkpoint DIR) and writes
DIR/metrics.jsonl (one object per iteration), DIR/summary.json and the final policy checkpoint.
--runtime browser runs the same training in headless Chromium (policy and PRM in Web Workers;
system Chromium or CHROMIUM_PATH); its backend defaults to auto (WebGPU on a hardware adapter,
else WASM).
--set overrides any config knob, e.g. --set lr=1e-5 --set groupSize=16 (see docs/algorithms.md).
--json prints the summary as the last stdout line.`;

await cliMain(HELP, async () => {
  const { values } = parseArgs({
    options: {
      task: { type: 'string' },
      algo: { type: 'string' },
      iters: { type: 'string' },
      seed: { type: 'string', default: '1' },
      runtime: { type: 'string', default: 'node' },
      backend: { type: 'string' },
      checkpoint: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return console.log(HELP);
  if (!values.task) throw new Error('missing --task (add or arith)');
  if (!values.algo) throw new Error(`missing --algo (${ALGOS.join(', ')})`);
  const task = getTask(values.task);
  if (!(ALGOS as readonly string[]).includes(values.algo))
    throw new Error(`unknown algo '${values.algo}' (expected one of: ${ALGOS.join(', ')})`);
  const runtime = values.runtime;
  if (runtime !== 'node' && runtime !== 'browser')
    throw new Error(`unknown runtime '${runtime}' (expected node or browser)`);
  const backend = values.backend ?? (runtime === 'node' ? 'wasm' : 'auto');
  if (runtime === 'node' && backend !== 'wasm' && backend !== 'cpu')
    throw new Error(`unknown backend '${backend}' for the node runtime (expected wasm or cpu)`);
  if (runtime === 'browser' && !(BROWSER_BACKENDS as readonly string[]).includes(backend))
    throw new Error(
      `unknown backend '${backend}' for the browser runtime (expected ${BROWSER_BACKENDS.join(', ')})`,
    );
  if (runtime === 'browser' && values.checkpoint)
    throw new Error('--checkpoint works with --runtime node only (the browser loads public/checkpoints)');
  const cfg = parseRlConfig({
    ...parseOverrides(values.set ?? []),
    task: task.name,
    algo: values.algo,
    iters: intOption('iters', values.iters ?? String(DEFAULT_RL.iters), 1, 100_000),
    seed: intOption('seed', values.seed, 0),
  });
  const out = values.out ?? path.join('runs', `${task.name}-${cfg.algo}-s${cfg.seed}`);
  if (
    !values.force &&
    (existsSync(path.join(out, 'metrics.jsonl')) || existsSync(path.join(out, 'summary.json')))
  )
    throw new Error(`'${out}' already holds a run; pass --force to overwrite it or choose another --out`);
  if (runtime === 'browser') chromiumPath(); // no browser: fail before anything is written
  const ckDir = values.checkpoint ?? path.join('public', 'checkpoints', task.name);
  const pc = readCheckpoint(ckDir, 'policy');
  const rc = readCheckpoint(ckDir, 'prm');

  mkdirSync(out, { recursive: true });
  const metricsPath = path.join(out, 'metrics.jsonl');
  writeFileSync(metricsPath, '');
  const log = values.json ? console.error : console.log;
  const bar = new Progress('train', cfg.iters);
  // The same files and progress lines from either runtime.
  const onIteration = (metrics: IterationMetrics) => {
    appendFileSync(metricsPath, `${JSON.stringify(metrics)}\n`);
    const e = metrics.eval
      ? ` | test ${metrics.eval.testAcc.toFixed(3)} sampled ${metrics.eval.testAccSampled.toFixed(3)}`
      : '';
    const r = metrics.rewardMean === null ? '' : `reward ${metrics.rewardMean.toFixed(3)}`;
    bar.update(metrics.iter, `${r} ${(metrics.timeMs.total / 1000).toFixed(2)}s/it${e}`);
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
  if (runtime === 'node') {
    const used = await useBackend(backend as NodeBackend);
    const policy = prepareRlPolicy(task, pc, cfg);
    const prm = loadPrm(task, rc);
    const service = new LocalPolicyService(task, policy, () =>
      PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob),
    );
    const trainer = new Trainer(task, cfg, service, new LocalPrmService(prm));
    header(used);
    summary = await runTraining(trainer, {
      onIteration: ({ metrics }) => onIteration(metrics),
      onEval,
      onCheckpoint: (_iter, ck) => writeCheckpoint(out, 'policy', ck),
    });
  } else {
    const res = await runInBrowser({
      config: cfg,
      backend: backend as BackendChoice,
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
  if (values.json) console.log(JSON.stringify(summary));
});
