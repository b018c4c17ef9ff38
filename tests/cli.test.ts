/**
 * Bad command-line input (issue 9, item 7): every script answers with one line naming the option
 * and the value, and exits 2, never with a stack trace. The tables run through the parsers
 * in-process (fast); a few cases per script run the real script to check the exit path.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deserializeCheckpoint, serializeCheckpoint } from '../src/core/checkpoint';
import { DEFAULT_RL, rlConfigSchema } from '../src/core/rl/config';
import { readCheckpoint } from '../src/node/files';
import {
  parseEvalArgs,
  parsePretrainArgs,
  parseSoakArgs,
  parseTrainArgs,
  TRAIN_HELP,
} from '../src/node/options';
import { checkpointDirOf, KILL_HOOK_ENV, loadRunCheckpoint, prepareRunDir } from '../src/node/run-dir';

const SHIPPED = path.join('public', 'checkpoints', 'add');

function run(script: string, args: string[]) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: res.status, stderr: res.stderr, stdout: res.stdout };
}

/** exit 2, "error: ..." first, at most a usage line after it, no stack trace. */
function expectCleanFailure(r: ReturnType<typeof run>, msg: RegExp) {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(msg);
  expect(lines.length).toBeLessThanOrEqual(2);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

function expectOneLineError(parse: () => unknown, msg: RegExp) {
  let err: unknown;
  try {
    parse();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(msg);
  expect((err as Error).message).not.toContain('\n');
}

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'scope-cli-'));
}

/** A copy of the shipped add checkpoints, then `damage` applied to it. */
function damagedCheckpoint(damage: (dir: string) => void): string {
  const dir = tempDir();
  for (const f of ['policy.json', 'policy.bin', 'prm.json', 'prm.bin'])
    copyFileSync(path.join(SHIPPED, f), path.join(dir, f));
  damage(dir);
  return dir;
}

const TRAIN = ['--task', 'add', '--algo', 'grpo', '--iters', '1'];

