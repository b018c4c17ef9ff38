export type StorageErrorCode =
  | 'quota'
  | 'invalid-file'
  | 'not-found'
  | 'version'
  | 'blocked'
  | 'unavailable'
  | 'busy';

/**
 * Every failure of the storage layer, with a message a person can act on.
 * - 'quota': a save could not be written (the browser's QuotaExceededError, or any other failed
 *   write; the message says which). The transaction was aborted: nothing of this save exists and
 *   everything saved before is intact.
 * - 'invalid-file': an imported file (or a stored checkpoint) failed validation; the message names
 *   the problem.
 * - 'not-found': no such run or checkpoint.
 * - 'version': the database was written by a newer scope-lab than this page.
 * - 'blocked': another tab holds the database open at an older version, or made this connection
 *   close for its upgrade; reloading the other tab (or this one) resolves it.
 * - 'unavailable': IndexedDB is missing or refused (private mode, disabled storage, closed store).
 * - 'busy': another tab owns the run (./ownership.ts), or took it over from this one; nothing was
 *   changed.
 */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}
