// history(): lives newest first, filtered, paged by an opaque cursor that is the last life's sort
// key. Lives are rows (table lives) or entries of columnar blocks (life_blocks, blocks.ts); the
// order is (started_at, kind, tie) descending, kind 1 for rows (tie: the row id) and 0 for block
// lives (tie: block id * 65536 + index). started_at never changes and a life's tie is fixed, so a
// life is on exactly one page however many are written between pages.
import type Database from 'better-sqlite3';
import { blockHasPeer, blockHasPort, DecodedBlock } from './blocks';
import { addressRange, type AddressRange } from './cidr';
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

const ROW = 1, BLOCK = 0;
interface Cursor { s: number; tie: number; kind: number }

/** A row's cursor is [startedAt, id] (as before blocks existed), a block life's [startedAt, tie, 0]. */
export function encodeCursor(startedAt: number, tie: number, kind = ROW): string {
  return Buffer.from(JSON.stringify(kind === ROW ? [startedAt, tie] : [startedAt, tie, kind])).toString('base64url');
}

function decodeCursor(after: unknown): Cursor {
  if (typeof after !== 'string') throw new HistoryFilterError('after', 'must be a cursor string');
  try {
    const v = JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.every((x) => Number.isSafeInteger(x))) {
      if (v.length === 2) return { s: v[0], tie: v[1], kind: ROW };
      if (v.length === 3 && v[2] === BLOCK) return { s: v[0], tie: v[1], kind: BLOCK };
    }
  } catch { /* fall through */ }
  throw new HistoryFilterError('after', 'is not a cursor this store returned');
}

/** The filter's values once checked, for block lives. */
interface Checked {
  since?: number; until?: number; direction?: LifeDirection; port?: number; localPort?: number; remotePort?: number;
  range?: AddressRange; pid?: number; command?: string; netns?: string; minConfidence?: number; open?: boolean;
}

/** The WHERE clause and its parameters; every argument is checked first. */
function whereOf(f: HistoryFilter): { sql: string[]; params: unknown[]; c: Checked } {
  if (f === null || typeof f !== 'object') throw new HistoryFilterError('filter', 'must be an object');
  const sql: string[] = [];
  const params: unknown[] = [];
  const c: Checked = {};
  const since = checkTime(f.since, 'since'), until = checkTime(f.until, 'until');
  if (since !== undefined && until !== undefined && since > until) throw new HistoryFilterError('since', 'is after until');
  c.since = since; c.until = until;
  if (since !== undefined) { sql.push('(closed_at IS NULL OR closed_at >= ?)'); params.push(since); }
  if (until !== undefined) { sql.push('started_at <= ?'); params.push(until); }
  if ((c.direction = checkDirection(f.direction)) !== undefined) { sql.push('direction = ?'); params.push(f.direction); }
  c.port = checkPort(f.port, 'port'); // queryHistory splits it into two index scans
  if ((c.localPort = checkPort(f.localPort, 'localPort')) !== undefined) { sql.push('local_port = ?'); params.push(f.localPort); }
  if ((c.remotePort = checkPort(f.remotePort, 'remotePort')) !== undefined) { sql.push('remote_port = ?'); params.push(f.remotePort); }
  if (f.remoteAddress !== undefined && f.remoteAddress !== null) {
    const range = typeof f.remoteAddress === 'string' ? addressRange(f.remoteAddress.trim()) : null;
    if (!range) throw new HistoryFilterError('remoteAddress', `${JSON.stringify(f.remoteAddress)} is neither an IP address nor a CIDR (e.g. 10.0.0.0/8, fd00::/64)`);
    c.range = range;
    if (range.lo.equals(range.hi)) { sql.push('remote_key = ?'); params.push(range.lo); }
    else { sql.push('remote_key BETWEEN ? AND ?'); params.push(range.lo, range.hi); }
  }
  if (f.process !== undefined && f.process !== null) {
    const p = f.process;
    if (typeof p === 'number' ? !Number.isInteger(p) || p < 0 : typeof p !== 'string' || p === '') {
      throw new HistoryFilterError('process', 'must be a command name or a pid');
    }
    c.command = String(p);
    if (typeof p === 'number' || /^\d+$/.test(p)) { c.pid = Number(p); sql.push('(pid = ? OR command = ?)'); params.push(Number(p), String(p)); }
    else { sql.push('command = ?'); params.push(p); }
  }
  if (f.netns !== undefined && f.netns !== null) {
    if (typeof f.netns !== 'string') throw new HistoryFilterError('netns', 'must be a string');
    c.netns = f.netns;
    sql.push('netns = ?'); params.push(f.netns);
  }
  if (f.minConfidence !== undefined && f.minConfidence !== null) {
    if (typeof f.minConfidence !== 'number' || !(f.minConfidence >= 0 && f.minConfidence <= 1)) {
      throw new HistoryFilterError('minConfidence', 'must be a number from 0 to 1');
    }
    c.minConfidence = f.minConfidence;
    sql.push('confidence >= ?'); params.push(f.minConfidence);
  }
  if (f.open !== undefined && f.open !== null) {
    if (typeof f.open !== 'boolean') throw new HistoryFilterError('open', 'must be true or false');
    c.open = f.open;
    sql.push(f.open ? 'closed_at IS NULL' : 'closed_at IS NOT NULL');
  }
  return { sql, params, c };
}

