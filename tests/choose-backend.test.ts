/**
 * `--backend auto`'s decision logic with stubbed adapters and timings (workers/choose-backend.ts),
 * the interleaved measurement schedule with stubbed runners and clock, and the real probe on two
 * Node backends (wasm and cpu) to check the measurement runs the model and reports what it timed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { addTask } from '../src/core/tasks';
import * as tf from '../src/core/tf';
import { useBackend } from '../src/node/backend';
import { readCheckpoint } from '../src/node/files';
import { parseTrainArgs } from '../src/node/options';
import { parseRunnerParams } from '../src/runner/params';
import {
  type AdapterLike,
  type BackendMeasurement,
  type CachedChoice,
  choiceKey,
  DEFAULT_PROBE,
  decideByMeasurement,
  decisionFromMeasurement,
  type ProbeOutcome,
  parseProbe,
  planBackend,
  TIE_MARGIN,
} from '../workers/choose-backend';
import { type Candidate, measureInterleaved, policyProbe } from '../workers/measure-backend';

const HW: AdapterLike = { info: { vendor: 'nvidia', architecture: 'hopper', description: 'H200' } };
const SOFT: AdapterLike = { info: { vendor: 'google', architecture: 'swiftshader' } };
const ok = (stepMs: number, decodeMs: number): ProbeOutcome => ({
  ok: true,
  stepMs,
  decodeMs,
  totalMs: stepMs + decodeMs,
  runs: 3,
});
const failed = (error: string): ProbeOutcome => ({ ok: false, error });
const MODEL = { vocabSize: 17, blockSize: 64, nLayer: 2, nHead: 4, dModel: 64, dMlp: 256 };
const keyParts = {
  adapter: 'nvidia / hopper / H200',
  browser: 'Chrome/131',
  tfjs: '4.22.0',
  model: MODEL,
  workload: 'update step 64x32 + decode 64x16 tokens, median of 3',
};
const measurement = (webgpu: ProbeOutcome, wasm: ProbeOutcome): BackendMeasurement => ({
  webgpu,
  wasm,
  workload: keyParts.workload,
  measuredAt: '2026-12-03T09:40:12.000Z',
  adapter: keyParts.adapter,
});
const plan = (o: Partial<Parameters<typeof planBackend>[2]> = {}, adapter: AdapterLike | null = HW) =>
  planBackend('auto', adapter, {
    cached: null,
    key: choiceKey(keyParts),
    remeasure: false,
    canMeasure: true,
    ...o,
  });

describe('decideByMeasurement', () => {
  it('takes the faster backend by step + decode and says both timings and the ratio', () => {
    const gpu = decideByMeasurement(measurement(ok(10, 2), ok(40, 8)));
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.reason).toMatch(/webgpu 12\.0 ms \(update 10\.0 \+ decode 2\.0\) vs wasm 48\.0 ms/);
    expect(gpu.reason).toMatch(/webgpu 4\.00x faster/);
    // A faster step but a much slower decode (readback per token): wasm wins on the total.
    const wasm = decideByMeasurement(measurement(ok(10, 60), ok(40, 8)));
    expect(wasm.backend).toBe('wasm');
    expect(wasm.reason).toMatch(/wasm 1\.46x faster/);
  });

  it('a tie (within the margin) goes to wasm; just outside it, to webgpu', () => {
    const within = 100 * (1 - TIE_MARGIN / 2);
    expect(decideByMeasurement(measurement(ok(within, 0), ok(100, 0))).backend).toBe('wasm');
    expect(decideByMeasurement(measurement(ok(within, 0), ok(100, 0))).reason).toMatch(/tie/);
    expect(decideByMeasurement(measurement(ok(100, 0), ok(100, 0))).backend).toBe('wasm');
    const outside = 100 * (1 - TIE_MARGIN * 2);
    expect(decideByMeasurement(measurement(ok(outside, 0), ok(100, 0))).backend).toBe('webgpu');
  });

  it('a backend that failed loses, whatever its timing; both failed -> wasm', () => {
    const gpuFailed = decideByMeasurement(measurement(failed('GPU validation error'), ok(400, 100)));
    expect(gpuFailed.backend).toBe('wasm');
    expect(gpuFailed.reason).toMatch(/webgpu failed \(GPU validation error\)/);
    expect(decideByMeasurement(measurement(ok(900, 100), failed('no SIMD'))).backend).toBe('webgpu');
    const both = decideByMeasurement(measurement(failed('a'), failed('b')));
    expect(both.backend).toBe('wasm');
    expect(both.reason).toMatch(/both failed/);
  });
});

describe('planBackend', () => {
  it('explicit choices and a missing adapter do not measure', () => {
    for (const b of ['wasm', 'cpu'] as const)
      expect(planBackend(b, HW, { cached: null, key: null, remeasure: true, canMeasure: true })).toEqual({
        kind: 'decided',
        decision: { backend: b, adapter: null },
      });
    expect(
      planBackend('webgpu', SOFT, { cached: null, key: null, remeasure: true, canMeasure: true }),
    ).toMatchObject({
      kind: 'decided',
      decision: { backend: 'webgpu' },
    });
    expect(plan({ remeasure: true }, null)).toEqual({
      kind: 'decided',
      decision: { backend: 'wasm', adapter: null, note: 'no WebGPU adapter' },
    });
  });

  it('a hardware adapter without a cached decision is measured', () => {
    expect(plan()).toEqual({ kind: 'measure', adapter: 'nvidia / hopper / H200', why: expect.any(String) });
  });

  it('a software adapter gets wasm without measuring, unless remeasure forces it', () => {
    const p = plan({}, SOFT);
    expect(p.kind).toBe('decided');
    if (p.kind === 'decided') {
      expect(p.decision.backend).toBe('wasm');
      expect(p.decision.note).toMatch(/software WebGPU adapter/);
    }
    expect(plan({ remeasure: true }, SOFT).kind).toBe('measure');
  });

  it('a cached decision for this exact key is used and said to be cached; remeasure ignores it', () => {
    const key = choiceKey(keyParts);
    const cached: CachedChoice = decisionFromMeasurement(measurement(ok(10, 2), ok(40, 8)), key).record;
    const p = plan({ cached });
    expect(p).toMatchObject({
      kind: 'decided',
      decision: { backend: 'webgpu', adapter: 'nvidia / hopper / H200' },
    });
    if (p.kind === 'decided') {
      expect(p.decision.note).toMatch(
        /auto chose webgpu by measurement: webgpu 12\.0 ms .* vs wasm 48\.0 ms/,
      );
      expect(p.decision.note).toMatch(/measured 2026-12-03 09:40 UTC \(cached/);
    }
    expect(plan({ cached, remeasure: true }).kind).toBe('measure');
    // Cached wasm on a software adapter: the measured decision, not the software rule.
    const soft = plan({ cached: { ...cached, backend: 'wasm' } }, SOFT);
    expect(soft).toMatchObject({ kind: 'decided', decision: { backend: 'wasm', adapter: null } });
  });

  it('a stale decision (another tfjs, model, adapter, browser or probe) is not used', () => {
    const old = decisionFromMeasurement(measurement(ok(10, 2), ok(40, 8)), choiceKey(keyParts)).record;
    const variants = [
      { ...keyParts, tfjs: '4.23.0' },
      { ...keyParts, model: { ...MODEL, dModel: 256 } },
      { ...keyParts, model: { ...MODEL, nLayer: 4 } },
      { ...keyParts, adapter: 'amd / rdna3' },
      { ...keyParts, browser: 'Chrome/132' },
      { ...keyParts, workload: 'update step 4x8 + decode 4x4 tokens, median of 2' },
    ];
    for (const v of variants) {
      const key = choiceKey(v);
      expect(key).not.toBe(old.key);
      // Even if a store handed back the old record, it does not fit this key.
      expect(plan({ cached: old, key }).kind).toBe('measure');
    }
  });

  it('a worker that cannot measure (no model) keeps the hardware-adapter rule', () => {
    expect(plan({ canMeasure: false })).toMatchObject({ kind: 'decided', decision: { backend: 'webgpu' } });
  });

  it('the fresh decision carries the record to cache under its key', () => {
    const key = choiceKey(keyParts);
    const { decision, record } = decisionFromMeasurement(measurement(ok(50, 20), ok(40, 8)), key);
    expect(decision.backend).toBe('wasm');
    expect(decision.adapter).toBeNull();
    expect(decision.note).not.toMatch(/cached/);
    expect(record).toMatchObject({ key, backend: 'wasm' });
  });
});

describe('parseProbe', () => {
  it('accepts known integer fields in range and rejects the rest', () => {
    expect(parseProbe({ batch: 4, runs: 2 })).toEqual({ batch: 4, runs: 2 });
    expect(() => parseProbe({ batch: 0 })).toThrow(/probe.batch/);
    expect(() => parseProbe({ batch: 1.5 })).toThrow(/probe.batch/);
    expect(() => parseProbe({ speed: 1 })).toThrow(/unknown field 'speed'/);
    expect(() => parseProbe([1])).toThrow(/JSON object/);
  });
});

/** A runner whose step and decode advance a fake clock by fixed amounts. */
function stub(
  clock: { t: number },
  name: string,
  stepMs: number,
  decodeMs: number,
  log: string[],
  failAt = -1,
) {
  let calls = 0;
  let disposed = false;
  const c: Candidate & { disposed: () => boolean } = {
    name,
    open: async () => ({
      step: async () => {
        if (calls++ === failAt) throw new Error(`${name} broke`);
        log.push(`${name}.step`);
        clock.t += stepMs;
      },
      decode: async () => {
        log.push(`${name}.decode`);
        clock.t += decodeMs;
      },
      dispose: () => {
        disposed = true;
      },
    }),
    activate: async () => {},
    disposed: () => disposed,
  };
  return c;
}