describe('train options: every bad input is one clear line', () => {
  const cases: [string[], RegExp][] = [
    [['--task', 'add', '--algo', 'ppo', '--iters', '1'], /unknown algo 'ppo'/],
    [['--task', 'sub', '--algo', 'grpo', '--iters', '1'], /unknown task 'sub'/],
    [['--algo', 'grpo'], /missing --task/],
    [['--task', 'add'], /missing --algo/],
    [[...TRAIN, '--iters', 'abc'], /--iters must be an integer in \[1, 100000\], got 'abc'/],
    [[...TRAIN, '--iters', '1.5'], /--iters must be an integer.*'1.5'/],
    [[...TRAIN, '--iters', '0'], /--iters must be an integer.*'0'/],
    [[...TRAIN, '--iters', '100001'], /--iters must be an integer.*'100001'/],
    [[...TRAIN, '--iters', ''], /--iters must be an integer.*''/],
    [['--task', 'add', '--algo', 'grpo', '--iters'], /--iters <value>' argument missing/],
    [[...TRAIN, '--seed', '-1'], /'--seed' argument is ambiguous.*use '--seed=-XYZ'/],
    [[...TRAIN, '--seed=-1'], /--seed must be an integer in \[0, .*got '-1'/],
    [[...TRAIN, '--seed', 'abc'], /--seed must be an integer.*'abc'/],
    [[...TRAIN, '--set', 'lr=-1'], /invalid lr -1: /],
    [[...TRAIN, '--set', 'lr=abc'], /--set lr: 'abc' is not a number/],
    [[...TRAIN, '--set', 'lr='], /--set lr: '' is not a number/],
    [[...TRAIN, '--set', 'lr=Infinity'], /--set lr: 'Infinity' is not a number/],
    [[...TRAIN, '--set', 'groupSize=1'], /invalid groupSize 1: /],
    [[...TRAIN, '--set', 'groupSize=2.5'], /invalid groupSize 2.5: /],
    [[...TRAIN, '--set', 'temperature=0'], /invalid temperature 0: /],
    [[...TRAIN, '--set', 'topP=1.5'], /invalid topP 1.5: /],
    [[...TRAIN, '--set', 'tau=1'], /invalid tau 1: /],
    [[...TRAIN, '--set', 'evalN=0'], /invalid evalN 0: /],
    [[...TRAIN, '--set', 'scaleRewards=bogus'], /invalid scaleRewards "bogus"/],
    [[...TRAIN, '--set', 'scopeKeepOriginal=maybe'], /--set scopeKeepOriginal: 'maybe' is not true or false/],
    [[...TRAIN, '--set', 'bogus=1'], /--set: unknown config key 'bogus'/],
    [[...TRAIN, '--set', 'lr'], /--set expects key=value, got 'lr'/],
    [[...TRAIN, '--set', '=1'], /--set expects key=value, got '=1'/],
    [[...TRAIN, '--set', 'iters=5'], /--set iters: use --iters instead/],
    [[...TRAIN, '--set', 'task=arith'], /--set task: use --task instead/],
    [['--task', 'add', '--algo', 'rrpo', '--iters', '1', '--set', 'groupSize=5'], /G must be even/],
    [[...TRAIN, '--backend', 'gpu'], /unknown backend 'gpu' for the node runtime \(expected wasm, cpu\)/],
    [[...TRAIN, '--backend', 'webgpu'], /unknown backend 'webgpu' for the node runtime/],
    [[...TRAIN, '--runtime', 'deno'], /unknown runtime 'deno' \(expected node or browser\)/],
    [[...TRAIN, '--runtime', 'browser', '--backend', 'tpu'], /unknown backend 'tpu' for the browser runtime/],
    [[...TRAIN, '--runtime', 'browser', '--checkpoint', 'x'], /--checkpoint works with --runtime node only/],
    [[...TRAIN, '--inject-faults', '{oops'], /--inject-faults expects JSON/],
    [[...TRAIN, '--inject-faults', '{"nonFiniteLossAt":[0]}'], /invalid fault injection nonFiniteLossAt\.0/],
    [[...TRAIN, '--inject-faults', '{"nanAt":[1]}'], /invalid fault injection/],
    [[...TRAIN, '--bogus'], /Unknown option '--bogus'$/],
    [
      ['--task', 'add', '--algo', 'grpo', '--iter', '3'],
      /Unknown option '--iter' \(did you mean --iters\?\)/,
    ],
    [[...TRAIN, '--sed', '3'], /Unknown option '--sed' \(did you mean --seed\?\)/],
    [[...TRAIN, '--checkpiont', 'x'], /did you mean --checkpoint\?/],
    [[...TRAIN, '--seed', '0x10'], /--seed must be an integer in \[0, .*got '0x10'/],
    [[...TRAIN, '--iters', '1e3'], /--iters must be an integer in \[1, 100000\], got '1e3'/],
    [[...TRAIN, '--iters', ' 5'], /--iters must be an integer/],
    [[...TRAIN, '--set', '__proto__=1'], /--set: unknown config key '__proto__'/],
    [[...TRAIN, '--set', 'constructor=1'], /--set: unknown config key 'constructor'/],
    [[...TRAIN, '--set', 'toString=x'], /--set: unknown config key 'toString'/],
    [[...TRAIN, '--set', 'groupSize=0x10'], /--set groupSize: '0x10' is not a number/],
    [[...TRAIN, '--set', 'groupSize=1e1'], /invalid groupSize 1e1: expected an integer in \[2, 64\]/],
    [[...TRAIN, '--set', 'evalN=1e17'], /invalid evalN 1e17: expected an integer in \[1, 10000\]/],
    [[...TRAIN, '--set', 'evalN=20000'], /invalid evalN 20000: expected an integer in \[1, 10000\]/],
    [
      ['--resume', 'runs/x', '--task', 'add'],
      /--resume takes the run's options from DIR\/run.json; drop --task/,
    ],
    [['--resume', 'runs/x', '--set', 'lr=1'], /drop --set/],
    [['--resume', 'runs/x', '--runtime', 'browser'], /--resume works with --runtime node only/],
    [[...TRAIN, 'extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, msg] of cases)
    it(args.join(' '), () => expectOneLineError(() => parseTrainArgs(args), msg));

  it('good input parses to the documented defaults', () => {
    const a = parseTrainArgs([...TRAIN, '--set', 'lr=1e-5', '--inject-faults', '{"nonFiniteLossAt":[1]}']);
    expect(a).toMatchObject({
      runtime: 'node',
      backend: 'wasm',
      checkpointDir: SHIPPED,
      out: path.join('runs', 'add-grpo-s1'),
      faults: { nonFiniteLossAt: [1], nonFiniteGradientAt: [] },
    });
    expect(a && 'config' in a ? a.config : null).toMatchObject({
      task: 'add',
      algo: 'grpo',
      iters: 1,
      seed: 1,
      lr: 1e-5,
      groupSize: 8,
    });
    expect(parseTrainArgs([...TRAIN, '--runtime', 'browser'])).toMatchObject({ backend: 'auto' });
    expect(parseTrainArgs(['--help'])).toBeNull();
    expect(parseTrainArgs([...TRAIN, '--set', 'lr=1e-5', '--set', 'groupSize=+16']) as object).toMatchObject({
      config: { lr: 1e-5, groupSize: 16 },
    });
    expect(parseTrainArgs(['--resume', 'runs/x', '--json'])).toEqual({
      resume: 'runs/x',
      backend: null,
      json: true,
    });
  });
});

describe('train --help: the usage line and every --set key from the config schema', () => {
  it('options with a default are bracketed in the usage line', () => {
    const usage = TRAIN_HELP.split('\n')[0];
    expect(usage).toMatch(/--task <add\|arith> --algo </);
    expect(usage).toMatch(/\[--iters N\] \[--seed S\]/);
    expect(usage.replace(/\[[^\]]*\]/g, '')).not.toMatch(/--iters|--seed/);
  });
  it('lists every --set key with its default and its meaning (the schema description)', () => {
    const shape = rlConfigSchema.shape as unknown as Record<string, { description?: string }>;
    const setKeys = Object.keys(shape).filter((k) => !['task', 'algo', 'iters', 'seed'].includes(k));
    expect(setKeys.length).toBeGreaterThan(25);
    const lines = TRAIN_HELP.split('\n');
    for (const key of setKeys) {
      const line = lines.find((l) => l.trimStart().startsWith(`${key} `));
      expect(line, key).toBeDefined();
      const described =
        shape[key].description ??
        (shape[key] as { unwrap?: () => { description?: string } }).unwrap?.().description;
      expect(described, `${key} has a .describe() in the schema`).toMatch(/\w{3}/);
      const [, value, meaning] = /^\s+\S+\s+(\S+)\s+(.*)$/.exec(line!)!;
      expect(value).toBe(String((DEFAULT_RL as Record<string, unknown>)[key]));
      expect(meaning.startsWith(described!)).toBe(true);
    }
    // The knobs with their own option are not --set keys.
    expect(lines.some((l) => /^\s+iters\s/.test(l))).toBe(false);
    expect(TRAIN_HELP).toMatch(/scaleRewards\s+group\s+Advantage scaling.*\(group\|batch\|none\)/);
  });
});

describe('eval and pretrain options', () => {
  const EVAL = ['--task', 'add', '--checkpoint', SHIPPED];
  const evalCases: [string[], RegExp][] = [
    [['--task', 'add'], /missing --checkpoint/],
    [['--checkpoint', SHIPPED], /missing --task/],
    [['--task', 'mul', '--checkpoint', SHIPPED], /unknown task 'mul'/],
    [[...EVAL, '--n', '0'], /--n must be an integer in \[1, 100000\], got '0'/],
    [[...EVAL, '--n', 'many'], /--n must be an integer.*'many'/],
    [[...EVAL, '--seed=-1'], /--seed must be an integer.*'-1'/],
    [[...EVAL, '--backend', 'gpu'], /unknown backend 'gpu' \(expected wasm, cpu\)/],
    [[...EVAL, '--iters', '3'], /Unknown option '--iters'/],
  ];
  for (const [args, msg] of evalCases)
    it(`eval ${args.join(' ')}`, () => expectOneLineError(() => parseEvalArgs(args), msg));

  const PRE = ['--task', 'add', '--out', 'unused'];
  const pretrainCases: [string[], RegExp][] = [
    [['--seed', '1'], /missing --task/],
    [['--task', 'mul'], /unknown task 'mul'/],
    [[...PRE, '--sft-steps', '0'], /--sft-steps must be an integer.*'0'/],
    [[...PRE, '--sft-steps', '1e9'], /--sft-steps must be an integer.*'1e9'/],
    [[...PRE, '--sft-lr', 'abc'], /--sft-lr must be a number in \[0.000001, 1\], got 'abc'/],
    [[...PRE, '--sft-lr', '2'], /--sft-lr must be a number.*'2'/],
    [[...PRE, '--sft-batch', '5000'], /--sft-batch must be an integer in \[1, 1024\].*'5000'/],
    [[...PRE, '--prm-steps', 'x'], /--prm-steps must be an integer.*'x'/],
    [[...PRE, '--seed=-3'], /--seed must be an integer.*'-3'/],
    [[...PRE, '--algo', 'grpo'], /Unknown option '--algo'/],
  ];
  for (const [args, msg] of pretrainCases)
    it(`pretrain ${args.join(' ')}`, () => expectOneLineError(() => parsePretrainArgs(args), msg));

  const soakCases: [string[], RegExp][] = [
    [['--iters', '5'], /--iters must be an integer in \[8, 100000\], got '5'/],
    [['--every', '0'], /--every must be an integer in \[1, 1000\], got '0'/],
    [['--iters', '100', '--every', '30'], /--every 30 gives fewer than 4 samples over 100 iterations/],
    [['--backend', 'gpu'], /unknown backend 'gpu'/],
    [['--algo', 'ppo'], /unknown algo 'ppo'/],
    [['--autosave', 'x'], /--autosave must be an integer/],
    [['--runtime', 'node'], /Unknown option '--runtime'/],
  ];
  for (const [args, msg] of soakCases)
    it(`soak ${args.join(' ')}`, () => expectOneLineError(() => parseSoakArgs(args), msg));

  it('good input parses', () => {
    expect(parseSoakArgs([])).toMatchObject({ every: 50, autosave: 10, backend: 'wasm' });
    expect(parseSoakArgs([])?.config).toMatchObject({ iters: 1000, promptsPerIter: 2, groupSize: 4 });
    expect(parseEvalArgs([...EVAL, '--n', '10'])).toMatchObject({ n: 10, seed: 1234, backend: 'wasm' });
    expect(parsePretrainArgs(['--task', 'arith', '--sft-lr', '1e-3'])).toMatchObject({
      out: path.join('public', 'checkpoints', 'arith'),
      sftLr: 1e-3,
      sftSteps: undefined,
    });
  });
});

describe('checkpoint directories: missing, damaged or mismatched files are refused by name', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      'manifest is not JSON',
      (d) => writeFileSync(path.join(d, 'policy.json'), '{"format": '),
      /not valid JSON/,
    ],
    [
      'one blob byte flipped',
      (d) => {
        const f = path.join(d, 'policy.bin');
        const b = readFileSync(f);
        b[100] ^= 0xff;
        writeFileSync(f, b);
      },
      /blob is corrupted: CRC-32/,
    ],
    [
      'truncated blob',
      (d) =>
        writeFileSync(path.join(d, 'policy.bin'), readFileSync(path.join(d, 'policy.bin')).subarray(0, 1000)),
      /truncated/,
    ],
    [
      'a PRM stored as the policy',
      (d) => {
        copyFileSync(path.join(d, 'prm.json'), path.join(d, 'policy.json'));
        copyFileSync(path.join(d, 'prm.bin'), path.join(d, 'policy.bin'));
      },
      /unusable: it holds a prm/,
    ],
    ['an empty manifest file', (d) => writeFileSync(path.join(d, 'policy.json'), ''), /not valid JSON/],
    [
      'a manifest whose model config does not fit its tensors',
      (d) => {
        const f = path.join(d, 'policy.json');
        const m = JSON.parse(readFileSync(f, 'utf8'));
        m.config.dMlp *= 2; // the CRC covers the blob only: this is a shape error
        writeFileSync(f, JSON.stringify(m));
      },
      /unusable: parameter '.*' has shape \[.*\], the model needs \[.*\]/,
    ],
  ];
  for (const [name, damage, msg] of cases)
    it(name, () => {
      const dir = damagedCheckpoint(damage);
      expectOneLineError(() => readCheckpoint(dir, 'policy', 'add'), msg);
      expectOneLineError(
        () => readCheckpoint(dir, 'policy', 'add'),
        /^policy checkpoint in '.*' is unusable: /,
      );
    });

  it('a missing directory, and a checkpoint of another task', () => {
    expectOneLineError(
      () => readCheckpoint('/nonexistent', 'policy'),
      /no policy checkpoint in '\/nonexistent'/,
    );
    expectOneLineError(() => readCheckpoint(SHIPPED, 'prm', 'arith'), /is for task 'add', not 'arith'/);
    expect(readCheckpoint(SHIPPED, 'prm', 'add').blob.length).toBeGreaterThan(0);
  });
});

describe('the scripts themselves exit 2 with one line and no stack trace', () => {
  it('train --iters abc', () => {
    expectCleanFailure(run('train', [...TRAIN, '--iters', 'abc']), /--iters must be an integer/);
  });
  it('train from a damaged checkpoint directory, writing nothing', () => {
    const dir = damagedCheckpoint((d) => writeFileSync(path.join(d, 'prm.bin'), 'garbage'));
    const out = path.join(tempDir(), 'run');
    const r = run('train', [...TRAIN, '--checkpoint', dir, '--out', out]);
    expectCleanFailure(r, /prm checkpoint in '.*' is unusable: .*truncated/);
    expect(() => readFileSync(path.join(out, 'metrics.jsonl'))).toThrow(/ENOENT/);
  });
  it('eval --n 0', () => {
    expectCleanFailure(run('eval', ['--task', 'add', '--checkpoint', SHIPPED, '--n', '0']), /--n must be/);
  });
  it('pretrain --sft-lr abc', () => {
    const r = run('pretrain', ['--task', 'add', '--out', tempDir(), '--sft-lr', 'abc']);
    expectCleanFailure(r, /--sft-lr must be a number/);
  });

  it('pretrain never replaces existing checkpoints without --force', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'policy.json'), 'precious\n');
    const r = run('pretrain', ['--task', 'add', '--out', dir]);
    expectCleanFailure(r, /already holds checkpoints; pass --force/);
    expect(readFileSync(path.join(dir, 'policy.json'), 'utf8')).toBe('precious\n');
  });

  it('never overwrites an existing run without --force', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'metrics.jsonl'), 'precious\n');
    const r = run('train', [...TRAIN, '--out', dir]);
    expectCleanFailure(r, /already holds a run/);
    expect(readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).toBe('precious\n');
  });

  it('a skipped non-finite update is shown in the warning, metrics.jsonl and summary.json', () => {
    const out = path.join(tempDir(), 'run');
    const r = run('train', [
      ...['--task', 'add', '--algo', 'grpo', '--iters', '2', '--out', out],
      ...['--set', 'promptsPerIter=1', '--set', 'groupSize=2', '--set', 'evalN=2'],
      ...['--inject-faults', '{"nonFiniteLossAt":[2]}'],
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: 1 update\(s\) skipped because the loss or a gradient was not finite/);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.skippedUpdates).toBe(1);
    const rows = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((m: { skippedUpdates: number }) => m.skippedUpdates)).toEqual([0, 1]);
  });
});