/** A life on its way to a page: a row, or index i of a decoded block. */
interface Candidate { s: number; kind: number; tie: number; row?: Row; block?: DecodedBlock; i?: number }

const byOrder = (a: Candidate, b: Candidate): number => b.s - a.s || b.kind - a.kind || b.tie - a.tie;

export function queryHistory(db: Database.Database, filter: HistoryFilter = {}, page: PageOptions = {}): HistoryPage {
  const limit = page.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new HistoryFilterError('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  const { sql, params, c } = whereOf(filter);
  const cursor = page.after !== undefined && page.after !== null ? decodeCursor(page.after) : null;
  if (cursor?.kind === ROW) { sql.push('(started_at, id) < (?, ?)'); params.push(cursor.s, cursor.tie); }
  else if (cursor) { sql.push('started_at < ?'); params.push(cursor.s); } // rows sort before block lives at one instant
  const select = (extra: string[], extraParams: unknown[]): Row[] => {
    const all = [...sql, ...extra];
    return db.prepare(`SELECT ${COLUMNS} FROM lives ${all.length ? `WHERE ${all.join(' AND ')}` : ''}
      ORDER BY started_at DESC, id DESC LIMIT ?`).all(...params, ...extraParams, limit + 1) as Row[];
  };
  let rows: Row[];
  if (c.port === undefined) rows = select([], []);
  else {
    // "local_port = ? OR remote_port = ?" makes SQLite collect and sort every match (94 ms for a
    // busy port over 1M rows); two ordered index scans merged here read limit+1 rows each.
    const byId = new Map<number, Row>();
    for (const r of [...select(['local_port = ?'], [c.port]), ...select(['remote_port = ?'], [c.port])]) byId.set(r.id, r);
    rows = [...byId.values()].sort((a, b) => b.startedAt - a.startedAt || b.id - a.id).slice(0, limit + 1);
  }
  let top: Candidate[] = rows.map((r) => ({ s: r.startedAt, kind: ROW, tie: r.id, row: r }));
  // Block lives are all closed: none is open.
  if (c.open !== true) top = withBlockLives(db, c, cursor, top, limit + 1);
  const more = top.length > limit;
  if (more) top.length = limit;
  const last = top[top.length - 1];
  return {
    lives: top.map((x) => {
      if (x.block) return x.block.life(x.i!);
      const { startedAt: _s, ...r } = x.row!;
      return { ...r, id: String(r.id), certain: r.certain === 1, preExisting: r.preExisting === 1 };
    }),
    next: more && last ? encodeCursor(last.s, last.tie, last.kind) : null,
  };
}

/** Statements and a small cache of decoded blocks, per database. */
interface BlockReader { metas: Map<string, Database.Statement>; data: Database.Statement; cache: Map<number, DecodedBlock>; cached: number }
const readers = new WeakMap<Database.Database, BlockReader>();
/** Decoded blocks kept (by their approximate size): paging through one busy block decodes it once. */
const CACHE_BYTES = 16 * 1024 * 1024;
const META_PAGE = 256;

function readerOf(db: Database.Database): BlockReader {
  let r = readers.get(db);
  if (!r) {
    // Newest first by max_started; a page of block metadata at a time, so that a query that fills
    // its page from the newest blocks reads no more.
    r = {
      metas: new Map(),
      data: db.prepare('SELECT data FROM life_blocks WHERE id = ?').pluck(),
      cache: new Map(), cached: 0,
    };
    readers.set(db, r);
  }
  return r;
}

function decoded(r: BlockReader, id: number): DecodedBlock | null {
  let b = r.cache.get(id);
  if (b) { r.cache.delete(id); r.cache.set(id, b); return b; } // most recently used last
  const data = r.data.get(id) as Buffer | undefined;
  if (!data) return null; // deleted by retention meanwhile
  b = new DecodedBlock(id, data);
  r.cache.set(id, b);
  r.cached += b.bytes;
  for (const [k, old] of r.cache) {
    if (r.cached <= CACHE_BYTES) break;
    r.cache.delete(k);
    r.cached -= old.bytes;
  }
  return b;
}

/**
 * Merges into `top` (sorted, at most `want`) the block lives that match, walking blocks newest
 * first and stopping once no block left can hold a life that sorts before the last one kept.
 */
function withBlockLives(db: Database.Database, c: Checked, cursor: Cursor | null, top: Candidate[], want: number): Candidate[] {
  const r = readerOf(db);
  const upper = Math.min(c.until ?? Number.MAX_SAFE_INTEGER, cursor?.s ?? Number.MAX_SAFE_INTEGER);
  let afterMax = Number.MAX_SAFE_INTEGER, afterId = Number.MAX_SAFE_INTEGER;
  const byPort = c.port !== undefined || c.localPort !== undefined || c.remotePort !== undefined;
  const byNames = c.netns !== undefined || (c.command !== undefined && c.pid === undefined);
  // The summary columns only when the filter asks: ports, peers and names are most of the metadata.
  const columns = `${byPort ? 'ports' : 'NULL'}, ${c.range ? 'peers' : 'NULL'}, ${byNames ? 'names' : 'NULL'}`;
  let metasOf = r.metas.get(columns);
  if (!metasOf) {
    metasOf = db.prepare(`SELECT id, max_started, ${columns} FROM life_blocks INDEXED BY life_blocks_max_started
      WHERE max_started <= ? AND (max_started < ? OR id < ?) AND max_closed >= ? AND min_started <= ?
      ORDER BY max_started DESC, id DESC LIMIT ${META_PAGE}`).raw();
    r.metas.set(columns, metasOf);
  }
  for (;;) {
    const metas = metasOf.all(afterMax, afterMax, afterId, c.since ?? -Number.MAX_SAFE_INTEGER, upper) as [number, number, Buffer, Buffer | null, string | null][];
    for (const [id, maxStarted, ports, peers, namesText] of metas) {
      if (top.length >= want && top[want - 1].s > maxStarted) return top;
      if (c.port !== undefined && !blockHasPort(ports, c.port, 'either')) continue;
      if (c.localPort !== undefined && !blockHasPort(ports, c.localPort, 'local')) continue;
      if (c.remotePort !== undefined && !blockHasPort(ports, c.remotePort, 'remote')) continue;
      if (c.range && !blockHasPeer(peers!, c.range.lo, c.range.hi)) continue;
      if (byNames) {
        const names = JSON.parse(namesText!) as string[];
        if (c.netns !== undefined && !names.includes(c.netns)) continue;
        if (c.command !== undefined && c.pid === undefined && !names.includes(c.command)) continue;
      }
      const b = decoded(r, id);
      if (!b) continue;
      const found = matches(b, c, cursor, top.length >= want ? top[want - 1] : null);
      if (found.length) {
        top = top.concat(found).sort(byOrder);
        if (top.length > want) top.length = want;
      }
    }
    if (metas.length < META_PAGE) return top;
    [afterId, afterMax] = metas[metas.length - 1];
  }
}

/** The lives of block b that pass the filter and sort after the cursor and before `floor`. */
function matches(b: DecodedBlock, c: Checked, cursor: Cursor | null, floor: Candidate | null): Candidate[] {
  const out: Candidate[] = [];
  // Strings are compared as indexes into the block's table; one the block lacks matches nothing.
  const netns = c.netns === undefined ? -1 : b.indexOf(c.netns);
  if (netns === -2) return out;
  const command = c.command === undefined ? -1 : b.indexOf(c.command);
  if (command === -2 && c.pid === undefined) return out;
  let remote: Uint8Array | null = null;
  if (c.range) {
    const { lo, hi } = c.range;
    // 1: matches, 2: does not (0: not looked at yet); only the strings used as remote addresses.
    remote = new Uint8Array(b.strings.length);
    for (let i = 0; i < b.n; i++) {
      const k = b.remoteAddress[i];
      if (remote[k] !== 0) continue;
      const key = b.remoteKey(k);
      remote[k] = key && key.compare(lo) >= 0 && key.compare(hi) <= 0 ? 1 : 2;
    }
  }
  const base = b.id * 65536;
  for (let i = 0; i < b.n; i++) {
    const s = b.started(i), tie = base + i;
    if (cursor && (s > cursor.s || (s === cursor.s && cursor.kind === BLOCK && tie >= cursor.tie))) continue;
    if (floor && (s < floor.s || (s === floor.s && (floor.kind === ROW || tie < floor.tie)))) continue;
    if (c.since !== undefined && b.closed[i] < c.since) continue;
    if (c.until !== undefined && s > c.until) continue;
    if (c.direction !== undefined && b.direction(i) !== c.direction) continue;
    if (c.port !== undefined && b.localPort[i] !== c.port && b.remotePort[i] !== c.port) continue;
    if (c.localPort !== undefined && b.localPort[i] !== c.localPort) continue;
    if (c.remotePort !== undefined && b.remotePort[i] !== c.remotePort) continue;
    if (remote && remote[b.remoteAddress[i]] !== 1) continue;
    if (c.command !== undefined && b.command[i] !== command && (c.pid === undefined || b.pid[i] !== c.pid)) continue;
    if (c.netns !== undefined && b.netns[i] !== netns) continue;
    if (c.minConfidence !== undefined && !(b.confidence[i] >= c.minConfidence)) continue;
    out.push({ s, kind: BLOCK, tie, block: b, i });
  }
  return out;
}

/** The query plan SQLite picks for a filter (tests and the benchmark check that indexes are used). */
export function explainHistory(db: Database.Database, filter: HistoryFilter = {}, limit = DEFAULT_LIMIT): string[] {
  const { sql, params } = whereOf(filter);
  if (filter.port !== undefined && filter.port !== null) { sql.push('local_port = ?'); params.push(filter.port); }
  return (db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM lives ${sql.length ? `WHERE ${sql.join(' AND ')}` : ''}
    ORDER BY started_at DESC, id DESC LIMIT ?`).all(...params, limit) as { detail: string }[]).map((r) => r.detail);
}
