import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CheckpointInput, packCheckpointFile, serializeCheckpoint } from '../src/core/checkpoint';
import { type ModelConfig, paramShapes } from '../src/core/model';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import type { StoredCheckpoint } from '../src/core/rl/services';
import type { IterationMetrics } from '../src/core/rl/trainer';
import { getTask } from '../src/core/tasks';
import { tokenizerFor } from '../src/core/tokenizer';
import {
  DB_VERSION,
  dbNameFor,
  type LockManagerLike,
  openStore,
  STORAGE_DEFAULTS,
  StorageError,
  type StorageErrorCode,
  type Store,
} from '../src/storage';
import { keepOnlyRun, prepareWidgetStore } from '../src/widget/persistence';

// ---------------------------------------------------------------------------------------------
// Fixtures: real checkpoints of a tiny policy (the core serializer, no tfjs maths needed).

const SMALL: Omit<ModelConfig, 'vocabSize' | 'kind'> = {
  blockSize: 16,
  nLayer: 1,
  nHead: 2,
  dModel: 8,
  dMlp: 16,
};
const CONFIG: RlConfig = parseRlConfig({
  task: 'add',
  algo: 'scope',
  seed: 7,
  iters: 40,
  checkpointEvery: 2,
});

/** Finite bit patterns that a careless float round trip could change: -0, subnormals, the extremes. */
const SPECIAL_BITS = [0x80000000, 0x807fffff, 0x7f7fffff, 0x00000001, 0xff7fffff];

function ckInput(
  iter: number,
  over: Partial<CheckpointInput> = {},
  model: Partial<ModelConfig> = {},
): CheckpointInput {
  const task = over.task ?? 'add';
  const cfg: ModelConfig = {
    ...SMALL,
    vocabSize: tokenizerFor(getTask(task)).vocabSize,
    kind: over.kind ?? 'policy',
    ...model,
  };
  let seed = iter * 7919 + 1;
  const tensors = paramShapes(cfg).map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 16807) % 2147483647;
      data[i] = seed / 2147483647 - 0.5;
    }
    return { name, shape, data };
  });
  new Uint32Array(tensors[0].data.buffer).set(SPECIAL_BITS);
  return {
    kind: cfg.kind,
    task,
    step: 100 + iter,
    config: { ...cfg },
    rng: [1, 2, 3, iter],
    optimizer: {
      name: 'adam',
      iterations: iter,
      hyper: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
    },
    meta: { config: CONFIG, iter },
    tensors,
    ...over,
  };
}

function makeCk(
  iter: number,
  over: Partial<CheckpointInput> = {},
  model: Partial<ModelConfig> = {},
): StoredCheckpoint {
  const { manifestJson, blob } = serializeCheckpoint(ckInput(iter, over, model));
  return { manifestJson, blob };
}

function makeFile(
  iter: number,
  over: Partial<CheckpointInput> = {},
  model: Partial<ModelConfig> = {},
): Uint8Array {
  const ck = makeCk(iter, over, model);
  return packCheckpointFile(ck.manifestJson, ck.blob);
}

function metricsRow(iter: number): IterationMetrics {
  return {
    iter,
    algo: 'scope',
    rewardMean: iter / 10,
    rewardStd: 0.1,
    zeroStdGroupFrac: null,
    diversity: 0.5,
    completionLen: 12,
    truncationRatio: 0,
    loss: iter === 3 ? Number.NaN : 0.25,
    entropy: 1.5,
    clipFraction: 0,
    kl: 0,
    gradNorm: 0.3,
    skippedUpdates: iter === 3 ? 1 : 0,
    trainedTokens: 400,
    rectifications: 2,
    salvaged: 1,
    salvageRate: 0.5,
    firstErrorPos: null,
    firstErrorRel: null,
    prmFirstErrorAcc: null,
    resetParents: null,
    resetK: null,
    resetSuffixReward: null,
    timeMs: { generate: 1, prm: 2, rectify: 3, update: 4, total: 10 },
  };
}

const bytesOf = (ck: StoredCheckpoint) => Array.from(ck.blob);

/** Everything in a namespace's database, read with raw idb (for "nothing was touched" checks). */
async function snapshot(namespace = 'scope-lab') {
  const db = await openDB(dbNameFor(namespace));
  const out: Record<string, [IDBValidKey, unknown][]> = {};
  for (const name of Array.from(db.objectStoreNames)) {
    const keys = await db.getAllKeys(name);
    const values = await db.getAll(name);
    out[name] = keys.map((k, i) => [k, values[i]]);
  }
  db.close();
  return out;
}

