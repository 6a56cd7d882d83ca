// history(): lives newest first by (started_at desc, id desc), filtered, paged by an opaque cursor
// that is the last row's sort key. started_at never changes and new rows get larger ids, so a row
// is on exactly one page however many rows are inserted between pages.
import type Database from 'better-sqlite3';
import { addressRange } from './cidr';
import { HistoryFilterError } from './errors';
import type { LifeDirection, StoredLife } from './record';
import { checkDirection, checkPort, checkTime } from './validate';

export interface HistoryFilter {
  /** A life matches when it overlaps [since, until] (ms). */
  since?: number;
  until?: number;
  direction?: LifeDirection;
  /** Local or remote port. */
  port?: number;
  localPort?: number;
  remotePort?: number;
  /** An address or a CIDR; an IPv4 one also matches IPv4-mapped IPv6 peers. */
  remoteAddress?: string;
  /** A command (exact) or a pid. */
  process?: string | number;
  netns?: string;
  minConfidence?: number;
  /** true: still open; false: closed. */
  open?: boolean;
}

export interface PageOptions { limit?: number; after?: string | null }
export interface HistoryPage { lives: StoredLife[]; next: string | null }

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;

const COLUMNS = `id, key, netns, family, local_address AS localAddress, local_port AS localPort,
  remote_address AS remoteAddress, remote_port AS remotePort, direction, confidence, certain, rule,
  opened_at AS openedAt, closed_at AS closedAt, first_seen_at AS firstSeenAt, pre_existing AS preExisting,
  pid, command, bytes_sent AS bytesSent, bytes_received AS bytesReceived, retransmits,
  observed_by AS observedBy, started_at AS startedAt`;

type Row = Omit<StoredLife, 'id' | 'certain' | 'preExisting'> & { id: number; certain: number; preExisting: number; startedAt: number };

export function encodeCursor(startedAt: number, id: number): string {
  return Buffer.from(JSON.stringify([startedAt, id])).toString('base64url');
}

function decodeCursor(after: unknown): [number, number] {
  if (typeof after !== 'string') throw new HistoryFilterError('after', 'must be a cursor string');
  try {
    const v = JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x))) return v as [number, number];
  } catch { /* fall through */ }
  throw new HistoryFilterError('after', 'is not a cursor this store returned');
}

/** The WHERE clause and its parameters; every argument is checked first. */
function whereOf(f: HistoryFilter): { sql: string[]; params: unknown[] } {
  if (f === null || typeof f !== 'object') throw new HistoryFilterError('filter', 'must be an object');
  const sql: string[] = [];
  const params: unknown[] = [];
  const since = checkTime(f.since, 'since'), until = checkTime(f.until, 'until');
  if (since !== undefined && until !== undefined && since > until) throw new HistoryFilterError('since', 'is after until');
  if (since !== undefined) { sql.push('(closed_at IS NULL OR closed_at >= ?)'); params.push(since); }
  if (until !== undefined) { sql.push('started_at <= ?'); params.push(until); }
  if (checkDirection(f.direction) !== undefined) { sql.push('direction = ?'); params.push(f.direction); }
  checkPort(f.port, 'port'); // queryHistory splits it into two index scans
  if (checkPort(f.localPort, 'localPort') !== undefined) { sql.push('local_port = ?'); params.push(f.localPort); }
  if (checkPort(f.remotePort, 'remotePort') !== undefined) { sql.push('remote_port = ?'); params.push(f.remotePort); }
  if (f.remoteAddress !== undefined && f.remoteAddress !== null) {
    const range = typeof f.remoteAddress === 'string' ? addressRange(f.remoteAddress.trim()) : null;
    if (!range) throw new HistoryFilterError('remoteAddress', `${JSON.stringify(f.remoteAddress)} is neither an IP address nor a CIDR (e.g. 10.0.0.0/8, fd00::/64)`);
    if (range.lo.equals(range.hi)) { sql.push('remote_key = ?'); params.push(range.lo); }
    else { sql.push('remote_key BETWEEN ? AND ?'); params.push(range.lo, range.hi); }
  }
  if (f.process !== undefined && f.process !== null) {
    const p = f.process;
    if (typeof p === 'number' ? !Number.isInteger(p) || p < 0 : typeof p !== 'string' || p === '') {
      throw new HistoryFilterError('process', 'must be a command name or a pid');
    }
    if (typeof p === 'number' || /^\d+$/.test(p)) { sql.push('(pid = ? OR command = ?)'); params.push(Number(p), String(p)); }
    else { sql.push('command = ?'); params.push(p); }
  }
  if (f.netns !== undefined && f.netns !== null) {
    if (typeof f.netns !== 'string') throw new HistoryFilterError('netns', 'must be a string');
    sql.push('netns = ?'); params.push(f.netns);
  }
  if (f.minConfidence !== undefined && f.minConfidence !== null) {
    if (typeof f.minConfidence !== 'number' || !(f.minConfidence >= 0 && f.minConfidence <= 1)) {
      throw new HistoryFilterError('minConfidence', 'must be a number from 0 to 1');
    }
    sql.push('confidence >= ?'); params.push(f.minConfidence);
  }
  if (f.open !== undefined && f.open !== null) {
    if (typeof f.open !== 'boolean') throw new HistoryFilterError('open', 'must be true or false');
    sql.push(f.open ? 'closed_at IS NULL' : 'closed_at IS NOT NULL');
  }
  return { sql, params };
}