/** A copy of the shipped add checkpoints whose `tensor` has `value` at element 0, re-checksummed. */
function poisonedCheckpoint(tensor: string, value: number): string {
  const dir = damagedCheckpoint(() => {});
  const f = (ext: string) => path.join(dir, `policy.${ext}`);
  const { manifest, tensors } = deserializeCheckpoint(
    readFileSync(f('json'), 'utf8'),
    readFileSync(f('bin')),
  );
  tensors.get(tensor)!.data[0] = value;
  const ck = serializeCheckpoint({
    ...manifest,
    tensors: [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
  });
  writeFileSync(f('json'), ck.manifestJson);
  writeFileSync(f('bin'), ck.blob);
  return dir;
}

describe('non-finite checkpoints are refused by the CLI load paths', () => {
  it('readCheckpoint names the tensor (NaN in a weight, Inf in the output gain)', () => {
    expectOneLineError(
      () => readCheckpoint(poisonedCheckpoint('lnf.g', Number.POSITIVE_INFINITY), 'policy', 'add'),
      /policy checkpoint in '.*' is unusable: tensor 'lnf.g' holds Infinity at element 0/,
    );
    expectOneLineError(
      () => readCheckpoint(poisonedCheckpoint('wte', Number.NaN), 'policy', 'add'),
      /tensor 'wte' holds NaN at element 0: a model with non-finite weights is unusable/,
    );
  });
  it('eval exits 2 on a NaN policy', () => {
    const dir = poisonedCheckpoint('wte', Number.NaN);
    const r = run('eval', ['--task', 'add', '--checkpoint', dir, '--n', '2']);
    expectCleanFailure(r, /policy checkpoint in '.*' is unusable: tensor 'wte' holds NaN/);
  });
  it('train exits 2 on an Inf output gain and writes nothing', () => {
    const dir = poisonedCheckpoint('lnf.g', Number.NEGATIVE_INFINITY);
    const out = path.join(tempDir(), 'run');
    const r = run('train', [...TRAIN, '--checkpoint', dir, '--out', out]);
    expectCleanFailure(r, /policy checkpoint in '.*' is unusable: tensor 'lnf.g' holds -Infinity/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('train --scenario edge prints the edge evaluation', () => {
  it('start and end lines carry edge greedy and pass@1/16/64, the end line the forgetting', () => {
    const out = path.join(tempDir(), 'edge');
    const r = run('train', [
      ...['--scenario', 'edge', '--algo', 'grpo', '--iters', '1', '--out', out],
      ...['--set', 'edgeEvalN=4', '--set', 'evalN=4', '--set', 'promptsPerIter=2', '--set', 'groupSize=2'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const num = String.raw`\d\.\d{3}`;
    const edge = String.raw`\| edge \(n=4\): greedy ${num} pass@1 ${num} pass@16 ${num} pass@64 ${num}`;
    expect(r.stdout).toMatch(new RegExp(`^start: test ${num} sampled ${num} ood ${num} ${edge}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(String.raw`^end: .* ${edge}; forgetting [+-]${num} in \d+s$`, 'm'));
    // The printed numbers are the summary's.
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(r.stdout).toContain(`pass@1 ${summary.edge.end.passAtK['1'].toFixed(3)}`);
  });
});

describe('run directories: atomic checkpoints, --force, --resume after SIGKILL', () => {
  // Small and quick, but with groups of 4, two prompts and evaluations, so a resume that lost any
  // RNG, Adam state or counter would show in the metrics.
  const SMALL = [
    ...['--task', 'add', '--algo', 'scope', '--iters', '4', '--seed', '3'],
    ...['--set', 'promptsPerIter=2', '--set', 'groupSize=4', '--set', 'evalN=4', '--set', 'evalEvery=2'],
    ...['--set', 'checkpointEvery=1', '--set', 'warmupIters=0', '--set', 'lr=0.001'],
  ];
  const killedAt = (n: number) => ({ ...process.env, [KILL_HOOK_ENV]: String(n) });
  const runWith = (args: string[], env?: NodeJS.ProcessEnv) => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/train.ts', ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env,
    });
    return { code: res.status, signal: res.signal, stderr: res.stderr, stdout: res.stdout };
  };
  /** Everything but wall-clock times. */
  const timeless = (v: unknown) =>
    JSON.parse(
      JSON.stringify(v, (k, x) => (/^(timeMs|wallSeconds|secondsPerIter)$/.test(k) ? undefined : x)),
    );
  const rows = (dir: string) =>
    readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => timeless(JSON.parse(l)));
  const finalCheckpoint = (dir: string) => {
    const latest = loadRunCheckpoint(dir, 'add');
    return {
      iter: latest?.state.iter,
      json: latest?.ck.manifestJson,
      bin: Buffer.from(latest?.ck.blob ?? []),
    };
  };

  it('a kill between the two halves of a checkpoint write keeps the previous one; --resume then equals an uninterrupted run', () => {
    const straight = path.join(tempDir(), 'straight');
    expect(runWith([...SMALL, '--out', straight]).code).toBe(0);

    const killed = path.join(tempDir(), 'killed');
    // The 3rd checkpoint write (iteration 3) dies after policy.bin, before policy.json.
    const r = runWith([...SMALL, '--out', killed], killedAt(3));
    expect(r.signal).toBe('SIGKILL');
    const half = readdirSync(killed).find((n) => n.startsWith('ckpt-000003'));
    expect(half).toMatch(/\.tmp-\d+$/); // the half-written unit is there, unreferenced
    expect(readdirSync(path.join(killed, half!)).sort()).toEqual(['policy.bin']);
    const previous = loadRunCheckpoint(killed, 'add');
    expect(previous?.state.iter).toBe(2);
    expect(previous?.state.mark.done).toBe(2);
    expect(existsSync(path.join(killed, 'summary.json'))).toBe(false);
    // The previous checkpoint is the uninterrupted run's checkpoint of iteration 2, and it loads.
    expect(readCheckpoint(checkpointDirOf(killed), 'policy', 'add').blob.length).toBeGreaterThan(0);

    const resumed = runWith(['--resume', killed, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed at iteration 2/);
    expect(rows(killed)).toEqual(rows(straight));
    expect(rows(killed).map((m: { iter: number }) => m.iter)).toEqual([1, 2, 3, 4]);
    const summary = (dir: string) =>
      timeless(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')));
    expect(summary(killed)).toEqual(summary(straight));
    expect(timeless(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!))).toEqual(summary(straight));
    const [a, b] = [finalCheckpoint(straight), finalCheckpoint(killed)];
    expect(b.iter).toBe(4);
    expect(b.json).toBe(a.json);
    expect(b.bin.equals(a.bin)).toBe(true);
    expect(readdirSync(killed).filter((n) => n.startsWith('ckpt-'))).toEqual(['ckpt-000004']);
    // A finished run does not resume.
    expectCleanFailure(runWith(['--resume', killed]), /is finished/);
  });

  it("--start-eval: another run's starting evaluation (other algorithm and seed) changes no number; a mismatched one is refused", () => {
    const donor = path.join(tempDir(), 'donor');
    expect(runWith([...SMALL, '--out', donor]).code).toBe(0);
    const file = path.join(donor, 'start-eval.json');
    expect(JSON.parse(readFileSync(file, 'utf8')).key).toMatchObject({ task: 'add', evalN: 4, edgeEvalN: 0 });
    // grpo seed 5: its own evaluation, then the same run reusing scope seed 3's.
    const other = SMALL.map((a, i) =>
      SMALL[i - 1] === '--algo' ? 'grpo' : SMALL[i - 1] === '--seed' ? '5' : a,
    );
    const own = path.join(tempDir(), 'own');
    const reused = path.join(tempDir(), 'reused');
    expect(runWith([...other, '--out', own]).code).toBe(0);
    const r = runWith([...other, '--out', reused, '--start-eval', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/start: .* \(reused from .*donor\/start-eval\.json\)/);
    // The evaluation depends on neither the algorithm nor the seed ...
    expect(JSON.parse(readFileSync(path.join(own, 'start-eval.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(file, 'utf8')),
    );
    // ... and skipping it leaves every number of the run as it was.
    expect(rows(reused)).toEqual(rows(own));
    const summary = (dir: string) =>
      timeless(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')));
    expect(summary(reused)).toEqual(summary(own));
    const [a, b] = [finalCheckpoint(own), finalCheckpoint(reused)];
    expect(b.json).toBe(a.json);
    expect(b.bin.equals(a.bin)).toBe(true);
    // Other evaluation options, or no such file: refused before anything is written.
    const refused = path.join(tempDir(), 'refused');
    expectCleanFailure(
      runWith([...other, '--set', 'evalN=5', '--out', refused, '--start-eval', file]),
      /--start-eval: '.*' was evaluated with evalN 4, this run has 5/,
    );
    expectCleanFailure(
      runWith([...other, '--out', refused, '--start-eval', path.join(donor, 'nope.json')]),
      /--start-eval: no file/,
    );
    expectCleanFailure(
      runWith([...other, '--out', refused, '--start-eval', path.join(donor, 'run.json')]),
      /is not a starting evaluation/,
    );
    expect(existsSync(refused)).toBe(false);
  });

  it('--force killed before its first checkpoint never leaves a mix of the old and the new run', () => {
    const out = path.join(tempDir(), 'run');
    const old = [...SMALL.slice(0, 5), '2', ...SMALL.slice(6)];
    expect(runWith([...old, '--out', out]).code).toBe(0);
    expect(runWith([...SMALL, '--out', out, '--force'], killedAt(1)).signal).toBe('SIGKILL');
    // Only the new run: its run.json, its metrics so far, no checkpoint and no old summary.
    expect(existsSync(path.join(out, 'summary.json'))).toBe(false);
    expect(loadRunCheckpoint(out, 'add')).toBeNull();
    expect(JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).config.iters).toBe(4);
    expect(rows(out).map((m: { iter: number }) => m.iter)).toEqual([1]);
    expect(readdirSync(path.dirname(out)).filter((n) => n.includes('replaced'))).toEqual([]);
    // Resumed from no checkpoint at all: it starts over and still finishes.
    const resumed = runWith(['--resume', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(rows(out).map((m: { iter: number }) => m.iter)).toEqual([1, 2, 3, 4]);
  });

  it('--force refuses a directory that holds more than a run, and --out under /proc is refused at once', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'metrics.jsonl'), 'old\n');
    writeFileSync(path.join(dir, 'thesis.tex'), 'precious\n');
    expectCleanFailure(runWith([...TRAIN, '--out', dir, '--force']), /holds more than a run \(thesis.tex\)/);
    expect(readFileSync(path.join(dir, 'thesis.tex'), 'utf8')).toBe('precious\n');
    for (const out of ['/proc/self/run', '/proc', '/sys/kernel/x'])
      expectOneLineError(() => prepareRunDir(out, true), /is under \/(proc|sys), a virtual file system/);
    const t0 = Date.now();
    expectCleanFailure(
      runWith([...TRAIN, '--out', '/proc/self/fd/0']),
      /under \/proc, a virtual file system/,
    );
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
