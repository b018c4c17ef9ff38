/**
 * The command-line options of every script (train, eval, pretrain), parsed and validated in one
 * place, before any model or file is touched. Each parser takes argv and returns typed options, or
 * null for --help; anything wrong throws an Error whose message is one line naming the option and
 * the value (`cliMain` prints it and exits 2). tests/cli.test.ts runs a table of bad inputs through
 * these parsers in-process, and a few through the real scripts.
 */
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BACKEND_CHOICES, type BackendChoice } from '../browser/session-api';
import { ALGOS, DEFAULT_RL, parseRlConfig, type RlConfig, rlConfigSchema } from '../core/rl/config';
import { type FaultInjection, parseFaultInjection } from '../core/rl/faults';
import { parseOverrides } from '../core/rl/overrides';
import { getScenario, SCENARIO_NAMES, type ScenarioName, scenarioConfig } from '../core/scenarios';
import { getTask } from '../core/tasks';
import { NODE_BACKENDS, type NodeBackend } from './backend';
import { choiceOption, intOption, numOption } from './cli';

/** node:util parseArgs, strict, with its errors folded into one line (and a typo suggestion). */
function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '(--?[^']*)'/.exec(message)?.[1];
    if (unknown) {
      const near = closestOption(unknown.replace(/^-+/, '').split('=')[0], Object.keys(options));
      throw new Error(`Unknown option '${unknown}'${near ? ` (did you mean --${near}?)` : ''}`);
    }
    throw new Error(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** Levenshtein distance (small strings: option names). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** The option nearest to a mistyped name: 2 edits at most (1 for names of 4 letters or fewer). */
export function closestOption(typed: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = typed.length <= 4 ? 2 : 3;
  for (const name of names) {
    const d = editDistance(typed.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

type ZodField = {
  description?: string;
  options?: readonly string[];
  isInt?: boolean;
  unwrap?: () => ZodField;
  def?: { type?: string };
};

/**
 * One line per `--set` key, from the config schema: key, shipped default, meaning (the schema's
 * `.describe()`), and the choices of an enum or "integer". tests/cli.test.ts checks every key is here.
 */
export function setKeysHelp(): string {
  const shape = rlConfigSchema.shape as unknown as Record<string, ZodField>;
  const keys = Object.keys(shape).filter((k) => !(OWN_OPTIONS as readonly string[]).includes(k));
  const width = Math.max(...keys.map((k) => k.length));
  const defaults = DEFAULT_RL as Record<string, unknown>;
  const value = (key: string) => String(defaults[key]);
  const valueWidth = Math.max(...keys.map((k) => value(k).length));
  const lines = keys.map((key) => {
    let field = shape[key];
    const description = field.description;
    const nullable = typeof field.unwrap === 'function';
    if (field.unwrap) field = field.unwrap();
    const kind = field.options
      ? ` (${field.options.join('|')})`
      : field.isInt
        ? ` (integer${nullable ? ' or null' : ''})`
        : field.def?.type === 'boolean'
          ? ' (true|false)'
          : '';
    return `  ${key.padEnd(width)}  ${value(key).padEnd(valueWidth)}  ${description ?? field.description ?? ''}${kind}`;
  });
  return [`--set keys (key, default, meaning; src/core/rl/config.ts):`, ...lines].join('\n');
}

// ---------------------------------------------------------------------------------------------
// train

/** Knobs that have their own option: `--set` may not change them behind its back. */
const OWN_OPTIONS = ['task', 'algo', 'iters', 'seed'] as const;

export const TRAIN_HELP = `usage: npm run train -- --task <add|arith> --algo <${ALGOS.join('|')}> [--iters N] [--seed S]
         [--scenario ${SCENARIO_NAMES.join('|')}] [--runtime node|browser] [--backend wasm|cpu (node) | auto|webgpu|wasm|cpu (browser)]
         [--checkpoint DIR] [--out DIR] [--force] [--json] [--set key=value ...] [--remeasure-backend]
         [--start-eval FILE]
       npm run train -- --resume DIR [--backend wasm|cpu] [--json]
--iters defaults to ${DEFAULT_RL.iters}, --seed to ${DEFAULT_RL.seed}, --out to runs/<task>-<algo>-s<seed>.
Starts from the shipped checkpoints (public/checkpoints/<task>, or --checkpoint DIR) and writes
DIR/metrics.jsonl (one object per iteration), DIR/summary.json and the final policy checkpoint.
--runtime browser runs the same training in headless Chromium (policy and PRM in Web Workers;
system Chromium or CHROMIUM_PATH); its backend defaults to auto: on a hardware WebGPU adapter the
policy worker times its model on WASM and WebGPU and takes the faster (cached per adapter; see
docs/performance.md), else WASM. --remeasure-backend measures again (even on a software adapter).
--set overrides any config knob, e.g. --set lr=1e-5 --set groupSize=16 (see docs/algorithms.md).
--scenario presets the task and knobs (src/core/scenarios.ts; --task may then be left out, --set wins):
sharpen = the shipped defaults, edge = add's carry-chain problems (edge of competence).
--json prints the summary as the last stdout line.
--force replaces a run already in --out (the old one is moved aside in one rename, then deleted).
--resume DIR continues a run that was killed (node runtime) from its latest checkpoint: policy, Adam
state, RNGs and loop counters; the PRM and the KL reference are the start checkpoints, checked by
their CRC-32. Its metrics equal an uninterrupted run's. The run's options come from DIR/run.json.
--inject-faults JSON is a test hook (node runtime): e.g. '{"nonFiniteLossAt":[3]}' makes iteration
3's update non-finite, which the run skips and counts (see src/core/rl/faults.ts).
--start-eval FILE (node runtime) reuses the starting evaluation another run from the same checkpoint
wrote to its DIR/start-eval.json (every node run writes one) instead of evaluating again; it is
refused when its checkpoint or evaluation options differ. The run's numbers are the same either way.

${setKeysHelp()}`;

export type TrainArgs =
  | {
      config: RlConfig;
      runtime: 'node';
      backend: NodeBackend;
      checkpointDir: string;
      out: string;
      force: boolean;
      json: boolean;
      faults: FaultInjection | null;
      /** A starting evaluation to reuse (src/node/start-eval.ts) instead of evaluating. */
      startEval: string | null;
    }
  | {
      config: RlConfig;
      runtime: 'browser';
      backend: BackendChoice;
      /** `auto`: measure the backends again instead of using the cached decision. */
      remeasureBackend: boolean;
      out: string;
      force: boolean;
      json: boolean;
    };

/** `train --resume DIR`: everything else comes from DIR/run.json. */
export interface TrainResumeArgs {
  resume: string;
  /** null: the run's own backend. */
  backend: NodeBackend | null;
  json: boolean;
}

export function parseTrainArgs(argv: string[]): TrainArgs | TrainResumeArgs | null {
  const v = parse(argv, {
    task: { type: 'string' },
    algo: { type: 'string' },
    iters: { type: 'string' },
    seed: { type: 'string', default: '1' },
    scenario: { type: 'string' },
    runtime: { type: 'string', default: 'node' },
    backend: { type: 'string' },
    checkpoint: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    'inject-faults': { type: 'string' },
    'start-eval': { type: 'string' },
    resume: { type: 'string' },
    'remeasure-backend': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  if (v['remeasure-backend'] && v.runtime !== 'browser')
    throw new Error('--remeasure-backend works with --runtime browser only');
  if (v.resume !== undefined) {
    const runOptions = [
      'task',
      'algo',
      'iters',
      'seed',
      'scenario',
      'checkpoint',
      'out',
      'set',
      'inject-faults',
      'start-eval',
      'force',
    ];
    const given = runOptions.find((k) => argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)));
    if (given) throw new Error(`--resume takes the run's options from DIR/run.json; drop --${given}`);
    if (v.runtime !== 'node') throw new Error('--resume works with --runtime node only');
    if (v.resume.trim() === '') throw new Error('--resume expects the run directory');
    return {
      resume: v.resume,
      backend:
        v.backend === undefined
          ? null
          : choiceOption('backend', v.backend, NODE_BACKENDS, { where: 'for the node runtime' }),
      json: v.json,
    };
  }
  const scenario = v.scenario === undefined ? null : getScenario(v.scenario);
  if (!v.task && !scenario) throw new Error('missing --task (add or arith)');
  if (!v.algo) throw new Error(`missing --algo (${ALGOS.join(', ')})`);
  const task = getTask(v.task ?? scenario?.task ?? '');
  const algo = choiceOption('algo', v.algo, ALGOS, { expected: `one of: ${ALGOS.join(', ')}` });
  const overrides = parseOverrides(v.set);
  for (const key of OWN_OPTIONS) if (key in overrides) throw new Error(`--set ${key}: use --${key} instead`);
  const own = {
    ...overrides,
    task: task.name,
    algo,
    iters: intOption('iters', v.iters ?? String(DEFAULT_RL.iters), 1, 100_000),
    seed: intOption('seed', v.seed, 0),
  };
  const config = scenario ? scenarioConfig(scenario.name, own) : parseRlConfig(own);
  const out = v.out ?? path.join('runs', `${task.name}-${config.algo}-s${config.seed}`);
  const common = { config, out, force: v.force, json: v.json };
  if (v.runtime === 'node') {
    const backend = choiceOption('backend', v.backend ?? 'wasm', NODE_BACKENDS, {
      where: 'for the node runtime',
    });
    return {
      ...common,
      runtime: 'node',
      backend,
      checkpointDir:
        v.checkpoint ?? path.join('public', scenario?.checkpoint ?? path.join('checkpoints', task.name)),
      faults: v['inject-faults'] === undefined ? null : parseFaultsJson(v['inject-faults']),
      startEval: v['start-eval'] ?? null,
    };
  }
  if (v.runtime === 'browser') {
    const backend = choiceOption('backend', v.backend ?? 'auto', BACKEND_CHOICES, {
      where: 'for the browser runtime',
    });
    if (v.checkpoint !== undefined || scenario?.checkpoint !== undefined)
      throw new Error('--checkpoint works with --runtime node only (the browser loads public/checkpoints)');
    if (v['inject-faults'] !== undefined) throw new Error('--inject-faults works with --runtime node only');
    if (v['start-eval'] !== undefined) throw new Error('--start-eval works with --runtime node only');
    return { ...common, runtime: 'browser', backend, remeasureBackend: v['remeasure-backend'] };
  }
  throw new Error(`unknown runtime '${v.runtime}' (expected node or browser)`);
}

function parseFaultsJson(raw: string): FaultInjection {
  let spec: unknown;
  try {
    spec = JSON.parse(raw);
  } catch {
    throw new Error(`--inject-faults expects JSON such as '{"nonFiniteLossAt":[3]}', got '${raw}'`);
  }
  return parseFaultInjection(spec);
}

// ---------------------------------------------------------------------------------------------
// eval

export const EVAL_HELP = `usage: npm run eval -- --task <add|arith> --checkpoint <dir> [--n N] [--seed S] [--backend wasm|cpu] [--json]
                    [--scenario ${SCENARIO_NAMES.join('|')}] [--edge-n N]
Greedy accuracy on test/ood, sampled pass@1 and pass@8, diversity, correct paths and PRM first-error
accuracy on fixed, seeded evaluation sets of N problems (default 200). --json: the last stdout line is JSON.
--scenario sets the task, the sampling temperature and the scenario's own evaluation (edge: greedy and
64 samples on --edge-n held-out carry-chain problems, default the scenario's; pass@1/4/16/64, all-wrong
8-sample groups, first-error positions); --checkpoint then defaults to the shipped one.`;

export interface EvalArgs {
  task: string;
  checkpointDir: string;
  scenario: ScenarioName | null;
  /** Problems of the scenario's edge evaluation (0: none). */
  edgeN: number;
  temperature: number;
  n: number;
  seed: number;
  backend: NodeBackend;
  json: boolean;
}

export function parseEvalArgs(argv: string[]): EvalArgs | null {
  const v = parse(argv, {
    task: { type: 'string' },
    checkpoint: { type: 'string' },
    n: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1234' },
    backend: { type: 'string', default: 'wasm' },
    scenario: { type: 'string' },
    'edge-n': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  const scenario = v.scenario === undefined ? null : getScenario(v.scenario);
  if (!v.task && !scenario) throw new Error('missing --task (add or arith)');
  if (!v.checkpoint && !scenario) throw new Error('missing --checkpoint <dir>');
  const task = getTask(v.task ?? scenario?.task ?? '').name;
  const config = scenario ? scenarioConfig(scenario.name, { task }) : null;
  if (v['edge-n'] !== undefined && !config?.edgeEvalN)
    throw new Error('--edge-n needs a --scenario with an edge evaluation (edge)');
  const backend = choiceOption('backend', v.backend, NODE_BACKENDS);
  return {
    task,
    checkpointDir:
      v.checkpoint ?? path.join('public', scenario?.checkpoint ?? path.join('checkpoints', task)),
    scenario: scenario?.name ?? null,
    edgeN: config?.edgeEvalN ? intOption('edge-n', v['edge-n'] ?? String(config.edgeEvalN), 1, 100_000) : 0,
    temperature: config?.temperature ?? DEFAULT_RL.temperature,
    n: intOption('n', v.n, 1, 100_000),
    seed: intOption('seed', v.seed, 0),
    backend,
    json: v.json,
  };
}

// ---------------------------------------------------------------------------------------------
// pretrain

export const PRETRAIN_HELP = `usage: npm run pretrain -- --task <add|arith> [--seed N] [--out DIR] [--force] [--sft-steps N] [--sft-lr X] [--sft-batch N] [--prm-steps N]
Trains the SFT policy and the PRM (wasm backend, deterministic per seed) and writes
policy.json/.bin, prm.json/.bin and eval.json to DIR (default public/checkpoints/<task>).
A DIR that already holds checkpoints (the shipped ones, by default) is replaced only with --force:
the shipped checkpoints rebuild byte for byte only at the commit that made them (README).`;

export interface PretrainArgs {
  task: string;
  seed: number;
  out: string;
  /** Replace checkpoints already in `out`. */
  force: boolean;
  /** Overrides of the task's schedule (undefined: the measured default). */
  sftSteps?: number;
  sftLr?: number;
  sftBatch?: number;
  prmSteps?: number;
}

export function parsePretrainArgs(argv: string[]): PretrainArgs | null {
  const v = parse(argv, {
    task: { type: 'string' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    force: { type: 'boolean', default: false },
    'sft-steps': { type: 'string' },
    'prm-steps': { type: 'string' },
    'sft-lr': { type: 'string' },
    'sft-batch': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  if (!v.task) throw new Error('missing --task (add or arith)');
  const task = getTask(v.task).name;
  const opt = <T>(raw: string | undefined, check: (raw: string) => T) =>
    raw === undefined ? undefined : check(raw);
  return {
    task,
    seed: intOption('seed', v.seed, 0),
    out: v.out ?? path.join('public', 'checkpoints', task),
    force: v.force === true,
    sftSteps: opt(v['sft-steps'], (r) => intOption('sft-steps', r, 1, 1_000_000)),
    sftLr: opt(v['sft-lr'], (r) => numOption('sft-lr', r, 1e-6, 1)),
    sftBatch: opt(v['sft-batch'], (r) => intOption('sft-batch', r, 1, 1024)),
    prmSteps: opt(v['prm-steps'], (r) => intOption('prm-steps', r, 1, 1_000_000)),
  };
}

// ---------------------------------------------------------------------------------------------
// soak

export const SOAK_HELP = `usage: npm run soak -- [--iters N] [--every N] [--task add|arith] [--algo ${ALGOS.join('|')}]
         [--backend auto|webgpu|wasm|cpu] [--autosave N] [--out DIR] [--json]
Trains a small configuration (P=2 prompts x G=4, evalN 20) for N iterations (default 1000) in headless
Chromium through the runner page, with IndexedDB autosave every --autosave iterations (default 10).
Every --every iterations (default 50) it pauses at the iteration boundary and samples live tensors in
both workers, the JS heap of the page and its workers, and IndexedDB usage; then it judges them
(no tensor growth, bounded heap, bounded IndexedDB: src/node/soak.ts) and exits 1 if a rule fails.
Writes DIR/soak.json (default runs/soak). Not part of CI.`;

export interface SoakArgs {
  config: RlConfig;
  every: number;
  backend: BackendChoice;
  autosave: number;
  out: string;
  json: boolean;
}

/** The soak's small configuration: the rest are the defaults. */
const SOAK_CONFIG = { promptsPerIter: 2, groupSize: 4, evalN: 20, evalEvery: 100 } as const;

export function parseSoakArgs(argv: string[]): SoakArgs | null {
  const v = parse(argv, {
    iters: { type: 'string', default: '1000' },
    every: { type: 'string', default: '50' },
    task: { type: 'string', default: 'add' },
    algo: { type: 'string', default: 'scope' },
    backend: { type: 'string', default: 'wasm' },
    autosave: { type: 'string', default: '10' },
    out: { type: 'string', default: path.join('runs', 'soak') },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  const task = getTask(v.task).name;
  const algo = choiceOption('algo', v.algo, ALGOS, { expected: `one of: ${ALGOS.join(', ')}` });
  const backend = choiceOption('backend', v.backend, BACKEND_CHOICES);
  const iters = intOption('iters', v.iters, 8, 100_000);
  const every = intOption('every', v.every, 1, iters);
  if (iters / every < 4)
    throw new Error(`--every ${every} gives fewer than 4 samples over ${iters} iterations`);
  return {
    config: parseRlConfig({ ...SOAK_CONFIG, task, algo, iters, seed: 1 }),
    every,
    backend,
    autosave: intOption('autosave', v.autosave, 1, iters),
    out: v.out,
    json: v.json,
  };
}
