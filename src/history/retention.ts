// Retention: by age (closed lives and gaps older than retentionMs, flows older than
// flowRetentionMs; open lives are kept however old) and by size (when the pages in use pass
// maxBytes, the closed lives that started first go until use is under 90% of it, then the oldest flow minutes
// if that was not enough). Deletes run in chunks so
// that one prune never holds the write lock, nor the event loop, for long.
// Lives in blocks (blocks.ts) go a whole block at a time: by age once its last close is old, by
// size oldest first by its first start, in turn with the rows by start time.
import type Database from 'better-sqlite3';

export interface RetentionLimits { retentionMs: number; flowRetentionMs: number; maxBytes: number }
export interface PruneResult { lives: number; flows: number; gaps: number; bySize: number; usedBytes: number }

const CHUNK = 5_000;
/** Blocks hold up to a few thousand lives each. */
const BLOCK_CHUNK = 20;
/** Size pruning stops at this fraction of maxBytes, so it does not run again at the next insert. */
const SIZE_TARGET = 0.9;

export class Retention {
  private readonly oldClosed: Database.Statement;
  private readonly oldFlows: Database.Statement;
  private readonly oldGaps: Database.Statement;
  private readonly oldestMinute: Database.Statement;
  private readonly oldBlocks: Database.Statement;
  private readonly oldestBlock: Database.Statement;
  private readonly oldestRow: Database.Statement;
  private readonly oldestBlocks: Database.Statement;
  private readonly oldestRows: Database.Statement;
  private readonly countLives: Database.Statement;

  constructor(private readonly db: Database.Database, private readonly limits: RetentionLimits) {
    // Both walk lives_started from the oldest (a life closes after it starts); the few lives
    // open since before the cut are passed over.
    this.oldClosed = db.prepare(`DELETE FROM lives WHERE id IN (
      SELECT id FROM lives INDEXED BY lives_started WHERE started_at < ? AND closed_at < ? LIMIT ${CHUNK})`);
    // flows' key starts with minute: a range delete; pruning every few seconds keeps it to a minute or two.
    this.oldFlows = db.prepare('DELETE FROM flows WHERE minute < ?');
    this.oldGaps = db.prepare('DELETE FROM gaps WHERE at < ?');
    this.oldestMinute = db.prepare('SELECT min(minute) FROM flows').pluck();
    // RETURNING count: how many lives went with the blocks.
    this.oldBlocks = db.prepare(`DELETE FROM life_blocks WHERE id IN (
      SELECT id FROM life_blocks INDEXED BY life_blocks_max_closed WHERE max_closed < ? LIMIT ${BLOCK_CHUNK}) RETURNING count`).pluck();
    this.oldestBlock = db.prepare('SELECT min_started, count FROM life_blocks INDEXED BY life_blocks_min_started ORDER BY min_started, id LIMIT 1').raw();
    this.oldestRow = db.prepare('SELECT started_at FROM lives INDEXED BY lives_started WHERE started_at >= 0 AND closed_at IS NOT NULL ORDER BY started_at LIMIT 1').pluck();
    this.oldestBlocks = db.prepare(`DELETE FROM life_blocks WHERE id IN (
      SELECT id FROM life_blocks INDEXED BY life_blocks_min_started WHERE min_started <= ? ORDER BY min_started, id LIMIT ?) RETURNING count`).pluck();
    this.oldestRows = db.prepare(`DELETE FROM lives WHERE id IN (
      SELECT id FROM lives INDEXED BY lives_started WHERE started_at >= 0 AND started_at < ? AND closed_at IS NOT NULL ORDER BY started_at LIMIT ?)`);
    this.countLives = db.prepare('SELECT (SELECT count(*) FROM lives) + (SELECT coalesce(sum(count), 0) FROM life_blocks)').pluck();
  }

  /** Lives stored, rows and block lives alike. */
  lives(): number {
    return this.countLives.get() as number;
  }

  /** About `want` of the closed lives that started first, rows or whole blocks; how many went. */
  private deleteOldest(want: number): number {
    const block = this.oldestBlock.get() as [number, number] | undefined;
    const rowStarted = this.oldestRow.get() as number | undefined;
    if (block && (rowStarted === undefined || block[0] <= rowStarted)) {
      // The blocks that start before the oldest row, as many as make up `want` (at least one).
      const blocks = Math.max(1, Math.floor(want / Math.max(1, block[1])));
      return (this.oldestBlocks.all(rowStarted ?? Number.MAX_SAFE_INTEGER, blocks) as number[]).reduce((a, b) => a + b, 0);
    }
    if (rowStarted === undefined) return 0;
    // The rows that start before the oldest block.
    return this.oldestRows.run(block ? block[0] : Number.MAX_SAFE_INTEGER, want).changes;
  }

  /** Bytes of the database file that hold data (free pages excluded). */
  usedBytes(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  prune(now: number): PruneResult {
    const r: PruneResult = { lives: 0, flows: 0, gaps: 0, bySize: 0, usedBytes: 0 };
    r.lives = drain(this.oldClosed, now - this.limits.retentionMs);
    for (;;) {
      const counts = this.oldBlocks.all(now - this.limits.retentionMs) as number[];
      for (const n of counts) r.lives += n;
      if (counts.length < BLOCK_CHUNK) break;
    }
    r.flows = this.oldFlows.run(now - this.limits.flowRetentionMs).changes;
    r.gaps = this.oldGaps.run(now - this.limits.retentionMs).changes;
    let used = this.usedBytes();
    const target = this.limits.maxBytes * SIZE_TARGET;
    if (used > this.limits.maxBytes) {
      // Rows per byte, from the size now, sizes the next chunk; deleting frees whole pages only,
      // so re-measure after each chunk.
      let total = this.lives();
      while (used > target && total > 0) {
        const want = Math.min(CHUNK * 4, Math.max(100, Math.ceil(((used - target) / used) * total * 1.05) + 1));
        const n = this.deleteOldest(want);
        r.bySize += n;
        total -= n;
        used = this.usedBytes();
        if (n === 0) break;
      }
      // Still over with no closed life left: the flows are the bulk; their oldest minutes go.
      while (used > target) {
        const oldest = this.oldestMinute.get() as number | null;
        if (oldest === null) break;
        r.flows += this.oldFlows.run(oldest + 60_000).changes;
        used = this.usedBytes();
      }
    }
    // Give freed pages back to the file system (auto_vacuum=INCREMENTAL), so the file shrinks too.
    if (r.lives + r.flows + r.gaps + r.bySize > 0) this.db.pragma('incremental_vacuum');
    r.usedBytes = this.usedBytes();
    return r;
  }
}

/** Runs a chunked DELETE until it deletes nothing; the count deleted. */
function drain(stmt: Database.Statement, before: number): number {
  let total = 0;
  for (;;) {
    const n = stmt.run(before, before).changes;
    total += n;
    if (n < CHUNK) return total;
  }
}