describe('measureInterleaved', () => {
  it('warms up, then alternates the backends, and reports medians', async () => {
    const clock = { t: 0 };
    const log: string[] = [];
    const a = stub(clock, 'wasm', 40, 8, log);
    const b = stub(clock, 'webgpu', 30, 6, log);
    const r = await measureInterleaved([a, b], { runs: 3, warmup: 1 }, () => clock.t);
    expect(r.wasm).toEqual({ ok: true, stepMs: 40, decodeMs: 8, totalMs: 48, runs: 3 });
    expect(r.webgpu).toEqual({ ok: true, stepMs: 30, decodeMs: 6, totalMs: 36, runs: 3 });
    expect(log.slice(4, 8)).toEqual(['wasm.step', 'wasm.decode', 'webgpu.step', 'webgpu.decode']);
    expect(log).toHaveLength(16);
    expect(a.disposed() && b.disposed()).toBe(true);
  });

  it('a backend that throws is reported failed and the other is still measured', async () => {
    const clock = { t: 0 };
    const log: string[] = [];
    const r = await measureInterleaved(
      [stub(clock, 'wasm', 40, 8, log), stub(clock, 'webgpu', 30, 6, log, 2)],
      { runs: 3, warmup: 1 },
      () => clock.t,
    );
    expect(r.webgpu).toEqual({ ok: false, error: 'webgpu broke' });
    expect(r.wasm).toMatchObject({ ok: true, runs: 3 });
    const opened: Candidate = {
      name: 'webgpu',
      open: async () => {
        throw new Error('no device');
      },
      activate: async () => {},
    };
    const r2 = await measureInterleaved(
      [stub(clock, 'wasm', 1, 1, log), opened],
      { runs: 2, warmup: 0 },
      () => clock.t,
    );
    expect(r2.webgpu).toEqual({ ok: false, error: 'no device' });
    expect(r2.wasm).toMatchObject({ ok: true, runs: 2 });
  });

  it('a backend far slower after the first round stops early', async () => {
    const clock = { t: 0 };
    const log: string[] = [];
    const r = await measureInterleaved(
      [stub(clock, 'wasm', 40, 8, log), stub(clock, 'webgpu', 4000, 800, log)],
      { runs: 5, warmup: 1 },
      () => clock.t,
    );
    expect(r.webgpu).toMatchObject({ ok: true, totalMs: 4800, runs: 1 });
    expect(r.wasm).toMatchObject({ ok: true, totalMs: 48, runs: 5 });
    expect(log.filter((l) => l === 'webgpu.step')).toHaveLength(2); // warm-up + one timed
  });
});

