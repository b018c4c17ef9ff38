import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRlConfig } from '../src/core/rl/config';
import { runnerQuery } from '../src/node/browser-run';
import { parseRunnerParams } from '../src/runner/params';
import { chooseBackend } from '../workers/choose-backend';
import { buffersOf, packRows, unpackRows } from '../workers/protocol';

describe('worker protocol packing', () => {
  it('packs rows into one buffer and unpacks views with the same values', () => {
    const rows = [Float32Array.of(1, 2, 3), new Float32Array(0), Float32Array.of(-0.5)];
    const packed = packRows(rows);
    expect(packed.flat.length).toBe(4);
    expect(Array.from(packed.lengths)).toEqual([3, 0, 1]);
    const back = unpackRows(packed);
    expect(back.map((r) => Array.from(r))).toEqual([[1, 2, 3], [], [-0.5]]);
    expect(new Set(back.map((r) => r.buffer)).size).toBe(1);
  });

  it('keeps float32 PRM scores exact through number[][]', () => {
    const scores = [[Math.fround(0.1234567), 1], [Math.fround(1e-7)]];
    expect(unpackRows(packRows(scores)).map((r) => Array.from(r))).toEqual(scores);
  });

  it('names each buffer once in a transfer list', () => {
    const a = new Float32Array(8);
    expect(buffersOf(a.subarray(0, 2), a.subarray(2), undefined, new Int32Array(1))).toHaveLength(2);
  });
});

describe('runner URL', () => {
  it('round-trips a full config through the query the CLI builds', () => {
    const config = parseRlConfig({ task: 'arith', algo: 'srpo', iters: 7, seed: 4, lr: 3e-5, rectifyCap: 2 });
    const p = parseRunnerParams(`?${runnerQuery(config, 'webgpu')}`);
    expect(p.options.config).toEqual(config);
    expect(p.options.backend).toBe('webgpu');
    expect(p.options.storageNamespace).toBeNull();
    expect(p.autostart).toBe(true);
  });

  it('reads storage, autosave, resume and autostart', () => {
    const p = parseRunnerParams('?task=add&algo=grpo&storage=ns&autosave=2&resume=r1&autostart=0&final=1');
    expect(p.options).toMatchObject({ storageNamespace: 'ns', autosaveEvery: 2, resumeRunId: 'r1' });
    expect(p.autostart).toBe(false);
    expect(p.reportFinalCheckpoint).toBe(true);
  });

  it('rejects a bad URL before anything starts', () => {
    expect(() => parseRunnerParams('?algo=grpo')).toThrow(/missing task/);
    expect(() => parseRunnerParams('?task=add&algo=grpo&backend=gpu')).toThrow(/unknown backend 'gpu'/);
    expect(() => parseRunnerParams('?task=add&algo=grpo&set.lr=abc')).toThrow(/lr: 'abc' is not a number/);
    expect(() => parseRunnerParams('?task=add&algo=grpo&set.bogus=1')).toThrow(/unknown config key 'bogus'/);
    expect(() => parseRunnerParams('?task=add&algo=grpo&iters=0')).toThrow(/iters must be/);
  });

  it('reads the fault-injection hook, validated', () => {
    expect(parseRunnerParams('?task=add&algo=grpo').faults).toBeNull();
    const p = parseRunnerParams(
      `?task=add&algo=grpo&faults=${encodeURIComponent('{"nonFiniteLossAt":[2]}')}`,
    );
    expect(p.faults).toEqual({ nonFiniteLossAt: [2], nonFiniteGradientAt: [] });
    expect(() => parseRunnerParams('?task=add&algo=grpo&faults=nope')).toThrow(
      /faults must be JSON, got 'nope'/,
    );
    expect(() => parseRunnerParams('?task=add&algo=grpo&faults={"nonFiniteLossAt":[0]}')).toThrow(
      /invalid fault injection nonFiniteLossAt/,
    );
  });
});

describe('train CLI: runtime and backend combinations', () => {
  const run = (args: string[]) => {
    const res = spawnSync(
      'npx',
      ['tsx', 'scripts/train.ts', '--task', 'add', '--algo', 'grpo', '--iters', '1', ...args],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    return { code: res.status, stderr: res.stderr.replace(/npm warn.*\n/g, '') };
  };
  it('the node runtime has no webgpu', () => {
    const r = run(['--runtime', 'node', '--backend', 'webgpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown backend 'webgpu' for the node runtime/);
  });
  it('the browser runtime names its backends', () => {
    const r = run(['--runtime', 'browser', '--backend', 'gpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/expected auto, webgpu, wasm, cpu/);
  });
  it('a clear error when there is no Chromium', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'scope-run-'));
    const r = spawnSync(
      'npx',
      [
        'tsx',
        'scripts/train.ts',
        '--runtime',
        'browser',
        '--task',
        'add',
        '--algo',
        'grpo',
        '--iters',
        '1',
        '--out',
        mkdtempSync(path.join(tmpdir(), 'scope-run-')),
      ],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CHROMIUM_PATH: '/nonexistent/chromium' } },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/CHROMIUM_PATH='\/nonexistent\/chromium' does not exist/);
    expect(readdirSync(out)).toEqual([]); // nothing written
  });
});

describe('backend choice', () => {
  const gpu = { info: { vendor: 'nvidia', architecture: 'hopper', device: 'H100' } };
  const swiftshader = { info: { vendor: 'google', architecture: 'swiftshader' } };
  const fallback = { info: { vendor: 'x', isFallbackAdapter: true } };

  it('auto: WebGPU on a hardware adapter, WASM on a software one or none, with the reason', () => {
    expect(chooseBackend('auto', gpu)).toEqual({ backend: 'webgpu', adapter: 'nvidia / hopper / H100' });
    expect(chooseBackend('auto', swiftshader)).toMatchObject({
      backend: 'wasm',
      note: /software.*swiftshader/,
    });
    expect(chooseBackend('auto', fallback).backend).toBe('wasm');
    expect(chooseBackend('auto', { isFallbackAdapter: true }).backend).toBe('wasm');
    expect(chooseBackend('auto', null)).toEqual({
      backend: 'wasm',
      adapter: null,
      note: 'no WebGPU adapter',
    });
  });

  it('forced choices are obeyed; forced webgpu without an adapter is a clear error', () => {
    expect(chooseBackend('webgpu', swiftshader)).toEqual({
      backend: 'webgpu',
      adapter: 'google / swiftshader',
    });
    expect(chooseBackend('wasm', gpu)).toEqual({ backend: 'wasm', adapter: null });
    expect(chooseBackend('cpu', gpu)).toEqual({ backend: 'cpu', adapter: null });
    expect(() => chooseBackend('webgpu', null)).toThrow(/no WebGPU adapter/);
  });
});
