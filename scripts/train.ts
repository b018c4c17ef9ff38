/**
 * npm run train -- --task <add|arith> --algo <grpo|prm-dense|luffy|scope|rrpo|srpo|sft-control>
 *   --iters N --seed S [--runtime node] [--out DIR] [--json] [--set key=value ...]
 * RL from the shipped checkpoints; writes DIR/metrics.jsonl, DIR/summary.json, DIR/policy.{json,bin}.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PolicyModel } from '../src/core/agents';
import { ALGOS, DEFAULT_RL, parseRlConfig } from '../src/core/rl/config';
import { runTraining } from '../src/core/rl/run';
import { LocalPolicyService, LocalPrmService } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { Trainer } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { cliMain, intOption } from '../src/node/cli';
import { readCheckpoint, writeCheckpoint } from '../src/node/files';
import { Progress } from '../src/node/progress';

const HELP = `usage: npm run train -- --task <add|arith> --algo <${ALGOS.join('|')}> --iters N --seed S
         [--runtime node] [--backend wasm|cpu] [--checkpoint DIR] [--out DIR] [--force] [--json] [--set key=value ...]
Starts from the shipped checkpoints (public/checkpoints/<task>, or --checkpoint DIR) and writes
DIR/metrics.jsonl (one object per iteration), DIR/summary.json and the final policy checkpoint.
--set overrides any config knob, e.g. --set lr=1e-5 --set groupSize=16 (see docs/algorithms.md).
--json prints the summary as the last stdout line.`;

/** "key=value" -> typed value following the default's type. */
function parseSet(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw new Error(`--set expects key=value, got '${item}'`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    if (!(key in DEFAULT_RL)) throw new Error(`--set: unknown config key '${key}'`);
    const def = (DEFAULT_RL as Record<string, unknown>)[key];
    if (typeof def === 'number' || (def === null && key === 'rectifyCap')) {
      out[key] = raw === 'null' ? null : Number(raw);
      if (raw !== 'null' && (raw.trim() === '' || !Number.isFinite(out[key] as number)))
        throw new Error(`--set ${key}: '${raw}' is not a number`);
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`--set ${key}: '${raw}' is not true or false`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}

await cliMain(HELP, async () => {
  const { values } = parseArgs({
    options: {
      task: { type: 'string' },
      algo: { type: 'string' },
      iters: { type: 'string' },
      seed: { type: 'string', default: '1' },
      runtime: { type: 'string', default: 'node' },
      backend: { type: 'string', default: 'wasm' },
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
  if (values.runtime === 'browser')
    throw new Error(
      '--runtime browser is not available yet (it arrives with the browser runtime); use --runtime node',
    );
  if (values.runtime !== 'node')
    throw new Error(`unknown runtime '${values.runtime}' (expected node or browser)`);
  if (values.backend !== 'wasm' && values.backend !== 'cpu')
    throw new Error(`unknown backend '${values.backend}' for the node runtime (expected wasm or cpu)`);
  const cfg = parseRlConfig({
    ...parseSet(values.set ?? []),
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
  const ckDir = values.checkpoint ?? path.join('public', 'checkpoints', task.name);
  const pc = readCheckpoint(ckDir, 'policy');
  const rc = readCheckpoint(ckDir, 'prm');

  const backend = await useBackend(values.backend);
  const policy = prepareRlPolicy(task, pc, cfg);
  const prm = loadPrm(task, rc);
  const service = new LocalPolicyService(task, policy, () =>
    PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob),
  );
  const trainer = new Trainer(task, cfg, service, new LocalPrmService(prm));

  mkdirSync(out, { recursive: true });
  const metricsPath = path.join(out, 'metrics.jsonl');
  writeFileSync(metricsPath, '');
  const log = values.json ? console.error : console.log;
  log(`train ${task.name} ${cfg.algo} seed=${cfg.seed} iters=${cfg.iters} backend=${backend} -> ${out}`);
  const bar = new Progress('train', cfg.iters);
  const summary = await runTraining(trainer, {
    onIteration: ({ metrics }) => {
      appendFileSync(metricsPath, `${JSON.stringify(metrics)}\n`);
      const e = metrics.eval
        ? ` | test ${metrics.eval.testAcc.toFixed(3)} sampled ${metrics.eval.testAccSampled.toFixed(3)}`
        : '';
      const r = metrics.rewardMean === null ? '' : `reward ${metrics.rewardMean.toFixed(3)}`;
      bar.update(metrics.iter, `${r} ${(metrics.timeMs.total / 1000).toFixed(2)}s/it${e}`);
    },
    onEval: (iter, e) => {
      if (iter === 0)
        log(
          `start: test ${e.testAcc.toFixed(3)} sampled ${e.testAccSampled.toFixed(3)} ood ${e.oodAcc.toFixed(3)}`,
        );
    },
    onCheckpoint: (_iter, ck) => writeCheckpoint(out, 'policy', ck),
  });
  writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    `end: test ${summary.end.testAcc.toFixed(3)} sampled ${summary.end.testAccSampled.toFixed(3)} (start ${summary.start.testAccSampled.toFixed(3)}) ood ${summary.end.oodAcc.toFixed(3)} in ${summary.wallSeconds.toFixed(0)}s`,
  );
  if (values.json) console.log(JSON.stringify(summary));
});
