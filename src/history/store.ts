// HistoryStore: the embedded SQLite history of connection lives. Writes are queued and flushed
// off the caller's path (a timer, or a full batch) in one transaction; a failed flush is counted
// and reported by status(), never thrown at the writer, and retried at the next flush, with the
// queue bounded so that a dead disk cannot grow memory without limit. Queries read what is flushed.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { HistoryStoreError, storeError, storeErrorCode, type StoreErrorCode } from './errors';
import { queryFlows, type FlowFilter, type FlowRow } from './flows';
import { queryHistory, type HistoryFilter, type HistoryPage, type PageOptions } from './queries';
import type { ClosedKernelLife, ConnectionLife, GapMarker } from './record';
import { Retention, type PruneResult } from './retention';
import { migrate } from './schema';
import { BatchWriter } from './writer';
import { checkTime } from './validate';

export interface HistoryStoreOptions {
  /** A file path, or ':memory:'. Its directory is created if needed. */
  path: string;
  /** Closed lives and gaps older than this are deleted. Default 24 h. */
  retentionMs?: number;
  /** Oldest closed lives are deleted while the data passes this. Default 512 MiB. */
  maxBytes?: number;
  /** Per-minute flows older than this are deleted. Default 7 days. */
  flowRetentionMs?: number;
  /** Queued writes are flushed this often. Default 250 ms. */
  flushMs?: number;
  /** ...or as soon as this many are queued. Default 2000. */
  maxBatch?: number;
  /**
   * Writes queued beyond this (flushes failing, or more lives than the budget can write) drop the
   * oldest, counted, with a gap marker. Default 20,000 (a few MiB).
   */
  maxQueue?: number;
  /**
   * At most this many ms of writing per flush; the rest waits for the next one, as long. Under a
   * churn heavier than SQLite can take, recording gets about half the main thread and never all
   * of it: requests still get answered, and the excess is dropped and marked. Default 50.
   */
  flushBudgetMs?: number;
  /**
   * A transaction with at least this many lives new and already closed writes them as one
   * columnar block (blocks.ts), fewer as rows. Default 64.
   */
  minBlockLives?: number;
  /** How often retention runs. Default 10 s. */
  pruneMs?: number;
  now?: () => number;
  /** Told when writing starts failing (a full disk, a read-only file system); status() has the rest. */
  onError?: (e: HistoryStoreError) => void;
}

export interface StoreStatus {
  path: string;
  /** Lives stored (flushed). */
  records: number;
  /** Bytes of the database file in use. */
  bytes: number;
  /** Lives waiting to be flushed. */
  queued: number;
  /** The last failed flush or prune; null once one succeeds after it. */
  lastError: { code: StoreErrorCode; message: string; at: number } | null;
  /** Writes dropped because the queue passed maxQueue while flushes failed. */
  droppedWrites: number;
  /** Records refused by SQLite one by one (malformed), after their batch failed. */
  rejectedWrites: number;
  /** Flushes that failed since open. */
  failedFlushes: number;
  /** Gap markers stored. */
  gaps: number;
}

const HOUR = 3_600_000;

