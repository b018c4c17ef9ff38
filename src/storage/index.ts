/**
 * Browser storage of runs, checkpoints and metrics in IndexedDB (through `idb`).
 *
 * - One database per namespace (widgets on one page each pass their own), so they never meet.
 * - A checkpoint is an index record (manifest) plus a weight blob, written in ONE transaction with
 *   the run's update and the retention that keeps the last K checkpoints of the run: a save either
 *   happens whole or not at all, and a checkpoint never exists without its blob or vice versa.
 * - Failed saves (storage full, or any other failed write) abort that transaction and throw
 *   StorageError('quota'); what was saved before stays intact. The caller (the session) decides what
 *   follows: it goes on training without autosave and tells the user.
 * - Imported files are validated completely (./import.ts) before a transaction is opened.
 * - A run is owned by one tab at a time (./ownership.ts, Web Locks): the store that created or
 *   claimed it; every write to a run, and deleting it, is refused ('busy') while another tab owns it.
 */
import { type IDBPDatabase, type IDBPTransaction, openDB } from 'idb';
import {
  deserializeCheckpoint,
  packCheckpointFile,
  serializeCheckpoint,
  verifyCheckpoint,
} from '../core/checkpoint';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import type { StoredCheckpoint } from '../core/rl/services';
import type { IterationMetrics } from '../core/rl/trainer';
import { StorageError } from './errors';
import { checkImportSize, type ImportExpectation, validateImportFile } from './import';
import { browserLocks, type LockManagerLike, RunOwnership } from './ownership';
import {
  type CheckpointRecord,
  DB_VERSION,
  type RunRecord,
  runRange,
  type ScopeLabDB,
  type StoreName,
  upgradeSchema,
} from './schema';

export { StorageError, type StorageErrorCode } from './errors';
export type { ImportExpectation } from './import';
export type { LockManagerLike } from './ownership';
export { DB_VERSION, type RunRecord, type RunStatus } from './schema';

export const STORAGE_DEFAULTS = {
  /** K: checkpoints kept per run (the K highest iterations); older ones go in the save's transaction. */
  keepLastCheckpoints: 3,
  /** Largest file `importCheckpoint` reads. Our checkpoints are ~1.3 MB; this bounds a hostile one. */
  maxImportBytes: 64 * 1024 * 1024,
};

export interface StoreOptions {
  keepLastCheckpoints?: number;
  maxImportBytes?: number;
  /** Run ownership across tabs: the browser's `navigator.locks` by default; null turns it off. */
  locks?: LockManagerLike | null;
}

export const DEFAULT_NAMESPACE = 'scope-lab';

/** The IndexedDB database name of a namespace. */
export function dbNameFor(namespace: string): string {
  return `scope-lab-store/${namespace}`;
}

export interface CheckpointInfo {
  runId: string;
  iter: number;
  createdAt: number;
  /** Manifest + blob bytes. */
  bytes: number;
  task: string;
}

