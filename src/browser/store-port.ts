/**
 * What a training session needs from the IndexedDB store (src/storage, STORAGE_API.md): a run,
 * its checkpoints and its metrics. Kept as an interface so the session does not care which store
 * (or a test double) it writes to.
 */
import type { RlConfig } from '../core/rl/config';
import type { StoredCheckpoint } from '../core/rl/services';
import type { IterationMetrics } from '../core/rl/trainer';

export interface SessionRunRecord {
  id: string;
  config: RlConfig;
  iter: number;
  status: 'running' | 'paused' | 'done' | 'error';
}

export interface SessionStore {
  createRun(config: RlConfig, label?: string): Promise<SessionRunRecord>;
  updateRun(id: string, patch: Partial<Pick<SessionRunRecord, 'iter' | 'status'>>): Promise<void>;
  getRun(id: string): Promise<SessionRunRecord | undefined>;
  saveCheckpoint(runId: string, iter: number, ck: StoredCheckpoint): Promise<unknown>;
  latestCheckpoint(runId: string): Promise<{ iter: number; ck: StoredCheckpoint } | null>;
  appendMetrics(runId: string, rows: IterationMetrics[]): Promise<void>;
  close(): void;
}

export type StoreOpener = (namespace: string) => Promise<SessionStore>;

/** The IndexedDB store (loaded on demand: a session without persistence never opens it). */
export const openSessionStore: StoreOpener = async () => {
  throw new Error('persistent storage is not available in this build (src/storage has not landed)');
};
