/**
 * Bad command-line input (issue 9, item 7): every script answers with one line naming the option
 * and the value, and exits 2, never with a stack trace. The tables run through the parsers
 * in-process (fast); a few cases per script run the real script to check the exit path.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/node/files';
import { parseEvalArgs, parsePretrainArgs, parseSoakArgs, parseTrainArgs } from '../src/node/options';

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
    [[...TRAIN, '--bogus'], /Unknown option '--bogus'/],
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
    expect(a?.config).toMatchObject({ task: 'add', algo: 'grpo', iters: 1, seed: 1, lr: 1e-5, groupSize: 8 });
    expect(parseTrainArgs([...TRAIN, '--runtime', 'browser'])).toMatchObject({ backend: 'auto' });
    expect(parseTrainArgs(['--help'])).toBeNull();
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