export interface Store {
  readonly namespace: string;
  /** Creates a run owned by this store (releasing any run it owned before). */
  createRun(config: RlConfig, label?: string): Promise<RunRecord>;
  /**
   * Own an existing run (to resume it) until `close()`: StorageError 'busy' when another tab owns
   * it. A store owns at most one run; claiming releases the previous one.
   */
  claimRun(id: string): Promise<void>;
  /** Runs that another tab (or another store of this page) owns now: they are busy here. */
  runsInUseElsewhere(): Promise<Set<string>>;
  /** Resolves when no one owns the run (at once if no one does). */
  whenRunFree(id: string, signal?: AbortSignal): Promise<void>;
  updateRun(id: string, patch: Partial<Pick<RunRecord, 'iter' | 'status' | 'label'>>): Promise<void>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest (createdAt) first. */
  listRuns(): Promise<RunRecord[]>;
  /** The run with its checkpoints and metrics, in one transaction. */
  deleteRun(id: string): Promise<void>;
  /**
   * Manifest + blob in ONE transaction, with the run's `iter`/`updatedAt` and the retention that
   * keeps the K highest iterations. The checkpoint is validated first (a corrupt one is never
   * stored). Throws StorageError 'quota' when the write fails: nothing of it is stored, earlier
   * checkpoints are intact, and the caller may carry on without autosave.
   */
  saveCheckpoint(runId: string, iter: number, ck: StoredCheckpoint): Promise<CheckpointInfo>;
  /**
   * The highest-iteration checkpoint that validates (checksum included), or null if none does.
   * `skipped` lists newer ones that failed validation (only possible if storage was corrupted
   * outside this code).
   */
  latestCheckpoint(
    runId: string,
  ): Promise<{ iter: number; ck: StoredCheckpoint; skipped?: { iter: number; reason: string }[] } | null>;
  /** Validated (checksum included); throws 'not-found' or 'invalid-file'. */
  loadCheckpoint(runId: string, iter: number): Promise<StoredCheckpoint>;
  /** Ascending by iteration; reads no weight blob. */
  listCheckpoints(runId: string): Promise<CheckpointInfo[]>;
  /** Deletes index record and blob together; the run's `iter` becomes its latest remaining one. */
  deleteCheckpoint(runId: string, iter: number): Promise<void>;
  /** One transaction for the batch; a row for an iteration already stored replaces it. */
  appendMetrics(runId: string, rows: IterationMetrics[]): Promise<void>;
  /** Ascending by iteration. */
  getMetrics(runId: string): Promise<IterationMetrics[]>;
  /** Drops metrics rows after `iter` (a resume from an older checkpoint re-runs those iterations). */
  deleteMetricsAfter(runId: string, iter: number): Promise<void>;
  /** One downloadable file (packCheckpointFile) whose manifest meta carries the run's config and iter. */
  exportCheckpoint(runId: string, iter: number): Promise<Uint8Array>;
  /**
   * Full validation (format, truncation, checksum, version, sizes, policy kind, task and model
   * shape, run config) BEFORE anything is written; each failure is StorageError 'invalid-file'
   * naming the problem, and the store is untouched. Success creates a new 'paused' run holding the
   * checkpoint, in one transaction.
   */
  importCheckpoint(
    bytes: Uint8Array | ArrayBuffer | Blob,
    expect?: ImportExpectation,
  ): Promise<{ run: RunRecord; iter: number }>;
  /** navigator.storage.estimate() when the browser has it. */
  estimate(): Promise<{ usage: number; quota: number } | null>;
  close(): void;
}

/**
 * Opens (creating or upgrading) the namespace's database. Throws StorageError: 'unavailable' (no
 * IndexedDB, or it refused), 'version' (written by a newer scope-lab), 'blocked' (another tab keeps
 * an older version open).
 */
export async function openStore(namespace = DEFAULT_NAMESPACE, options: StoreOptions = {}): Promise<Store> {
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 128)
    throw new StorageError('unavailable', `invalid storage namespace ${JSON.stringify(namespace)}`);
  const keep = options.keepLastCheckpoints ?? STORAGE_DEFAULTS.keepLastCheckpoints;
  if (!Number.isInteger(keep) || keep < 1)
    throw new StorageError('unavailable', `keepLastCheckpoints must be an integer >= 1, got ${keep}`);
  if (typeof indexedDB === 'undefined')
    throw new StorageError(
      'unavailable',
      'IndexedDB is not available here (private browsing or storage disabled?): runs cannot be saved',
    );
  const store = new IdbStore(
    namespace,
    keep,
    options.maxImportBytes ?? STORAGE_DEFAULTS.maxImportBytes,
    new RunOwnership(namespace, options.locks === undefined ? browserLocks() : options.locks),
  );
  store.db = await openDatabase(dbNameFor(namespace), store);
  return store;
}