describe('the real probe on two Node backends', () => {
  afterAll(async () => {
    await useBackend('wasm');
  });

  it('times the shipped policy on wasm and cpu interleaved; the decision follows the medians', async () => {
    const ck = readCheckpoint('public/checkpoints/add', 'policy');
    const w = { ...DEFAULT_PROBE, batch: 4, seqLen: 12, newTokens: 4, runs: 2, warmup: 1 };
    // Tensors added by each timed call (the probe must not leak on the backends it measures).
    const growth: number[] = [];
    const counted = (fn: () => Promise<void>) => async () => {
      const n = tf.memory().numTensors;
      await fn();
      growth.push(tf.memory().numTensors - n);
    };
    const cand = (name: 'wasm' | 'cpu'): Candidate => ({
      name,
      open: async () => {
        await useBackend(name);
        const r = policyProbe(addTask, ck, w);
        return { step: counted(r.step), decode: counted(r.decode), dispose: r.dispose };
      },
      activate: async () => {
        await tf.setBackend(name);
      },
    });
    const r = await measureInterleaved([cand('wasm'), cand('cpu')], w, () => performance.now(), 1e9);
    for (const name of ['wasm', 'cpu']) {
      const o = r[name];
      expect(o.ok).toBe(true);
      if (o.ok) {
        expect(o.runs).toBe(2);
        expect(o.stepMs).toBeGreaterThan(0);
        expect(o.decodeMs).toBeGreaterThan(0);
        expect(o.totalMs).toBeCloseTo(o.stepMs + o.decodeMs, 9);
      }
    }
    expect(growth).toHaveLength(2 * 2 * (w.runs + w.warmup));
    expect(growth.every((g) => g === 0)).toBe(true);
    // The same comparison as auto's (cpu standing in for webgpu).
    const d = decideByMeasurement({ wasm: r.wasm, webgpu: r.cpu });
    const faster =
      r.wasm.ok && r.cpu.ok && r.cpu.totalMs < r.wasm.totalMs * (1 - TIE_MARGIN) ? 'webgpu' : 'wasm';
    expect(d.backend).toBe(faster);
  }, 120_000);
});

