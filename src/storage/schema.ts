/**
 * The IndexedDB layout and its upgrade path. Every version's change is one step in `MIGRATIONS`;
 * opening runs the steps above the on-disk version in order, inside the one versionchange
 * transaction, so an upgrade either completes or leaves the old database as it was.
 *
 * v1: runs, checkpoints (manifest AND weight blob in one record), metrics.
 * v2: the weight blob moves to its own `blobs` store under the same key. Listing checkpoints then
 *     reads a few hundred bytes per checkpoint instead of every blob (~1.3 MB each); the index record
 *     and its blob are still written and deleted in one transaction, so neither exists alone.
 */
import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { RlConfig } from '../core/rl/config';
import type { IterationMetrics } from '../core/rl/trainer';

export const DB_VERSION = 2;

export type RunStatus = 'running' | 'paused' | 'done' | 'error';

export interface RunRecord {
  id: string;
  config: RlConfig;
  createdAt: number;
  updatedAt: number;
  /** Latest checkpointed iteration (0 before the first checkpoint). */
  iter: number;
  status: RunStatus;
  label?: string;
}

/** The small half of a checkpoint: what listing needs, plus the manifest. Key [runId, iter]. */
export interface CheckpointRecord {
  runId: string;
  iter: number;
  createdAt: number;
  /** Manifest + blob bytes. */
  bytes: number;
  task: string;
  manifestJson: string;
}

/** The weight blob of a checkpoint. Same key as its CheckpointRecord. */
export interface BlobRecord {
  runId: string;
  iter: number;
  blob: Uint8Array;
}

/** One iteration's metrics. Key [runId, iter]: rows of a run come back in iteration order. */
export interface MetricsRecord {
  runId: string;
  iter: number;
  row: IterationMetrics;
}

export interface ScopeLabDB extends DBSchema {
  runs: { key: string; value: RunRecord };
  checkpoints: { key: [string, number]; value: CheckpointRecord };
  blobs: { key: [string, number]; value: BlobRecord };
  metrics: { key: [string, number]; value: MetricsRecord };
}

export type StoreName = StoreNames<ScopeLabDB>;
type UpgradeTx = IDBPTransaction<ScopeLabDB, StoreName[], 'versionchange'>;

/** Every record of a run, in stores keyed [runId, iter]. */
export function runRange(runId: string): IDBKeyRange {
  return IDBKeyRange.bound([runId, Number.NEGATIVE_INFINITY], [runId, Number.POSITIVE_INFINITY]);
}

/** The v1 checkpoint record, as stored before v2 split the blob out. */
interface CheckpointRecordV1 extends Omit<CheckpointRecord, 'bytes'> {
  bytes?: number;
  blob?: Uint8Array;
}

/** MIGRATIONS[v - 1] turns a version v-1 database into version v. */
const MIGRATIONS: ((db: IDBPDatabase<ScopeLabDB>, tx: UpgradeTx) => Promise<void>)[] = [
  // -> v1
  async (db) => {
    db.createObjectStore('runs', { keyPath: 'id' });
    db.createObjectStore('checkpoints', { keyPath: ['runId', 'iter'] });
    db.createObjectStore('metrics', { keyPath: ['runId', 'iter'] });
  },
  // -> v2: blobs out of the checkpoint records.
  async (db, tx) => {
    db.createObjectStore('blobs', { keyPath: ['runId', 'iter'] });
    const blobs = tx.objectStore('blobs');
    let cursor = await tx.objectStore('checkpoints').openCursor();
    while (cursor) {
      const { blob, ...rest } = cursor.value as CheckpointRecordV1;
      if (!blob) {
        // A v1 record without its blob cannot be loaded; v2 never keeps one half alone.
        await cursor.delete();
      } else {
        await blobs.put({ runId: rest.runId, iter: rest.iter, blob });
        await cursor.update({
          ...rest,
          bytes: new TextEncoder().encode(rest.manifestJson).length + blob.byteLength,
        });
      }
      cursor = await cursor.continue();
    }
  },
];

if (MIGRATIONS.length !== DB_VERSION) throw new Error('storage: one migration per schema version');

/**
 * The `upgrade` callback for idb's openDB. idb does not await it, so a failing step aborts the
 * versionchange transaction itself: the open then fails and the database stays at `oldVersion`.
 */
export function upgradeSchema(db: IDBPDatabase<ScopeLabDB>, oldVersion: number, tx: UpgradeTx): void {
  const run = async () => {
    for (let v = oldVersion + 1; v <= DB_VERSION; v++) await MIGRATIONS[v - 1](db, tx);
  };
  // A failed upgrade surfaces as the open's rejection; the transaction's own rejection is that one.
  tx.done.catch(() => undefined);
  run().catch((e) => {
    console.error('scope-lab storage: schema upgrade failed, database left unchanged', e);
    try {
      tx.abort();
    } catch {
      // Already finished or aborting.
    }
  });
}