async function expectStorageError(p: Promise<unknown>, code: StorageErrorCode, message: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected StorageError '${code}'`).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe(code);
  expect((err as StorageError).message).toMatch(message);
}

let store: Store;
let spies: { mockRestore(): void }[] = [];

beforeEach(async () => {
  // A fresh, empty IndexedDB per test (idb's openDB reads the global at call time).
  globalThis.indexedDB = new IDBFactory();
  store = await openStore();
});

afterEach(() => {
  for (const s of spies) s.mockRestore();
  spies = [];
  store.close();
  vi.unstubAllGlobals();
});

/** Makes IDBObjectStore.put on `storeName` do `fault` instead (once per matching call). */
function faultOnPut(storeName: string, fault: (s: IDBObjectStore) => void) {
  const original = IDBObjectStore.prototype.put;
  const spy = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (
    this: IDBObjectStore,
    ...args: Parameters<IDBObjectStore['put']>
  ) {
    if (this.name === storeName) fault(this);
    return original.apply(this, args);
  });
  spies.push(spy);
  return spy;
}

// ---------------------------------------------------------------------------------------------

describe('runs', () => {
  it('create, get, update, list newest first', async () => {
    const a = await store.createRun(CONFIG, 'first');
    await new Promise((r) => setTimeout(r, 2));
    const b = await store.createRun({ ...CONFIG, seed: 8 });
    expect(a.id).not.toBe(b.id);
    expect(await store.getRun(a.id)).toEqual(a);
    await store.updateRun(a.id, { status: 'paused', iter: 4 });
    const a2 = await store.getRun(a.id);
    expect(a2).toMatchObject({ status: 'paused', iter: 4, label: 'first', config: CONFIG });
    expect(a2!.updatedAt).toBeGreaterThanOrEqual(a.updatedAt);
    expect((await store.listRuns()).map((r) => r.id)).toEqual([b.id, a.id]);
    await expectStorageError(store.updateRun('nope', { status: 'done' }), 'not-found', /no saved run 'nope'/);
  });

  it('rejects an invalid config at createRun', async () => {
    await expect(store.createRun({ ...CONFIG, lr: -1 })).rejects.toThrow(/invalid lr -1/);
    expect(await store.listRuns()).toEqual([]);
  });
});

describe('checkpoints', () => {
  it('save/load round trip is bit-exact (-0 and subnormals included) and lists without blobs', async () => {
    const run = await store.createRun(CONFIG);
    const ck = makeCk(2);
    const info = await store.saveCheckpoint(run.id, 2, ck);
    expect(info).toMatchObject({ runId: run.id, iter: 2, task: 'add' });
    expect(info.bytes).toBe(new TextEncoder().encode(ck.manifestJson).length + ck.blob.length);
    const back = await store.loadCheckpoint(run.id, 2);
    expect(back.manifestJson).toBe(ck.manifestJson);
    expect(bytesOf(back)).toEqual(bytesOf(ck));
    expect(Array.from(new Uint32Array(back.blob.buffer, back.blob.byteOffset, 5))).toEqual(SPECIAL_BITS);
    expect(await store.listCheckpoints(run.id)).toEqual([info]);
    expect((await store.getRun(run.id))!.iter).toBe(2);
  });

  it('the shipped add policy survives save, load, export and import bit-exact', async () => {
    const ck = {
      manifestJson: readFileSync('public/checkpoints/add/policy.json', 'utf8'),
      blob: new Uint8Array(readFileSync('public/checkpoints/add/policy.bin')),
    };
    const run = await store.createRun(CONFIG);
    await store.saveCheckpoint(run.id, 0, ck);
    expect(bytesOf(await store.loadCheckpoint(run.id, 0))).toEqual(bytesOf(ck));
    const file = await store.exportCheckpoint(run.id, 0);
    const { run: imported } = await store.importCheckpoint(file, { task: 'add' });
    expect(bytesOf(await store.loadCheckpoint(imported.id, 0))).toEqual(bytesOf(ck));
  });

  it('stores only the bytes of a view, not its whole underlying buffer', async () => {
    const run = await store.createRun(CONFIG);
    const ck = makeCk(1);
    const big = new Uint8Array(ck.blob.length + 4096);
    big.set(ck.blob, 100);
    await store.saveCheckpoint(run.id, 1, {
      manifestJson: ck.manifestJson,
      blob: big.subarray(100, 100 + ck.blob.length),
    });
    const back = await store.loadCheckpoint(run.id, 1);
    expect(back.blob.buffer.byteLength).toBe(ck.blob.length);
    expect(bytesOf(back)).toEqual(bytesOf(ck));
  });

  it('retention keeps the last K per run, index records and blobs alike', async () => {
    expect(STORAGE_DEFAULTS.keepLastCheckpoints).toBe(3);
    const run = await store.createRun(CONFIG);
    const other = await store.createRun(CONFIG);
    await store.saveCheckpoint(other.id, 1, makeCk(1));
    for (const iter of [2, 4, 6, 8, 10]) await store.saveCheckpoint(run.id, iter, makeCk(iter));
    expect((await store.listCheckpoints(run.id)).map((c) => c.iter)).toEqual([6, 8, 10]);
    expect((await store.listCheckpoints(other.id)).map((c) => c.iter)).toEqual([1]);
    const snap = await snapshot();
    expect(snap.blobs.map(([k]) => k)).toEqual(snap.checkpoints.map(([k]) => k));
    expect(snap.blobs).toHaveLength(4);
    expect((await store.getRun(run.id))!.iter).toBe(10);
    expect(bytesOf(await store.loadCheckpoint(run.id, 6))).toEqual(bytesOf(makeCk(6)));
  });

  it('retention K is an option', async () => {
    store.close();
    store = await openStore('scope-lab', { keepLastCheckpoints: 1 });
    const run = await store.createRun(CONFIG);
    for (const iter of [1, 2, 3]) await store.saveCheckpoint(run.id, iter, makeCk(iter));
    expect((await store.listCheckpoints(run.id)).map((c) => c.iter)).toEqual([3]);
    await expect(openStore('x', { keepLastCheckpoints: 0 })).rejects.toThrow(/keepLastCheckpoints/);
  });

  it('refuses to save for a missing run or a corrupt checkpoint, writing nothing', async () => {
    const run = await store.createRun(CONFIG);
    const before = await snapshot();
    await expectStorageError(
      store.saveCheckpoint('ghost', 1, makeCk(1)),
      'not-found',
      /no saved run 'ghost'/,
    );
    const bad = makeCk(1);
    bad.blob[10] ^= 1;
    await expectStorageError(store.saveCheckpoint(run.id, 1, bad), 'invalid-file', /CRC-32/);
    expect(await snapshot()).toEqual(before);
  });

  it('deleteCheckpoint removes record and blob; the run falls back to its latest remaining', async () => {
    const run = await store.createRun(CONFIG);
    for (const iter of [2, 4]) await store.saveCheckpoint(run.id, iter, makeCk(iter));
    await store.deleteCheckpoint(run.id, 4);
    expect((await store.getRun(run.id))!.iter).toBe(2);
    expect((await store.latestCheckpoint(run.id))!.iter).toBe(2);
    const snap = await snapshot();
    expect(snap.checkpoints).toHaveLength(1);
    expect(snap.blobs).toHaveLength(1);
    await expectStorageError(store.loadCheckpoint(run.id, 4), 'not-found', /no checkpoint at iteration 4/);
  });

  it('deleteRun cascades to its checkpoints and metrics, and only its own', async () => {
    const a = await store.createRun(CONFIG);
    const b = await store.createRun(CONFIG);
    for (const r of [a, b]) {
      await store.saveCheckpoint(r.id, 2, makeCk(2));
      await store.appendMetrics(r.id, [metricsRow(1), metricsRow(2)]);
    }
    await store.deleteRun(a.id);
    expect(await store.getRun(a.id)).toBeUndefined();
    expect(await store.listCheckpoints(a.id)).toEqual([]);
    expect(await store.getMetrics(a.id)).toEqual([]);
    const snap = await snapshot();
    for (const name of ['runs', 'checkpoints', 'blobs', 'metrics'])
      expect(JSON.stringify(snap[name]).includes(a.id), name).toBe(false);
    expect(await store.getMetrics(b.id)).toHaveLength(2);
    expect(bytesOf(await store.loadCheckpoint(b.id, 2))).toEqual(bytesOf(makeCk(2)));
  });
});

describe('metrics and resume', () => {
  it('appends in batches, returns rows in iteration order, NaN kept', async () => {
    const run = await store.createRun(CONFIG);
    await store.appendMetrics(run.id, [metricsRow(3), metricsRow(1)]);
    await store.appendMetrics(run.id, [metricsRow(2), metricsRow(10)]);
    const rows = await store.getMetrics(run.id);
    expect(rows.map((r) => r.iter)).toEqual([1, 2, 3, 10]);
    expect(rows[2].loss).toBeNaN();
    expect(rows[0]).toEqual(metricsRow(1));
    await expectStorageError(store.appendMetrics('ghost', [metricsRow(1)]), 'not-found', /ghost/);
  });

  it('resume data: latest checkpoint + metrics; rows after it can be dropped before re-running', async () => {
    const run = await store.createRun(CONFIG);
    await store.appendMetrics(run.id, [1, 2, 3, 4, 5].map(metricsRow));
    await store.saveCheckpoint(run.id, 2, makeCk(2));
    await store.saveCheckpoint(run.id, 4, makeCk(4));
    // A reload: a new connection to the same database.
    store.close();
    store = await openStore();
    const latest = await store.latestCheckpoint(run.id);
    expect(latest!.iter).toBe(4);
    expect(bytesOf(latest!.ck)).toEqual(bytesOf(makeCk(4)));
    expect(JSON.parse(latest!.ck.manifestJson).meta).toEqual({ config: CONFIG, iter: 4 });
    await store.deleteMetricsAfter(run.id, 4);
    expect((await store.getMetrics(run.id)).map((r) => r.iter)).toEqual([1, 2, 3, 4]);
    expect(await store.latestCheckpoint('ghost')).toBeNull();
  });

  it('a damaged latest checkpoint (changed outside this code) is skipped for the previous one', async () => {
    const run = await store.createRun(CONFIG);
    await store.saveCheckpoint(run.id, 2, makeCk(2));
    await store.saveCheckpoint(run.id, 4, makeCk(4));
    const db = await openDB(dbNameFor('scope-lab'));
    const rec = await db.get('blobs', [run.id, 4]);
    rec.blob[0] ^= 0xff;
    await db.put('blobs', rec);
    db.close();
    const latest = await store.latestCheckpoint(run.id);
    expect(latest!.iter).toBe(2);
    expect(latest!.skipped).toEqual([{ iter: 4, reason: expect.stringMatching(/damaged.*CRC-32/) }]);
  });
});

describe('export and import', () => {
  it('export carries config and iteration; import into a fresh profile gives identical weights', async () => {
    const run = await store.createRun(CONFIG);
    // A checkpoint whose meta lacks the run config still exports with it.
    const ck = makeCk(6, { meta: { trainerRng: [5, 6, 7, 8] } });
    await store.saveCheckpoint(run.id, 6, ck);
    const file = await store.exportCheckpoint(run.id, 6);
    expect(new TextDecoder().decode(file.subarray(0, 8))).toBe('SCOPELAB');

    globalThis.indexedDB = new IDBFactory(); // another browser profile
    const fresh = await openStore();
    const { run: imported, iter } = await fresh.importCheckpoint(file, { task: 'add' });
    expect(iter).toBe(6);
    expect(imported).toMatchObject({ config: CONFIG, iter: 6, status: 'paused' });
    expect(await fresh.listRuns()).toEqual([imported]);
    const back = await fresh.loadCheckpoint(imported.id, 6);
    expect(bytesOf(back)).toEqual(bytesOf(ck));
    expect(JSON.parse(back.manifestJson).meta).toEqual({ config: CONFIG, iter: 6, trainerRng: [5, 6, 7, 8] });
    // Export is deterministic: the imported copy exports to the same bytes.
    expect(Array.from(await fresh.exportCheckpoint(imported.id, 6))).toEqual(Array.from(file));
    fresh.close();
  });

  it('accepts an ArrayBuffer (File.arrayBuffer()) and checks the expected model shape', async () => {
    const file = makeFile(3);
    const { run } = await store.importCheckpoint(file.slice().buffer, {
      task: 'add',
      model: { dModel: 8, nLayer: 1 },
    });
    expect(run.iter).toBe(3);
  });

  const vocab = tokenizerFor(getTask('add')).vocabSize;
  const withManifest = (edit: (m: Record<string, unknown>) => void) => {
    const ck = makeCk(2);
    const m = JSON.parse(ck.manifestJson);
    edit(m);
    return packCheckpointFile(JSON.stringify(m), ck.blob);
  };
  const good = makeFile(2);
  const BAD_FILES: [string, () => Uint8Array, { task?: string; model?: Partial<ModelConfig> }, RegExp][] = [
    ['empty file', () => new Uint8Array(0), {}, /too short to be a scope-lab checkpoint/],
    [
      'wrong format (a PNG)',
      () => Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13, 73]),
      {},
      /bad magic/,
    ],
    [
      'wrong format (JSON text)',
      () => new TextEncoder().encode('{"format":"scope-lab-checkpoint"}'),
      {},
      /bad magic/,
    ],
    ['truncated blob', () => good.slice(0, good.length - 100), {}, /truncated checkpoint file: blob has/],
    ['truncated manifest', () => good.slice(0, 200), {}, /truncated checkpoint file: manifest needs/],
    ['trailing bytes', () => Uint8Array.from([...good, 1, 2, 3]), {}, /3 unexpected trailing bytes/],
    [
      'wrong checksum',
      () => {
        const f = good.slice();
        f[f.length - 5] ^= 0x10;
        return f;
      },
      {},
      /corrupted: CRC-32 is [0-9a-f]{8}, manifest says/,
    ],
    [
      'future version',
      () => withManifest((m) => (m.version = 2)),
      {},
      /version 2 is newer than this scope-lab supports/,
    ],
    ['wrong format tag', () => withManifest((m) => (m.format = 'keras')), {}, /format tag is "keras"/],
    ['manifest not JSON', () => packCheckpointFile('{not json', new Uint8Array(0)), {}, /not valid JSON/],
    [
      'absurd declared manifest size',
      () => {
        const f = good.slice();
        new DataView(f.buffer).setUint32(8, 0xffffffff, true);
        return f;
      },
      {},
      /manifest needs 4294967295 bytes/,
    ],
    [
      'absurd declared blob size',
      () => withManifest((m) => (m.blobBytes = 1e15)),
      {},
      /blob has \d+ bytes, manifest says 1000000000000000/,
    ],
    [
      'absurd tensor size',
      () =>
        withManifest((m) => {
          (m.tensors as { length: number; shape: number[] }[])[0].length = 2 ** 30;
          (m.tensors as { length: number; shape: number[] }[])[0].shape = [2 ** 15, 2 ** 15];
        }),
      {},
      /1073741824 elements, more than the/,
    ],
    [
      'NaN weights with a valid checksum',
      () => {
        const input = ckInput(2);
        const lnf = input.tensors.find((t) => t.name === 'lnf.g')!;
        lnf.data[0] = Number.POSITIVE_INFINITY; // one Inf in the output gain
        const ck = serializeCheckpoint(input);
        return packCheckpointFile(ck.manifestJson, ck.blob);
      },
      {},
      /tensor 'lnf.g' holds Infinity at element 0: a model with non-finite weights is unusable/,
    ],
    ['another task', () => good, { task: 'arith' }, /checkpoint of task 'add', this page trains 'arith'/],
    ['unknown task', () => withManifest((m) => (m.task = 'chess')), {}, /unknown task 'chess'/],
    [
      'another model shape (expected)',
      () => good,
      { model: { dModel: 64 } },
      /model shape mismatch: its model has dModel = 8, this page's model has 64/,
    ],
    [
      'another model shape (vocabulary)',
      () => makeFile(2, {}, { vocabSize: vocab + 3 }),
      {},
      /model shape mismatch: its vocabulary has 20 tokens, task 'add' has 17/,
    ],
    [
      'shape inconsistent with its config',
      () => withManifest((m) => ((m.config as { dMlp: number }).dMlp = 32)),
      {},
      /model shape mismatch: parameter 'h0.mlp.w1' has shape \[8,16\], the model needs \[8,32\]/,
    ],
    [
      'not a policy checkpoint',
      () => makeFile(2, { kind: 'prm' }),
      {},
      /holds a prm checkpoint; only a run's policy/,
    ],
    ['no run config', () => makeFile(2, { meta: { iter: 2 } }), {}, /carries no run configuration/],
    [
      'config failing parseRlConfig',
      () => makeFile(2, { meta: { config: { ...CONFIG, lr: -1 }, iter: 2 } }),
      {},
      /run configuration is not valid: invalid lr -1/,
    ],
    [
      'config with unknown keys',
      () => makeFile(2, { meta: { config: { ...CONFIG, evil: 1 }, iter: 2 } }),
      {},
      /run configuration is not valid/,
    ],
    [
      'config of another task',
      () => makeFile(2, { meta: { config: { ...CONFIG, task: 'arith' }, iter: 2 } }),
      {},
      /configuration is for task 'arith' but its weights for 'add'/,
    ],
    [
      'bad iteration',
      () => makeFile(2, { meta: { config: CONFIG, iter: 41 } }),
      {},
      /meta.iter = 41\) is not an integer in 0..40/,
    ],
  ];

  it('every bad file is rejected with its own message, and nothing stored is touched', async () => {
    const run = await store.createRun(CONFIG);
    await store.saveCheckpoint(run.id, 2, makeCk(2));
    await store.appendMetrics(run.id, [metricsRow(1)]);
    const before = await snapshot();
    for (const [what, file, expectation, message] of BAD_FILES) {
      const err = await store.importCheckpoint(file(), expectation).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, what).toBeInstanceOf(StorageError);
      expect((err as StorageError).code, what).toBe('invalid-file');
      expect((err as StorageError).message, what).toMatch(/^Cannot import this file: /);
      expect((err as StorageError).message, what).toMatch(message);
    }
    expect(await snapshot()).toEqual(before);
    // The same unedited file is fine: the rejections above are about the edits.
    await expect(store.importCheckpoint(good, { task: 'add' })).resolves.toMatchObject({ iter: 2 });
  });

  it('rejects a file over the size cap before parsing it', async () => {
    store.close();
    store = await openStore('scope-lab', { maxImportBytes: 1000 });
    await expectStorageError(store.importCheckpoint(good), 'invalid-file', /larger than the 0\.0 MiB/);
  });
});

describe('faults', () => {
  it('quota exceeded during a save: StorageError quota, nothing of it stored, earlier checkpoints intact', async () => {
    const run = await store.createRun(CONFIG);
    await store.saveCheckpoint(run.id, 2, makeCk(2));
    await store.saveCheckpoint(run.id, 4, makeCk(4));
    await store.appendMetrics(run.id, [metricsRow(1)]);
    const before = await snapshot();
    faultOnPut('blobs', () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    await expectStorageError(
      store.saveCheckpoint(run.id, 6, makeCk(6)),
      'quota',
      /storage is full.*earlier saves are intact/i,
    );
    // The failed save's retention would have dropped checkpoint 2: it must still be there.
    expect(await snapshot()).toEqual(before);
    expect((await store.getRun(run.id))!.iter).toBe(4);
    for (const iter of [2, 4])
      expect(bytesOf(await store.loadCheckpoint(run.id, iter))).toEqual(bytesOf(makeCk(iter)));
    // Metrics writes still work (the session goes on without autosave).
    for (const s of spies) s.mockRestore();
    spies = [];
    await store.appendMetrics(run.id, [metricsRow(2)]);
    expect(await store.getMetrics(run.id)).toHaveLength(2);
  });

  it('any other failed write during a save is reported as quota with its cause', async () => {
    const run = await store.createRun(CONFIG);
    faultOnPut('checkpoints', () => {
      throw new DOMException('disk error', 'UnknownError');
    });
    await expectStorageError(
      store.saveCheckpoint(run.id, 2, makeCk(2)),
      'quota',
      /UnknownError: disk error.*Nothing of it was stored/,
    );
    expect(await store.listCheckpoints(run.id)).toEqual([]);
  });

  it('a save aborted after the index put and before the blob put leaves the previous latest and no half record', async () => {
    const run = await store.createRun(CONFIG);
    await store.saveCheckpoint(run.id, 2, makeCk(2));
    const before = await snapshot();
    const spy = faultOnPut('blobs', (s) => s.transaction.abort());
    await expect(store.saveCheckpoint(run.id, 4, makeCk(4))).rejects.toBeInstanceOf(StorageError);
    expect(spy).toHaveBeenCalled();
    expect(await snapshot()).toEqual(before);
    store.close();
    store = await openStore(); // the page is reopened
    const latest = await store.latestCheckpoint(run.id);
    expect(latest!.iter).toBe(2);
    expect(latest!.skipped).toBeUndefined();
    expect(bytesOf(latest!.ck)).toEqual(bytesOf(makeCk(2)));
  });

  it('a failed import write leaves no run without its checkpoint', async () => {
    faultOnPut('blobs', () => {
      throw new DOMException('full', 'QuotaExceededError');
    });
    await expectStorageError(store.importCheckpoint(makeFile(2)), 'quota', /storage is full/i);
    expect(await store.listRuns()).toEqual([]);
  });

  it('a closed store says so', async () => {
    store.close();
    await expectStorageError(store.listRuns(), 'unavailable', /closed/);
    store = await openStore();
  });
});

/** The v1 layout, built by hand with raw idb as v1 of scope-lab wrote it. */
function openV1() {
  return openDB(dbNameFor('scope-lab'), 1, {
    upgrade(db) {
      db.createObjectStore('runs', { keyPath: 'id' });
      db.createObjectStore('checkpoints', { keyPath: ['runId', 'iter'] });
      db.createObjectStore('metrics', { keyPath: ['runId', 'iter'] });
    },
  });
}

describe('schema versions', () => {
  it(`upgrades a v1 database (blob inside the checkpoint record) to v${DB_VERSION} without losing data`, async () => {
    store.close();
    globalThis.indexedDB = new IDBFactory();
    const ck = makeCk(5);
    const run = { id: 'old-run', config: CONFIG, createdAt: 1, updatedAt: 2, iter: 5, status: 'paused' };
    const v1 = await openV1();
    await v1.put('runs', run);
    await v1.put('checkpoints', {
      runId: 'old-run',
      iter: 5,
      createdAt: 3,
      task: 'add',
      manifestJson: ck.manifestJson,
      blob: ck.blob,
    });
    // A v1 record that lost its blob cannot be loaded: the upgrade drops it rather than keep half a checkpoint.
    await v1.put('checkpoints', {
      runId: 'old-run',
      iter: 3,
      createdAt: 3,
      task: 'add',
      manifestJson: ck.manifestJson,
    });
    await v1.put('metrics', { runId: 'old-run', iter: 1, row: metricsRow(1) });
    v1.close();

    store = await openStore();
    expect(await store.getRun('old-run')).toEqual(run);
    expect(await store.getMetrics('old-run')).toEqual([metricsRow(1)]);
    expect(await store.listCheckpoints('old-run')).toEqual([
      {
        runId: 'old-run',
        iter: 5,
        createdAt: 3,
        task: 'add',
        bytes: ck.manifestJson.length + ck.blob.length,
      },
    ]);
    const latest = await store.latestCheckpoint('old-run');
    expect(latest!.iter).toBe(5);
    expect(bytesOf(latest!.ck)).toEqual(bytesOf(ck));
    const snap = await snapshot();
    expect(snap.checkpoints[0][1]).not.toHaveProperty('blob');
    // And the upgraded database takes new checkpoints with retention as usual.
    await store.saveCheckpoint('old-run', 6, makeCk(6));
    expect((await store.listCheckpoints('old-run')).map((c) => c.iter)).toEqual([5, 6]);
  });

  it('a failing upgrade leaves the v1 database as it was', async () => {
    store.close();
    globalThis.indexedDB = new IDBFactory();
    const ck = makeCk(5);
    const v1 = await openV1();
    await v1.put('runs', { id: 'r', config: CONFIG, createdAt: 1, updatedAt: 1, iter: 5, status: 'done' });
    await v1.put('checkpoints', {
      runId: 'r',
      iter: 5,
      createdAt: 3,
      task: 'add',
      manifestJson: ck.manifestJson,
      blob: ck.blob,
    });
    v1.close();
    const before = await snapshot();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    spies.push(errors);
    faultOnPut('blobs', () => {
      throw new DOMException('disk error', 'UnknownError');
    });
    await expectStorageError(openStore(), 'unavailable', /cannot be opened/);
    expect(errors).toHaveBeenCalledWith(expect.stringMatching(/schema upgrade failed/), expect.anything());
    const db = await openDB(dbNameFor('scope-lab'));
    expect(db.version).toBe(1);
    db.close();
    expect(await snapshot()).toEqual(before);
    for (const s of spies) s.mockRestore();
    spies = [];
    store = await openStore(); // and a later open (the fault gone) upgrades it
    expect(bytesOf((await store.latestCheckpoint('r'))!.ck)).toEqual(bytesOf(ck));
  });

  it('a database from a newer scope-lab is refused with a version error, untouched', async () => {
    store.close();
    globalThis.indexedDB = new IDBFactory();
    const future = await openDB(dbNameFor('scope-lab'), DB_VERSION + 1, {
      upgrade(db) {
        db.createObjectStore('runs', { keyPath: 'id' });
      },
    });
    future.close();
    await expectStorageError(openStore(), 'version', /newer version of scope-lab/);
    const db = await openDB(dbNameFor('scope-lab'));
    expect(db.version).toBe(DB_VERSION + 1);
    db.close();
    store = await openStore('other');
  });

  it('an older connection left open in another tab: blocked, with a message', async () => {
    store.close();
    globalThis.indexedDB = new IDBFactory();
    const old = await openV1(); // never closes on versionchange
    await expectStorageError(openStore(), 'blocked', /another tab has an older version/);
    old.close();
    store = await openStore();
    expect(await store.listRuns()).toEqual([]);
  });

  it('a newer tab upgrading closes this connection, which then says so', async () => {
    const run = await store.createRun(CONFIG);
    const newer = await openDB(dbNameFor('scope-lab'), DB_VERSION + 1);
    await expectStorageError(store.getRun(run.id), 'blocked', /another tab upgraded/);
    newer.close();
  });
});

describe('namespaces and environment', () => {
  it('namespaces are independent databases', async () => {
    const other = await openStore('widget-2');
    const a = await store.createRun(CONFIG, 'in default');
    const b = await other.createRun({ ...CONFIG, seed: 9 }, 'in widget-2');
    await store.saveCheckpoint(a.id, 2, makeCk(2));
    await other.saveCheckpoint(b.id, 2, makeCk(3));
    expect((await store.listRuns()).map((r) => r.id)).toEqual([a.id]);
    expect((await other.listRuns()).map((r) => r.id)).toEqual([b.id]);
    expect(await other.getRun(a.id)).toBeUndefined();
    await store.deleteRun(a.id);
    expect(bytesOf(await other.loadCheckpoint(b.id, 2))).toEqual(bytesOf(makeCk(3)));
    expect(dbNameFor('widget-2')).not.toBe(dbNameFor('scope-lab'));
    other.close();
    await expect(openStore('')).rejects.toThrow(/invalid storage namespace/);
  });

  it('estimate() wraps navigator.storage.estimate, null without it', async () => {
    vi.stubGlobal('navigator', {});
    expect(await store.estimate()).toBeNull();
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 1234, quota: 5678 }) } });
    expect(await store.estimate()).toEqual({ usage: 1234, quota: 5678 });
  });

  it('no IndexedDB at all: unavailable', async () => {
    vi.stubGlobal('indexedDB', undefined);
    await expectStorageError(openStore('x'), 'unavailable', /IndexedDB is not available/);
  });
});

// ---------------------------------------------------------------------------------------------
// Run ownership across tabs (src/storage/ownership.ts). Two stores sharing one lock manager are
// two tabs of one origin; the double follows the Web Locks rules the stores rely on: exclusive
// and shared modes, ifAvailable, steal (the old holder's request rejects) and query().

class FakeLocks implements LockManagerLike {
  held: { name: string; mode: string; steal: (e: Error) => void }[] = [];
  private free(name: string, mode: string) {
    const holders = this.held.filter((h) => h.name === name);
    return holders.length === 0 || (mode === 'shared' && holders.every((h) => h.mode === 'shared'));
  }
  async request(
    name: string,
    opts: { mode?: 'exclusive' | 'shared'; ifAvailable?: boolean; steal?: boolean; signal?: AbortSignal },
    cb: (lock: unknown) => unknown,
  ): Promise<unknown> {
    const mode = opts.mode ?? 'exclusive';
    if (opts.steal)
      for (const h of this.held.filter((x) => x.name === name)) h.steal(new Error('AbortError: stolen'));
    if (!this.free(name, mode)) {
      if (opts.ifAvailable) return cb(null);
      while (!this.free(name, mode)) {
        if (opts.signal?.aborted) throw new Error('AbortError: aborted');
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    let stolen!: (e: Error) => void;
    const theft = new Promise<never>((_, reject) => {
      stolen = reject;
    });
    const entry = {
      name,
      mode,
      steal: (e: Error) => {
        this.held = this.held.filter((x) => x !== entry);
        stolen(e);
      },
    };
    this.held.push(entry);
    try {
      return await Promise.race([Promise.resolve(cb({ name, mode })), theft]);
    } finally {
      this.held = this.held.filter((x) => x !== entry);
    }
  }
  async query() {
    return { held: this.held.map(({ name, mode }) => ({ name, mode })) };
  }
}

describe('run ownership across tabs (Web Locks)', () => {
  it('a run another tab trains is busy here: no delete, resume, or write; closing the owner frees it', async () => {
    const locks = new FakeLocks();
    const tabA = await openStore('shared', { locks });
    const tabB = await openStore('shared', { locks });
    const run = await tabA.createRun(CONFIG);
    await tabA.saveCheckpoint(run.id, 2, makeCk(2));
    await tabA.appendMetrics(run.id, [metricsRow(1), metricsRow(2)]);
    const before = await snapshot('shared');

    expect(await tabB.runsInUseElsewhere()).toEqual(new Set([run.id]));
    expect(await tabA.runsInUseElsewhere()).toEqual(new Set());
    const busy = /in use in another tab/;
    await expectStorageError(tabB.deleteRun(run.id), 'busy', busy);
    await expectStorageError(tabB.claimRun(run.id), 'busy', busy);
    await expectStorageError(tabB.deleteCheckpoint(run.id, 2), 'busy', busy);
    await expectStorageError(tabB.saveCheckpoint(run.id, 4, makeCk(4)), 'busy', busy);
    await expectStorageError(tabB.appendMetrics(run.id, [metricsRow(3)]), 'busy', busy);
    await expectStorageError(tabB.updateRun(run.id, { status: 'done' }), 'busy', busy);
    await expectStorageError(tabB.deleteMetricsAfter(run.id, 0), 'busy', busy);
    // Nothing of tab A's run was touched, and tab A trains on.
    expect(await snapshot('shared')).toEqual(before);
    await tabA.saveCheckpoint(run.id, 4, makeCk(4));
    expect((await tabB.latestCheckpoint(run.id))?.iter).toBe(4);

    // Closing the owner frees the run: tab B is told (whenRunFree) and may now resume it.
    let freed = false;
    const wait = tabB.whenRunFree(run.id).then(() => {
      freed = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(freed).toBe(false);
    tabA.close();
    await wait;
    expect(await tabB.runsInUseElsewhere()).toEqual(new Set());
    await tabB.claimRun(run.id);
    await tabB.appendMetrics(run.id, [metricsRow(5)]);
    // Now tab B owns it: a third tab is refused.
    const tabC = await openStore('shared', { locks });
    await expectStorageError(tabC.deleteRun(run.id), 'busy', busy);
    tabB.close();
    await tabC.whenRunFree(run.id); // the browser lets a closed tab's locks go asynchronously
    await tabC.deleteRun(run.id);
    expect(await tabC.listRuns()).toEqual([]);
    tabC.close();
  });

  it('a tab that loses its run to another is told on its next write', async () => {
    const locks = new FakeLocks();
    const tabA = await openStore('shared', { locks });
    const run = await tabA.createRun(CONFIG);
    // Another context takes the lock by force (what a "take over" would do).
    const taken = locks.request(
      `scope-lab-run/shared/${run.id}`,
      { steal: true },
      () => new Promise(() => {}),
    );
    void taken;
    await new Promise((r) => setTimeout(r, 5));
    await expectStorageError(
      tabA.saveCheckpoint(run.id, 2, makeCk(2)),
      'busy',
      /This tab no longer owns run .*: another tab took it over, so its progress is no longer saved here/,
    );
    expect(await tabA.listCheckpoints(run.id)).toEqual([]);
    tabA.close();
  });

  it('one store owns one run: creating another releases the first', async () => {
    const locks = new FakeLocks();
    const tab = await openStore('shared', { locks });
    const first = await tab.createRun(CONFIG);
    const second = await tab.createRun({ ...CONFIG, seed: 9 });
    const other = await openStore('shared', { locks });
    expect(await other.runsInUseElsewhere()).toEqual(new Set([second.id]));
    await other.deleteRun(first.id);
    tab.close();
    other.close();
  });

  it("two widgets of the same page in two tabs: the second neither resumes nor deletes the first one's run", async () => {
    const locks = new FakeLocks();
    const tabA = await openStore('scope-trainer/demo', { locks });
    const training = await tabA.createRun(CONFIG);
    await tabA.saveCheckpoint(training.id, 4, makeCk(4));
    await tabA.updateRun(training.id, { iter: 4 });
    const tabB = await openStore('scope-trainer/demo', { locks });
    const stale = (await tabB.createRun({ ...CONFIG, seed: 3 })).id; // an old run of tab B's widget
    await tabB.updateRun(stale, { status: 'done' });
    tabB.close(); // as the widget does: prepare with a store of its own
    const prep = await openStore('scope-trainer/demo', { locks });
    expect(await prepareWidgetStore(prep, CONFIG)).toBeNull(); // same config, but busy: not resumed
    expect((await prep.listRuns()).map((r) => r.id)).toEqual([training.id]); // the stale one went
    await keepOnlyRun(prep, null);
    expect((await prep.listRuns()).map((r) => r.id)).toEqual([training.id]);
    tabA.close();
    await prep.whenRunFree(training.id);
    // The owner is gone: now the same widget resumes that run.
    expect((await prepareWidgetStore(prep, CONFIG))?.runId).toBe(training.id);
    prep.close();
  });

  it('an import is refused by its declared size before it is read', async () => {
    let read = false;
    class HugeFile extends Blob {
      override get size() {
        return 1.5 * 1024 ** 3;
      }
      override arrayBuffer(): Promise<ArrayBuffer> {
        read = true;
        return Promise.reject(new Error('read whole'));
      }
    }
    await expectStorageError(
      store.importCheckpoint(new HugeFile([])),
      'invalid-file',
      /Cannot import this file: it is 1536.0 MiB, larger than the 64.0 MiB/,
    );
    expect(read).toBe(false);
    // A file within the cap is read and imported, with the page's task enforced.
    const ok = new Blob([makeFile(2) as Uint8Array<ArrayBuffer>]);
    await expectStorageError(
      store.importCheckpoint(ok, { task: 'arith' }),
      'invalid-file',
      /this page trains 'arith'/,
    );
    expect((await store.importCheckpoint(ok, { task: 'add' })).iter).toBe(2);
  });
});