export class HistoryStore {
  private readonly writer: BatchWriter;
  private readonly retention: Retention;
  private readonly countGaps: Database.Statement;
  private readonly listGaps: Database.Statement;
  private queue: ConnectionLife[] = [];
  /** Lives new to the store and closed (write(lives, true)): no merge by key. */
  private fresh: ClosedKernelLife[] = [];
  private gapQueue: GapMarker[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly pruneTimer: NodeJS.Timeout;
  private records: number;
  private gapCount: number;
  private lastError: StoreStatus['lastError'] = null;
  private droppedWrites = 0;
  /** droppedWrites already reported by a gap marker. */
  private droppedMarked = 0;
  private rejectedWrites = 0;
  private failedFlushes = 0;
  private closed = false;

  private constructor(private readonly db: Database.Database, readonly path: string, private readonly opts: Required<HistoryStoreOptions>) {
    this.writer = new BatchWriter(db, opts.minBlockLives);
    this.retention = new Retention(db, opts);
    this.countGaps = db.prepare('SELECT count(*) FROM gaps').pluck();
    this.listGaps = db.prepare('SELECT at, lost, reason FROM gaps WHERE at >= ? AND at <= ? ORDER BY at DESC, id DESC');
    this.records = this.retention.lives();
    this.gapCount = this.countGaps.get() as number;
    this.pruneTimer = setInterval(() => this.safePrune(), opts.pruneMs).unref();
  }

  /** Opens (creating if needed) the store; an unusable path is a HistoryStoreError saying what to do. */
  static open(options: HistoryStoreOptions): HistoryStore {
    const opts: Required<HistoryStoreOptions> = {
      retentionMs: 24 * HOUR, maxBytes: 512 * 1024 * 1024, flowRetentionMs: 7 * 24 * HOUR,
      flushMs: 250, maxBatch: 2000, maxQueue: 20_000, flushBudgetMs: 50, minBlockLives: 64, pruneMs: 10_000, now: Date.now, onError: () => undefined, ...options,
    };
    const memory = opts.path === ':memory:';
    const path = memory ? opts.path : resolve(opts.path);
    if (!memory) prepareDirectory(path);
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      // auto_vacuum must be chosen before the first table: a new file gets INCREMENTAL, so
      // retention can give pages back (retention.ts).
      if ((db.pragma('user_version', { simple: true }) as number) === 0) db.pragma('auto_vacuum = INCREMENTAL');
      if (!memory && db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
        throw new HistoryStoreError('UNKNOWN', `history database ${path}: WAL mode is not available on this file system: choose another data directory (--data-dir)`, path);
      }
      // NORMAL in WAL: a crash loses at most the last transactions, never consistency.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 2000');
      db.pragma('journal_size_limit = 67108864');
      // SQLite's default 2 MB page cache. 16 MB filled up with a big host's first snapshot (100k
      // pre-existing lives written at once) and stayed: 19 MiB of the server's malloc heap at
      // 100k sockets. bench:events-pipeline (6.86 -> 6.72 µs a life) and bench:history's
      // queries (within run-to-run noise) did not slow down.
      db.pragma('cache_size = -2000');
      migrate(db, path);
      return new HistoryStore(db, path, { ...opts, path });
    } catch (err) {
      try { db?.close(); } catch { /* already failing */ }
      throw storeError(err, path);
    }
  }

  /**
   * Queues lives to be upserted by key; no I/O here. With `closedNew`, closed kernel lives whose
   * keys were never written before and will never be written again (the recorder's lives that
   * opened and closed within one batch of events: under churn, nearly all): those skip the merge
   * by key (a Map over the queue) and the writer's lookups of known keys.
   */
  write(lives: readonly ConnectionLife[]): void;
  write(lives: readonly ClosedKernelLife[], closedNew: true): void;
  write(lives: readonly ConnectionLife[] | readonly ClosedKernelLife[], closedNew = false): void {
    if (this.closed) throw new HistoryStoreError('CLOSED', `history database ${this.path} is closed`, this.path);
    if (closedNew) for (const l of lives as readonly ClosedKernelLife[]) this.fresh.push(l);
    else for (const l of lives as readonly ConnectionLife[]) this.queue.push(l);
    this.bound();
    this.schedule();
  }

  /**
   * Resolves once at most half of maxQueue lives wait to be written, or at once while writing
   * fails or the store is closed (then the bound applies). A producer of a known bulk (a snapshot
   * of 100k connections at start, all pre-existing) awaits it between slices: otherwise its lives
   * pass the bound in one write and the oldest are dropped although the disk is fine.
   */
  async drain(): Promise<void> {
    while (!this.closed && this.lastError === null && this.queue.length + this.fresh.length > this.opts.maxQueue >> 1) {
      await new Promise((r) => setTimeout(r, this.opts.flushBudgetMs));
    }
  }

  /** Queues a marker for events that were lost (e.g. the kernel ring buffer dropped `lost`). */
  markGap(gap: { at: number; lost?: number | null; reason: string }): void {
    if (this.closed) throw new HistoryStoreError('CLOSED', `history database ${this.path} is closed`, this.path);
    this.gapQueue.push({ at: gap.at, lost: gap.lost ?? null, reason: gap.reason });
    this.schedule();
  }

  /**
   * Writes what is queued, in transactions of up to maxBatch lives, for at most flushBudgetMs;
   * what is left goes at the next flush. false when a write failed (see status()).
   */
  flush(): boolean {
    if (this.flushTimer) { clearTimeout(this.flushTimer); this.flushTimer = null; }
    this.noteDrops();
    // One write per key over the whole queue, not per batch: a life whose open and close fall in
    // two batches would be inserted, then looked up and updated.
    this.queue = coalesce(this.queue);
    const t0 = performance.now();
    while (this.queue.length > 0 || this.fresh.length > 0 || this.gapQueue.length > 0) {
      if (!this.flushSome()) return false;
      if (performance.now() - t0 > this.opts.flushBudgetMs && this.queue.length + this.fresh.length > 0) {
        this.flushTimer = setTimeout(() => this.flush(), this.opts.flushBudgetMs);
        return true;
      }
    }
    return true;
  }