describe('asking for a re-measurement', () => {
  it('train --runtime browser --remeasure-backend, and the runner URL, reach the session options', () => {
    const args = parseTrainArgs([
      '--task',
      'add',
      '--algo',
      'grpo',
      '--runtime',
      'browser',
      '--remeasure-backend',
    ]);
    expect(args).toMatchObject({ runtime: 'browser', backend: 'auto', remeasureBackend: true });
    expect(parseTrainArgs(['--task', 'add', '--algo', 'grpo', '--runtime', 'browser'])).toMatchObject({
      remeasureBackend: false,
    });
    expect(() => parseTrainArgs(['--task', 'add', '--algo', 'grpo', '--remeasure-backend'])).toThrow(
      /--remeasure-backend works with --runtime browser only/,
    );
    const q = `task=add&algo=scope&backend=auto&remeasure=1&probe=${encodeURIComponent('{"batch":2,"runs":1}')}`;
    expect(parseRunnerParams(q).options).toMatchObject({
      backend: 'auto',
      remeasureBackend: true,
      backendProbe: { batch: 2, runs: 1 },
    });
    expect(parseRunnerParams('task=add&algo=scope').options.remeasureBackend).toBe(false);
    expect(() => parseRunnerParams('task=add&algo=scope&probe={"batch":0}')).toThrow(/probe.batch/);
    expect(() => parseRunnerParams('task=add&algo=scope&probe=nope')).toThrow(/probe must be JSON/);
  });
});

describe('the probe model is released', () => {
  it('a policy loaded from a checkpoint and disposed leaves no tensor behind', async () => {
    const ck = readCheckpoint('public/checkpoints/add', 'policy');
    const before = tf.memory().numTensors;
    const bytesBefore = tf.memory().numBytes;
    const r = policyProbe(addTask, ck, { ...DEFAULT_PROBE, batch: 2, seqLen: 8, newTokens: 2 });
    await r.step();
    r.dispose();
    // Parameters, Adam's moments and the values they were created or loaded from are all released.
    expect(tf.memory().numTensors - before).toBe(0);
    expect(tf.memory().numBytes - bytesBefore).toBe(0);
  });
});