function openDatabase(name: string, store: IdbStore): Promise<IDBPDatabase<ScopeLabDB>> {
  return new Promise((resolve, reject) => {
    let rejected = false;
    openDB<ScopeLabDB>(name, DB_VERSION, {
      upgrade: (db, oldVersion, _newVersion, tx) => upgradeSchema(db, oldVersion, tx),
      blocked: () => {
        rejected = true;
        reject(
          new StorageError(
            'blocked',
            'Saved runs cannot be opened: another tab has an older version of scope-lab open. Close or reload it, then reload this page.',
          ),
        );
      },
      // A newer page in another tab wants to upgrade: step aside instead of blocking it.
      blocking: () => store.lose('blocked', 'another tab upgraded the saved-runs database; reload this page'),
      terminated: () => store.lose('unavailable', 'the browser closed the saved-runs database'),
    }).then(
      (db) => {
        if (rejected) db.close();
        else resolve(db);
      },
      (e) => reject(openError(e)),
    );
  });
}

function openError(e: unknown): StorageError {
  const name = (e as { name?: string })?.name;
  if (name === 'VersionError')
    return new StorageError(
      'version',
      `Saved runs were written by a newer version of scope-lab (this page reads database version ${DB_VERSION}); reload to get the newer page.`,
      { cause: e },
    );
  return new StorageError('unavailable', `Saved runs cannot be opened: ${describe(e)}`, { cause: e });
}

function describe(e: unknown): string {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    const { name, message } = e as { name?: string; message?: string };
    return name && name !== 'Error' ? `${name}: ${message}` : String(message);
  }
  return String(e);
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

const isQuota = (e: unknown) => (e as { name?: string })?.name === 'QuotaExceededError';

/** A copy whose buffer is exactly the bytes (a view into a larger buffer would store all of it). */
function ownedBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer
    ? b
    : b.slice();
}