  /** One transaction of up to maxBatch queued lives (and the queued gaps). */
  private flushSome(): boolean {
    const lives = this.queue.splice(0, this.opts.maxBatch), gaps = this.gapQueue;
    const fresh = this.fresh.splice(0, this.opts.maxBatch - lives.length);
    this.gapQueue = [];
    try {
      const { inserted } = this.writer.writeBatch(lives, gaps, fresh);
      this.records += inserted;
      this.gapCount += gaps.length;
      this.lastError = null;
      return true;
    } catch (err) {
      this.failedFlushes++;
      this.noteError(err);
      // A bad record (not a bad disk) would fail every retry: write one at a time, drop the bad.
      if (storeErrorCode(err) === 'UNKNOWN') return this.writeEach(lives, gaps, fresh);
      // Keep them for the next flush (in front of anything queued meanwhile), within the bound.
      this.queue = lives.concat(this.queue);
      this.fresh = fresh.concat(this.fresh);
      this.gapQueue = gaps.concat(this.gapQueue);
      this.bound();
      this.schedule();
      return false;
    }
  }

  /** Lives dropped since the last look become a gap marker: history says where it is incomplete. */
  private noteDrops(): void {
    const n = this.droppedWrites - this.droppedMarked;
    if (n <= 0) return;
    this.droppedMarked = this.droppedWrites;
    this.gapQueue.push({ at: this.opts.now(), lost: n, reason: 'history overloaded or failing: connection lives not stored' });
  }

  query(filter: HistoryFilter = {}, page: PageOptions = {}): HistoryPage {
    this.open();
    return queryHistory(this.db, filter, page);
  }

  flows(filter: FlowFilter = {}, groupBy: readonly string[] = [], limit = 100): FlowRow[] {
    this.open();
    return queryFlows(this.db, filter, groupBy, limit);
  }

  /**
   * Closes, as of `at`, every life still open in the store: a recorder starting anew calls it, as
   * those belong to a run that stopped (the connections, if still alive, are recorded again as
   * pre-existing). Their real close time is unknown: a gap marker says so. Returns how many.
   */
  closeOpen(at: number): number {
    this.open();
    this.flush();
    const n = this.db.prepare('UPDATE lives SET closed_at = max(?, started_at), flow_closed = 1 WHERE closed_at IS NULL').run(at).changes;
    this.writer.forgetOpen();
    if (n > 0) this.markGap({ at, lost: null, reason: `tcpdir was not recording: ${n} lives open when it stopped were closed at restart (their real close time is unknown)` });
    return n;
  }

  /** Gap markers with since <= at <= until, newest first. */
  gaps(since = 0, until = Number.MAX_SAFE_INTEGER): GapMarker[] {
    this.open();
    return this.listGaps.all(checkTime(since, 'since') ?? 0, checkTime(until, 'until') ?? Number.MAX_SAFE_INTEGER) as GapMarker[];
  }

  /** Applies retention as of `now` (the timer calls it every pruneMs). */
  prune(now = this.opts.now()): PruneResult {
    this.open();
    const r = this.retention.prune(now);
    if (r.lives + r.bySize > 0) this.records = this.retention.lives();
    if (r.gaps > 0) this.gapCount = this.countGaps.get() as number;
    return r;
  }

  status(): StoreStatus {
    let bytes = 0;
    if (!this.closed) try { bytes = this.retention.usedBytes(); } catch { /* reported via lastError */ }
    return {
      path: this.path, records: this.records, bytes, queued: this.queue.length + this.fresh.length, lastError: this.lastError,
      droppedWrites: this.droppedWrites, rejectedWrites: this.rejectedWrites, failedFlushes: this.failedFlushes, gaps: this.gapCount,
    };
  }

