// Per-minute flows: what lives.ts rows become when only counts matter, so a week stays small.
// A life is grouped by (netns, direction, service side, remote address, remote service port):
//   INBOUND            local port (the service), remote address; the remote port is ephemeral: -1
//   OUTBOUND           process command, remote address, remote port (the service)
//   UNKNOWN            remote address, remote port (no process: the side is not known)
// Its open is counted in the minute it started, its close (with duration and bytes) in the
// minute it closed. The writer calls count() in the same transaction as the row's upsert.
import type Database from 'better-sqlite3';
import { HistoryFilterError } from './errors';
import type { LifeDirection } from './record';
import { checkDirection, checkPort, checkTime } from './validate';

export const MINUTE_MS = 60_000;

/** The part of a life that flows group by (merged row values at close time). */
export interface FlowSubject {
  netns: string | null;
  direction: LifeDirection;
  localPort: number;
  command: string | null;
  remoteAddress: string;
  remotePort: number;
}

export class FlowCounter {
  private readonly upsert: Database.Statement;
  /** This batch's sums by group (one upsert per group at commit, not one per life). */
  private readonly pending = new Map<string, (string | number)[]>();
  /**
   * The last group added to, per direction: under churn most lives fall in the group of the last
   * one of their direction, found without building and hashing the key (0.6 µs a life, measured).
   */
  private readonly last: ((string | number)[] | undefined)[] = [];

  constructor(db: Database.Database) {
    this.upsert = db.prepare(`
      INSERT INTO flows (minute, netns, direction, local_port, process, remote_address, remote_port,
                         opened, closed, duration_ms, bytes_sent, bytes_received)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET
        opened = opened + excluded.opened, closed = closed + excluded.closed,
        duration_ms = duration_ms + excluded.duration_ms,
        bytes_sent = bytes_sent + excluded.bytes_sent, bytes_received = bytes_received + excluded.bytes_received`);
  }

  opened(s: FlowSubject, at: number): void {
    this.add(s, at, 1, 0, 0, 0, 0);
  }

  closed(s: FlowSubject, at: number, durationMs: number, sent: number | null, received: number | null): void {
    this.add(s, at, 0, 1, Math.max(0, durationMs), sent ?? 0, received ?? 0);
  }

  /** A life written once, already closed (most of them): one group lookup when both fall in one minute. */
  openedAndClosed(s: FlowSubject, openedAt: number, closedAt: number, sent: number | null, received: number | null): void {
    if (Math.floor(openedAt / MINUTE_MS) !== Math.floor(closedAt / MINUTE_MS)) {
      this.opened(s, openedAt);
      this.closed(s, closedAt, closedAt - openedAt, sent, received);
    } else {
      this.add(s, closedAt, 1, 1, Math.max(0, closedAt - openedAt), sent ?? 0, received ?? 0);
    }
  }

  /** Writes the batch's sums; call inside the batch's transaction. */
  commit(): void {
    for (const row of this.pending.values()) this.upsert.run(row);
    this.pending.clear();
    this.last.length = 0;
  }

  /** Forgets the batch's sums (its transaction rolled back). */
  discard(): void {
    this.pending.clear();
    this.last.length = 0;
  }

  private add(s: FlowSubject, at: number, opened: number, closed: number, dur: number, sent: number, recv: number): void {
    const inbound = s.direction === 'INBOUND';
    const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
    const netns = s.netns ?? '';
    const localPort = inbound ? s.localPort : -1;
    const proc = s.direction === 'OUTBOUND' ? s.command ?? '' : '';
    const remotePort = inbound ? -1 : s.remotePort;
    const d = inbound ? 0 : s.direction === 'OUTBOUND' ? 1 : 2;
    let row = this.last[d];
    if (row !== undefined && row[0] === minute && row[1] === netns && row[3] === localPort && row[4] === proc &&
      row[5] === s.remoteAddress && row[6] === remotePort) {
      (row[7] as number) += opened; (row[8] as number) += closed; (row[9] as number) += dur;
      (row[10] as number) += sent; (row[11] as number) += recv;
      return;
    }
    const key = `${minute}|${netns}|${s.direction}|${localPort}|${proc}|${s.remoteAddress}|${remotePort}`;
    row = this.pending.get(key);
    if (row === undefined) {
      this.pending.set(key, row = [minute, netns, s.direction, localPort, proc, s.remoteAddress, remotePort, opened, closed, dur, sent, recv]);
    } else {
      (row[7] as number) += opened; (row[8] as number) += closed; (row[9] as number) += dur;
      (row[10] as number) += sent; (row[11] as number) += recv;
    }
    this.last[d] = row;
  }
}