export function queryHistory(db: Database.Database, filter: HistoryFilter = {}, page: PageOptions = {}): HistoryPage {
  const limit = page.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new HistoryFilterError('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  const { sql, params } = whereOf(filter);
  if (page.after !== undefined && page.after !== null) {
    const [startedAt, id] = decodeCursor(page.after);
    sql.push('(started_at, id) < (?, ?)'); params.push(startedAt, id);
  }
  const select = (extra: string[], extraParams: unknown[]): Row[] => {
    const all = [...sql, ...extra];
    return db.prepare(`SELECT ${COLUMNS} FROM lives ${all.length ? `WHERE ${all.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id DESC LIMIT ?`).all(...params, ...extraParams, limit + 1) as Row[];
  };
  let rows: Row[];
  if (filter.port === undefined || filter.port === null) rows = select([], []);
  else {
    // "local_port = ? OR remote_port = ?" makes SQLite collect and sort every match (94 ms for a
    // busy port over 1M rows); two ordered index scans merged here read limit+1 rows each.
    const byId = new Map<number, Row>();
    for (const r of [...select(['local_port = ?'], [filter.port]), ...select(['remote_port = ?'], [filter.port])]) byId.set(r.id, r);
    rows = [...byId.values()].sort((a, b) => b.startedAt - a.startedAt || b.id - a.id).slice(0, limit + 1);
  }
  const more = rows.length > limit;
  if (more) rows.pop();
  const last = rows[rows.length - 1];
  return {
    lives: rows.map(({ startedAt: _s, ...r }) => ({ ...r, id: String(r.id), certain: r.certain === 1, preExisting: r.preExisting === 1 })),
    next: more && last ? encodeCursor(last.startedAt, last.id) : null,
  };
}

/** The query plan SQLite picks for a filter (tests and the benchmark check that indexes are used). */
export function explainHistory(db: Database.Database, filter: HistoryFilter = {}, limit = DEFAULT_LIMIT): string[] {
  const { sql, params } = whereOf(filter);
  if (filter.port !== undefined && filter.port !== null) { sql.push('local_port = ?'); params.push(filter.port); }
  return (db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM lives ${sql.length ? `WHERE ${sql.join(' AND ')}` : ''}
    ORDER BY started_at DESC, id DESC LIMIT ?`).all(...params, limit) as { detail: string }[]).map((r) => r.detail);
}
