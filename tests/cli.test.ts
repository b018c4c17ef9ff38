import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

function run(script: string, args: string[]) {
  const res = spawnSync('npx', ['tsx', `scripts/${script}.ts`, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: res.status, stderr: res.stderr.replace(/npm warn.*\n/g, ''), stdout: res.stdout };
}

describe('train CLI rejects bad options with a one-line message and a non-zero exit', () => {
  const cases: [string[], RegExp][] = [
    [['--task', 'add', '--algo', 'ppo', '--iters', '1'], /unknown algo 'ppo'/],
    [['--task', 'sub', '--algo', 'grpo', '--iters', '1'], /unknown task 'sub'/],
    [['--task', 'add', '--algo', 'grpo', '--iters', '1', '--set', 'groupSize=1'], /groupSize 1/],
    [['--task', 'add', '--algo', 'grpo', '--iters', '1', '--set', 'lr=-0.1'], /lr -0.1/],
    [['--task', 'add', '--algo', 'grpo', '--iters', '0'], /--iters must be an integer/],
    [
      ['--task', 'add', '--algo', 'grpo', '--iters', '1', '--checkpoint', '/nonexistent'],
      /no policy checkpoint in '\/nonexistent'/,
    ],
    [['--task', 'add', '--algo', 'grpo', '--iters', '1', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, msg] of cases)
    it(args.join(' '), () => {
      const r = run('train', args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^error: /);
    });

  it('never overwrites an existing run without --force', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'scope-run-'));
    writeFileSync(path.join(dir, 'metrics.jsonl'), 'precious\n');
    const r = run('train', ['--task', 'add', '--algo', 'grpo', '--iters', '1', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already holds a run/);
    expect(readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).toBe('precious\n');
  });
});

describe('pretrain and eval CLIs', () => {
  it('pretrain rejects an unknown task', () => {
    const r = run('pretrain', ['--task', 'mul']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown task 'mul'/);
  });
  it('eval requires a checkpoint directory', () => {
    const r = run('eval', ['--task', 'add']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing --checkpoint/);
  });
});