export const FLOW_GROUPS = ['netns', 'direction', 'localPort', 'remoteAddress', 'remotePort', 'process', 'minute'] as const;
export type FlowGroup = typeof FLOW_GROUPS[number];

export interface FlowFilter {
  since?: number;
  until?: number;
  direction?: LifeDirection;
  /** The service port: the local port of INBOUND groups, the remote port of the others. */
  port?: number;
  netns?: string;
}

export interface FlowRow {
  minute?: number;
  netns?: string | null;
  direction?: LifeDirection;
  localPort?: number | null;
  remoteAddress?: string;
  remotePort?: number | null;
  process?: string | null;
  opened: number;
  closed: number;
  durationMsTotal: number;
  bytesSent: number;
  bytesReceived: number;
}

// Column expression of each group, mapping the '' / -1 placeholders back to null.
const GROUP_SQL: Record<FlowGroup, string> = {
  minute: 'minute',
  netns: "NULLIF(netns, '')",
  direction: 'direction',
  localPort: 'NULLIF(local_port, -1)',
  remoteAddress: 'remote_address',
  remotePort: 'NULLIF(remote_port, -1)',
  process: "NULLIF(process, '')",
};

export const MAX_FLOW_LIMIT = 10_000;

export function queryFlows(db: Database.Database, filter: FlowFilter, groupBy: readonly string[], limit = 100): FlowRow[] {
  if (!Array.isArray(groupBy)) throw new HistoryFilterError('groupBy', 'must be a list');
  for (const g of groupBy) {
    if (!(FLOW_GROUPS as readonly string[]).includes(g)) {
      throw new HistoryFilterError('groupBy', `has an unknown group ${JSON.stringify(g)}: use ${FLOW_GROUPS.join(', ')}`);
    }
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FLOW_LIMIT) {
    throw new HistoryFilterError('limit', `must be an integer from 1 to ${MAX_FLOW_LIMIT}`);
  }
  const where: string[] = [];
  const params: unknown[] = [];
  // Minutes overlapping [since, until].
  if (checkTime(filter.since, 'since') !== undefined) { where.push('minute > ?'); params.push(filter.since! - MINUTE_MS); }
  if (checkTime(filter.until, 'until') !== undefined) { where.push('minute <= ?'); params.push(filter.until); }
  if (checkDirection(filter.direction) !== undefined) { where.push('direction = ?'); params.push(filter.direction); }
  if (checkPort(filter.port, 'port') !== undefined) {
    where.push('(local_port = ? OR remote_port = ?)'); // only the service side is kept, the other is -1
    params.push(filter.port, filter.port);
  }
  if (filter.netns !== undefined) {
    if (typeof filter.netns !== 'string') throw new HistoryFilterError('netns', 'must be a string');
    where.push('netns = ?'); params.push(filter.netns);
  }
  const groups = [...new Set(groupBy as FlowGroup[])];
  const cols = groups.map((g) => `${GROUP_SQL[g]} AS ${g}`);
  const sql = `SELECT ${[...cols,
    'SUM(opened) AS opened', 'SUM(closed) AS closed', 'SUM(duration_ms) AS durationMsTotal',
    'SUM(bytes_sent) AS bytesSent', 'SUM(bytes_received) AS bytesReceived'].join(', ')}
    FROM flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ${groups.length ? `GROUP BY ${groups.map((g) => GROUP_SQL[g]).join(', ')}` : ''}
    ORDER BY opened DESC, closed DESC LIMIT ?`;
  const rows = db.prepare(sql).all(...params, limit) as FlowRow[];
  // SUM over no rows is NULL: an empty total is zeros, and no group at all is no row.
  return rows.filter((r) => groups.length > 0 || r.opened !== null).map((r) => ({
    ...r, opened: r.opened ?? 0, closed: r.closed ?? 0, durationMsTotal: r.durationMsTotal ?? 0,
    bytesSent: r.bytesSent ?? 0, bytesReceived: r.bytesReceived ?? 0,
  }));
}
