// Errors the history store throws. Callers (CLI, API) map them without knowing SQLite:
// HistoryStoreError is a store that cannot be used (at open) or a write that failed (in status()),
// HistoryFilterError a bad query argument (an HTTP 400 naming `param`).

export type StoreErrorCode =
  | 'EACCES' | 'EROFS' | 'ENOSPC' | 'ENOTDIR' | 'EISDIR' | 'ENOENT' | 'EIO'
  | 'CORRUPT' | 'BUSY' | 'NEWER_SCHEMA' | 'CLOSED' | 'UNKNOWN';

export class HistoryStoreError extends Error {
  override name = 'HistoryStoreError';
  constructor(readonly code: StoreErrorCode, message: string, readonly path: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class HistoryFilterError extends Error {
  override name = 'HistoryFilterError';
  constructor(readonly param: string, message: string) {
    super(`${param} ${message}`);
  }
}

const HINTS: Record<StoreErrorCode, string> = {
  EACCES: 'is not writable: fix its permissions or choose another data directory (--data-dir)',
  EROFS: 'is on a read-only file system: choose another data directory (--data-dir)',
  ENOSPC: 'is on a full disk: free space, lower --max-db-mb or choose another data directory (--data-dir)',
  ENOTDIR: 'has a regular file where a directory is expected: choose another data directory (--data-dir)',
  EISDIR: 'is a directory, not a database file: choose another data directory (--data-dir)',
  ENOENT: 'does not exist and could not be created: choose another data directory (--data-dir)',
  EIO: 'gave an I/O error: check the disk, or choose another data directory (--data-dir)',
  CORRUPT: 'is not a valid tcpdir history database (corrupt or another file): move it away, and tcpdir starts a new one',
  BUSY: 'is locked by another process: stop the other tcpdir using it or choose another data directory (--data-dir)',
  NEWER_SCHEMA: 'was written by a newer tcpdir: upgrade tcpdir or choose another data directory (--data-dir)',
  CLOSED: 'is closed',
  UNKNOWN: 'could not be used: choose another data directory (--data-dir)',
};

/** The store's code for a Node fs error or a better-sqlite3 SqliteError. */
export function storeErrorCode(err: unknown): StoreErrorCode {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (['EACCES', 'EPERM'].includes(code)) return 'EACCES';
  if (['EROFS', 'ENOSPC', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EIO'].includes(code)) return code as StoreErrorCode;
  if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE' && /full/i.test(String(err))) return 'ENOSPC';
  if (code.startsWith('SQLITE_READONLY')) return 'EROFS';
  if (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_PERM') || code === 'SQLITE_AUTH') return 'EACCES';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'CORRUPT';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'BUSY';
  if (code.startsWith('SQLITE_IOERR')) return 'EIO';
  return 'UNKNOWN';
}

/** A HistoryStoreError saying which path failed, why, and what to do; keeps the original as `cause`. */
export function storeError(err: unknown, path: string, what = 'history database'): HistoryStoreError {
  if (err instanceof HistoryStoreError) return err;
  const code = storeErrorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  // Node's messages already start with their code ("ENOTDIR: not a directory, mkdir ..."): say it once.
  const why = detail.startsWith(`${code}:`) ? detail : `${code}: ${detail}`;
  return new HistoryStoreError(code, `${what} ${path} ${HINTS[code]} (${why})`, path, { cause: err });
}