function newRunId(): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${Date.now().toString(36)}-${r[0].toString(36)}${r[1].toString(36)}`;
}

function checkIter(iter: number): void {
  if (!Number.isInteger(iter) || iter < 0)
    throw new StorageError('not-found', `checkpoint iteration must be a non-negative integer, got ${iter}`);
}

type WriteTx<S extends StoreName[]> = IDBPTransaction<ScopeLabDB, S, 'readwrite'>;

/**
 * Runs `body` in `tx` and waits for the commit. On any error the transaction is aborted (nothing
 * of it is stored) and the first error is rethrown.
 */
async function inTx<T, X extends { done: Promise<void>; abort(): void }>(
  tx: X,
  body: (tx: X) => Promise<T>,
): Promise<T> {
  const done = tx.done;
  try {
    const out = await body(tx);
    await done;
    return out;
  } catch (e) {
    try {
      tx.abort();
    } catch {
      // Already aborted by the failing request, or finished.
    }
    await done.catch(() => undefined);
    throw e;
  }
}

class IdbStore implements Store {
  db!: IDBPDatabase<ScopeLabDB>;
  private lost: StorageError | null = null;

  constructor(
    readonly namespace: string,
    private readonly keep: number,
    private readonly maxImportBytes: number,
    private readonly owner: RunOwnership,
  ) {}

  /** The connection is gone (closed for another tab's upgrade, or by the browser). */
  lose(code: 'blocked' | 'unavailable', why: string): void {
    this.lost = new StorageError(code, `Saved runs are no longer reachable: ${why}`);
    this.db?.close();
  }

  close(): void {
    this.lost ??= new StorageError('unavailable', 'this store was closed');
    this.owner.releaseAll();
    this.db.close();
  }

  claimRun(id: string): Promise<void> {
    return this.owner.claim(id);
  }

  runsInUseElsewhere(): Promise<Set<string>> {
    return this.owner.inUseElsewhere();
  }

  whenRunFree(id: string, signal?: AbortSignal): Promise<void> {
    return this.owner.whenFree(id, signal);
  }

  /** Runs one operation, turning raw IndexedDB failures into StorageErrors. */
  private async op<T>(what: string, fn: (db: IDBPDatabase<ScopeLabDB>) => Promise<T>): Promise<T> {
    if (this.lost) throw this.lost;
    try {
      return await fn(this.db);
    } catch (e) {
      if (e instanceof StorageError) throw e;
      if (isQuota(e))
        throw new StorageError(
          'quota',
          `Browser storage is full: ${what} was not saved (earlier saves are intact). Delete old runs to free space.`,
          { cause: e },
        );
      throw new StorageError('unavailable', `${what} failed: ${describe(e)}`, { cause: e });
    }
  }

  /** A write whose failure is reported as 'quota' (see StorageError), whatever the browser's reason. */
  private async write<T>(what: string, fn: (db: IDBPDatabase<ScopeLabDB>) => Promise<T>): Promise<T> {
    try {
      return await this.op(what, fn);
    } catch (e) {
      if (e instanceof StorageError && e.code === 'unavailable' && !this.lost)
        throw new StorageError('quota', `${e.message}. Nothing of it was stored; earlier saves are intact.`, {
          cause: e.cause,
        });
      throw e;
    }
  }

  async createRun(config: RlConfig, label?: string): Promise<RunRecord> {
    const now = Date.now();
    const run: RunRecord = {
      id: newRunId(),
      config: parseRlConfig(config),
      createdAt: now,
      updatedAt: now,
      iter: 0,
      status: 'running',
      ...(label !== undefined ? { label } : {}),
    };
    await this.owner.claim(run.id);
    try {
      await this.write('creating a run', (db) => db.add('runs', run));
    } catch (e) {
      this.owner.release(run.id);
      throw e;
    }
    return run;
  }

  async updateRun(id: string, patch: Partial<Pick<RunRecord, 'iter' | 'status' | 'label'>>): Promise<void> {
    await this.owner.exclusive(id, () =>
      this.write('updating a run', (db) =>
        inTx(db.transaction('runs', 'readwrite'), async (tx) => {
          const run = await tx.objectStore('runs').get(id);
          if (!run) throw new StorageError('not-found', `no saved run '${id}'`);
          await tx.objectStore('runs').put({ ...run, ...patch, id, updatedAt: Date.now() });
        }),
      ),
    );
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.op('reading a run', (db) => db.get('runs', id));
  }

  async listRuns(): Promise<RunRecord[]> {
    const runs = await this.op('listing runs', (db) => db.getAll('runs'));
    return runs.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  }

  async deleteRun(id: string): Promise<void> {
    await this.owner.exclusive(id, () =>
      this.op('deleting a run', (db) =>
        inTx(db.transaction(['runs', 'checkpoints', 'blobs', 'metrics'], 'readwrite'), async (tx) => {
          const range = runRange(id);
          await Promise.all([
            tx.objectStore('runs').delete(id),
            tx.objectStore('checkpoints').delete(range),
            tx.objectStore('blobs').delete(range),
            tx.objectStore('metrics').delete(range),
          ]);
        }),
      ),
    );
  }

  async saveCheckpoint(runId: string, iter: number, ck: StoredCheckpoint): Promise<CheckpointInfo> {
    checkIter(iter);
    let task: string;
    try {
      task = verifyCheckpoint(ck.manifestJson, ck.blob).task;
    } catch (e) {
      throw new StorageError('invalid-file', `refusing to save an invalid checkpoint: ${describe(e)}`, {
        cause: e,
      });
    }
    const blob = ownedBytes(ck.blob);
    const info: CheckpointInfo = {
      runId,
      iter,
      createdAt: Date.now(),
      bytes: utf8Length(ck.manifestJson) + blob.byteLength,
      task,
    };
    await this.owner.exclusive(runId, () =>
      this.write(`checkpoint ${iter} of run '${runId}'`, (db) =>
        inTx(db.transaction(['runs', 'checkpoints', 'blobs'], 'readwrite'), async (tx) => {
          const run = await tx.objectStore('runs').get(runId);
          if (!run) throw new StorageError('not-found', `no saved run '${runId}'`);
          await this.putCheckpoint(tx, { ...info, manifestJson: ck.manifestJson }, blob, run);
        }),
      ),
    );
    return info;
  }

  /** Index record, blob, retention and the run's update: the body of every checkpoint write. */
  private async putCheckpoint(
    tx: WriteTx<('runs' | 'checkpoints' | 'blobs')[]>,
    record: CheckpointRecord,
    blob: Uint8Array,
    run: RunRecord,
  ): Promise<RunRecord> {
    const checkpoints = tx.objectStore('checkpoints');
    const blobs = tx.objectStore('blobs');
    await checkpoints.put(record);
    await blobs.put({ runId: record.runId, iter: record.iter, blob });
    // Keys come back ascending, [runId, iter]: all but the last K go.
    const keys = await checkpoints.getAllKeys(runRange(record.runId));
    const old = keys.slice(0, Math.max(0, keys.length - this.keep));
    await Promise.all(old.flatMap((k) => [checkpoints.delete(k), blobs.delete(k)]));
    const updated: RunRecord = { ...run, iter: keys[keys.length - 1][1], updatedAt: Date.now() };
    await tx.objectStore('runs').put(updated);
    return updated;
  }

  async latestCheckpoint(runId: string) {
    const infos = await this.listCheckpoints(runId);
    const skipped: { iter: number; reason: string }[] = [];
    for (const info of infos.reverse()) {
      try {
        const ck = await this.loadCheckpoint(runId, info.iter);
        return skipped.length ? { iter: info.iter, ck, skipped } : { iter: info.iter, ck };
      } catch (e) {
        if (!(e instanceof StorageError) || (e.code !== 'invalid-file' && e.code !== 'not-found')) throw e;
        skipped.push({ iter: info.iter, reason: e.message });
      }
    }
    return null;
  }

  async loadCheckpoint(runId: string, iter: number): Promise<StoredCheckpoint> {
    const [record, blob] = await this.op('loading a checkpoint', (db) =>
      inTx(db.transaction(['checkpoints', 'blobs'], 'readonly'), (tx) =>
        Promise.all([
          tx.objectStore('checkpoints').get([runId, iter]),
          tx.objectStore('blobs').get([runId, iter]),
        ]),
      ),
    );
    if (!record || !blob)
      throw new StorageError('not-found', `run '${runId}' has no checkpoint at iteration ${iter}`);
    const ck = { manifestJson: record.manifestJson, blob: blob.blob };
    try {
      verifyCheckpoint(ck.manifestJson, ck.blob);
    } catch (e) {
      throw new StorageError(
        'invalid-file',
        `stored checkpoint ${iter} of run '${runId}' is damaged: ${describe(e)}`,
        { cause: e },
      );
    }
    return ck;
  }

  async listCheckpoints(runId: string): Promise<CheckpointInfo[]> {
    const records = await this.op('listing checkpoints', (db) => db.getAll('checkpoints', runRange(runId)));
    return records.map(({ runId, iter, createdAt, bytes, task }) => ({
      runId,
      iter,
      createdAt,
      bytes,
      task,
    }));
  }

  async deleteCheckpoint(runId: string, iter: number): Promise<void> {
    await this.owner.exclusive(runId, () =>
      this.op('deleting a checkpoint', (db) =>
        inTx(db.transaction(['runs', 'checkpoints', 'blobs'], 'readwrite'), async (tx) => {
          const checkpoints = tx.objectStore('checkpoints');
          await Promise.all([
            checkpoints.delete([runId, iter]),
            tx.objectStore('blobs').delete([runId, iter]),
          ]);
          const run = await tx.objectStore('runs').get(runId);
          if (run && run.iter === iter) {
            const keys = await checkpoints.getAllKeys(runRange(runId));
            const latest = keys.length ? keys[keys.length - 1][1] : 0;
            await tx.objectStore('runs').put({ ...run, iter: latest, updatedAt: Date.now() });
          }
        }),
      ),
    );
  }

  async appendMetrics(runId: string, rows: IterationMetrics[]): Promise<void> {
    if (rows.length === 0) return;
    await this.owner.exclusive(runId, () =>
      this.write(`metrics of run '${runId}'`, (db) =>
        inTx(db.transaction(['runs', 'metrics'], 'readwrite'), async (tx) => {
          if (!(await tx.objectStore('runs').count(runId)))
            throw new StorageError('not-found', `no saved run '${runId}'`);
          const metrics = tx.objectStore('metrics');
          await Promise.all(rows.map((row) => metrics.put({ runId, iter: row.iter, row })));
        }),
      ),
    );
  }

  async getMetrics(runId: string): Promise<IterationMetrics[]> {
    const records = await this.op('reading metrics', (db) => db.getAll('metrics', runRange(runId)));
    return records.map((r) => r.row);
  }

  async deleteMetricsAfter(runId: string, iter: number): Promise<void> {
    await this.owner.exclusive(runId, () =>
      this.op('deleting metrics', (db) =>
        db.delete('metrics', IDBKeyRange.bound([runId, iter], [runId, Number.POSITIVE_INFINITY], true)),
      ),
    );
  }

  async exportCheckpoint(runId: string, iter: number): Promise<Uint8Array> {
    const run = await this.getRun(runId);
    if (!run) throw new StorageError('not-found', `no saved run '${runId}'`);
    const ck = await this.loadCheckpoint(runId, iter);
    // Re-serialised (deterministically) so the meta surely carries this run's config and iteration.
    const { manifest, tensors } = deserializeCheckpoint(ck.manifestJson, ck.blob);
    const out = serializeCheckpoint({
      kind: manifest.kind,
      task: manifest.task,
      step: manifest.step,
      config: manifest.config,
      rng: manifest.rng,
      optimizer: manifest.optimizer,
      meta: { ...manifest.meta, config: run.config, iter },
      tensors: manifest.tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        data: tensors.get(t.name)!.data,
      })),
    });
    return packCheckpointFile(out.manifestJson, out.blob);
  }

  async importCheckpoint(
    input: Uint8Array | ArrayBuffer | Blob,
    expect: ImportExpectation = {},
  ): Promise<{ run: RunRecord; iter: number }> {
    if (this.lost) throw this.lost;
    // A file (Blob) is refused by its size before a byte of it is read.
    if (input instanceof Blob) checkImportSize(input.size, this.maxImportBytes);
    const bytes = input instanceof Blob ? new Uint8Array(await input.arrayBuffer()) : input;
    const v = validateImportFile(bytes, expect, this.maxImportBytes);
    const now = Date.now();
    const run: RunRecord = {
      id: newRunId(),
      config: v.config,
      createdAt: now,
      updatedAt: now,
      iter: v.iter,
      status: 'paused',
      label: `imported ${v.config.task}/${v.config.algo} seed ${v.config.seed} @ ${v.iter}`,
    };
    const blob = ownedBytes(v.ck.blob);
    const stored = await this.write('the imported checkpoint', (db) =>
      inTx(db.transaction(['runs', 'checkpoints', 'blobs'], 'readwrite'), async (tx) => {
        await tx.objectStore('runs').add(run);
        const record: CheckpointRecord = {
          runId: run.id,
          iter: v.iter,
          createdAt: now,
          bytes: utf8Length(v.ck.manifestJson) + blob.byteLength,
          task: v.manifest.task,
          manifestJson: v.ck.manifestJson,
        };
        return this.putCheckpoint(tx, record, blob, run);
      }),
    );
    return { run: stored, iter: v.iter };
  }

  async estimate(): Promise<{ usage: number; quota: number } | null> {
    const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
    if (!storage?.estimate) return null;
    const e = await storage.estimate();
    return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
  }
}

/** A file name for a downloaded checkpoint, e.g. scope-lab_add_scope_seed1_iter20.scopelab */
export function checkpointFileName(run: RunRecord, iter: number): string {
  const c = run.config;
  return `scope-lab_${c.task}_${c.algo}_seed${c.seed}_iter${iter}.scopelab`;
}
