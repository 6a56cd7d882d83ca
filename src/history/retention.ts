// Retention: by age (closed lives and gaps older than retentionMs, flows older than
// flowRetentionMs; open lives are kept however old) and by size (when the pages in use pass
// maxBytes, the closed lives that started first go until use is under 90% of it, then the oldest flow minutes
// if that was not enough). Deletes run in chunks so
// that one prune never holds the write lock, nor the event loop, for long.
import type Database from 'better-sqlite3';

export interface RetentionLimits { retentionMs: number; flowRetentionMs: number; maxBytes: number }
export interface PruneResult { lives: number; flows: number; gaps: number; bySize: number; usedBytes: number }

const CHUNK = 5_000;
/** Size pruning stops at this fraction of maxBytes, so it does not run again at the next insert. */
const SIZE_TARGET = 0.9;

export class Retention {
  private readonly oldClosed: Database.Statement;
  private readonly oldestClosed: Database.Statement;
  private readonly oldFlows: Database.Statement;
  private readonly oldGaps: Database.Statement;
  private readonly oldestMinute: Database.Statement;

  constructor(private readonly db: Database.Database, private readonly limits: RetentionLimits) {
    // Both walk lives_started from the oldest (a life closes after it starts); the few lives
    // open since before the cut are passed over.
    this.oldClosed = db.prepare(`DELETE FROM lives WHERE id IN (
      SELECT id FROM lives INDEXED BY lives_started WHERE started_at < ? AND closed_at < ? LIMIT ${CHUNK})`);
    this.oldestClosed = db.prepare(`DELETE FROM lives WHERE id IN (
      SELECT id FROM lives INDEXED BY lives_started WHERE started_at >= 0 AND closed_at IS NOT NULL ORDER BY started_at LIMIT ?)`);
    // flows' key starts with minute: a range delete; pruning every few seconds keeps it to a minute or two.
    this.oldFlows = db.prepare('DELETE FROM flows WHERE minute < ?');
    this.oldGaps = db.prepare('DELETE FROM gaps WHERE at < ?');
    this.oldestMinute = db.prepare('SELECT min(minute) FROM flows').pluck();
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
    r.flows = this.oldFlows.run(now - this.limits.flowRetentionMs).changes;
    r.gaps = this.oldGaps.run(now - this.limits.retentionMs).changes;
    let used = this.usedBytes();
    const target = this.limits.maxBytes * SIZE_TARGET;
    if (used > this.limits.maxBytes) {
      // Rows per byte, from the size now, sizes the next chunk; deleting frees whole pages only,
      // so re-measure after each chunk.
      let total = this.db.prepare('SELECT count(*) FROM lives').pluck().get() as number;
      while (used > target && total > 0) {
        const want = Math.ceil(((used - target) / used) * total * 1.05) + 1;
        const n = this.oldestClosed.run(Math.min(CHUNK * 4, Math.max(100, want))).changes;
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