  /** PRAGMA integrity_check: ['ok'] for a sound database. */
  integrityCheck(): string[] {
    this.open();
    return (this.db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  }

  /** Flushes, stops the timers, checkpoints the WAL into the file and closes. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    clearInterval(this.pruneTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    try {
      this.db.pragma('optimize');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.noteError(err);
    }
    this.closed = true;
    this.db.close();
  }

  private writeEach(lives: ConnectionLife[], gaps: GapMarker[], fresh: ClosedKernelLife[]): boolean {
    for (const l of lives) {
      try { this.records += this.writer.writeBatch([l], []).inserted; } catch { this.rejectedWrites++; }
    }
    for (const l of fresh) {
      try { this.records += this.writer.writeBatch([], [], [l]).inserted; } catch { this.rejectedWrites++; }
    }
    try { this.writer.writeBatch([], gaps); this.gapCount += gaps.length; } catch { this.rejectedWrites += gaps.length; }
    return false;
  }

  private open(): void {
    if (this.closed) throw new HistoryStoreError('CLOSED', `history database ${this.path} is closed`, this.path);
  }

  private schedule(): void {
    if (this.queue.length + this.fresh.length >= this.opts.maxBatch) {
      // A full batch goes at once, but still not on the caller's stack.
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = setTimeout(() => this.flush(), 0);
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.opts.flushMs);
    }
  }

  private bound(): void {
    let over = this.queue.length + this.fresh.length - this.opts.maxQueue;
    if (over <= 0) return this.boundGaps();
    this.droppedWrites += over;
    // The oldest go, of either queue: each is in time order, and the fresh ones are all closed.
    let q = 0, f = 0;
    while (over-- > 0) {
      if (f >= this.fresh.length || (q < this.queue.length && startOf(this.queue[q]) <= startOf(this.fresh[f]))) q++;
      else f++;
    }
    if (q) this.queue.splice(0, q);
    if (f) this.fresh.splice(0, f);
    this.boundGaps();
  }

  private boundGaps(): void {
    const gapsOver = this.gapQueue.length - 1000;
    if (gapsOver > 0) this.gapQueue.splice(0, gapsOver);
  }

  private safePrune(): void {
    try { this.prune(); } catch (err) { this.noteError(err); }
  }

  private noteError(err: unknown): void {
    const e = storeError(err, this.path);
    // Told once per spell of failure (the first error after a success), not at every retry.
    if (this.lastError === null) this.opts.onError(e);
    this.lastError = { code: e.code, message: e.message, at: this.opts.now() };
  }
}

/** Creates the directory of `path` and checks that it and the file can be used, before SQLite tries. */
function prepareDirectory(path: string): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    // mkdir -p says EEXIST when a regular file stands where a directory is needed.
    const e = (err as { code?: string }).code === 'EEXIST' ? Object.assign(err as Error, { code: 'ENOTDIR' }) : err;
    throw storeError(e, dir, 'history data directory');
  }
  try {
    if (statSync(path).isDirectory()) {
      throw new HistoryStoreError('EISDIR', `history database ${path} is a directory, not a database file: choose another path`, path);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw storeError(err, path);
  }
}

const startOf = (l: ConnectionLife | ClosedKernelLife): number => l.openedAt ?? l.firstSeenAt;

/**
 * One write per key: a life that opened and closed within one flush window (most of them) is
 * inserted once, closed, instead of inserted then updated; versions merge as the upsert would
 * merge them, and the key keeps its first position.
 */
function coalesce(lives: ConnectionLife[]): ConnectionLife[] {
  const byKey = new Map<string, ConnectionLife>();
  for (const l of lives) {
    const was = byKey.get(l.key);
    // As the upsert would merge them: a close is final, absent values do not erase known ones
    // (the recorder's later versions already carry the earlier ones' values: no copy then).
    byKey.set(l.key, was === undefined || carries(l, was) ? l : {
      ...l, closedAt: was.closedAt ?? l.closedAt, pid: l.pid ?? was.pid, command: l.command ?? was.command,
      bytesSent: l.bytesSent ?? was.bytesSent, bytesReceived: l.bytesReceived ?? was.bytesReceived,
      retransmits: l.retransmits ?? was.retransmits, netns: was.netns ?? l.netns,
      openedAt: was.openedAt, firstSeenAt: was.firstSeenAt, preExisting: was.preExisting,
      localAddress: was.localPort === 0 ? l.localAddress : was.localAddress, localPort: was.localPort === 0 ? l.localPort : was.localPort,
    });
  }
  return byKey.size === lives.length ? lives : [...byKey.values()];
}

/** `l` holds every value `was` would contribute to a merge. */
function carries(l: ConnectionLife, was: ConnectionLife): boolean {
  return (was.closedAt === null || was.closedAt === l.closedAt) && (was.pid === null || l.pid !== null) &&
    (was.command === null || l.command !== null) && (was.bytesSent === null || l.bytesSent !== null) &&
    (was.bytesReceived === null || l.bytesReceived !== null) && (was.retransmits === null || l.retransmits !== null) &&
    was.netns === l.netns && was.openedAt === l.openedAt && was.firstSeenAt === l.firstSeenAt &&
    was.preExisting === l.preExisting && (was.localPort === 0 || (was.localPort === l.localPort && was.localAddress === l.localAddress));
}
