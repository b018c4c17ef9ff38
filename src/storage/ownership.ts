/**
 * Which tab owns a stored run, through the Web Locks API (`navigator.locks`): a tab that trains a
 * run holds an exclusive lock named after it (`scope-lab-run/<namespace>/<runId>`) for as long as
 * its session lives. The browser releases it when the tab closes or crashes, so a closed owner
 * frees the run by itself. Other tabs see the run as busy (`query()`); deleting or resuming it
 * needs the lock too, taken with `ifAvailable`, so a busy run is refused at once and a free one
 * cannot be claimed by two tabs in between. If another context steals the lock, the owner's
 * request rejects: the run is marked lost and every later write to it fails with 'busy', which
 * the session reports. Without Web Locks (old browsers, Node tests without a double) runs have
 * no owner, as before.
 */
import { StorageError } from './errors';

/** The part of the Web Locks API used here (the browser's `navigator.locks`, or a test double). */
export interface LockManagerLike {
  request(
    name: string,
    options: { mode?: 'exclusive' | 'shared'; ifAvailable?: boolean; steal?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => unknown,
  ): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }>;
}

/** The browser's lock manager, or null where there is none. */
export function browserLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks ?? null;
}

interface Claim {
  release: () => void;
  lost: boolean;
}

export class RunOwnership {
  private readonly claims = new Map<string, Claim>();

  constructor(
    private readonly namespace: string,
    private readonly locks: LockManagerLike | null,
  ) {}

  private lockName(runId: string): string {
    return `scope-lab-run/${this.namespace}/${runId}`;
  }

  private busy(runId: string): StorageError {
    return new StorageError(
      'busy',
      `This run is in use in another tab (run ${runId}): it cannot be changed, deleted or resumed here until that tab closes it or is closed`,
    );
  }

  owns(runId: string): boolean {
    const c = this.claims.get(runId);
    return !!c && !c.lost;
  }

  /**
   * Own `runId` from now until `release` (or `releaseAll`, or the tab closing). A store owns at most
   * one run, so any earlier claim is released. Throws StorageError('busy') when another context
   * holds it.
   */
  async claim(runId: string): Promise<void> {
    if (this.owns(runId)) return;
    this.releaseAll();
    if (!this.locks) {
      this.claims.set(runId, { release: () => {}, lost: false });
      return;
    }
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const claim: Claim = { release, lost: false };
    const granted = await new Promise<boolean>((resolve) => {
      this.locks!.request(this.lockName(runId), { ifAvailable: true }, async (lock) => {
        resolve(lock !== null);
        if (lock !== null) await held;
      }).catch(() => {
        // Stolen (AbortError) or the lock manager failed: this context no longer owns the run.
        claim.lost = true;
        resolve(false);
      });
    });
    if (!granted) throw this.busy(runId);
    this.claims.set(runId, claim);
  }

  release(runId: string): void {
    this.claims.get(runId)?.release();
    this.claims.delete(runId);
  }

  releaseAll(): void {
    for (const id of [...this.claims.keys()]) this.release(id);
  }

  /**
   * Run `fn` while no other context owns `runId`: directly when this store owns it, else under the
   * run's lock taken with `ifAvailable` (StorageError 'busy' when another context holds it). A run
   * this store owned and lost is 'busy' too: another context took it over.
   */
  async exclusive<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const claim = this.claims.get(runId);
    if (claim?.lost)
      throw new StorageError(
        'busy',
        `This tab no longer owns run ${runId}: another tab took it over, so its progress is no longer saved here`,
      );
    if (claim || !this.locks) return fn();
    let outcome: { value: T } | null = null;
    await this.locks.request(this.lockName(runId), { ifAvailable: true }, async (lock) => {
      if (lock !== null) outcome = { value: await fn() };
    });
    if (!outcome) throw this.busy(runId);
    return (outcome as { value: T }).value;
  }

  /** Runs of this namespace that another context (another tab, or another store) owns now. */
  async inUseElsewhere(): Promise<Set<string>> {
    if (!this.locks) return new Set();
    const prefix = this.lockName('');
    const { held = [] } = await this.locks.query();
    const ids = held.flatMap((l) => (l.name?.startsWith(prefix) ? [l.name.slice(prefix.length)] : []));
    return new Set(ids.filter((id) => !this.claims.has(id)));
  }

  /**
   * Resolves once `runId` is free (at once if it is): a shared request is granted only when no
   * context holds the exclusive lock. The panel uses it to refresh when an owner tab closes.
   */
  async whenFree(runId: string, signal?: AbortSignal): Promise<void> {
    if (!this.locks) return;
    await this.locks.request(this.lockName(runId), { mode: 'shared', signal }, () => undefined);
  }
}
