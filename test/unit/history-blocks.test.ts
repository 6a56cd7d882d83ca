import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HistoryStore, type ConnectionLife, type HistoryFilter, type StoredLife } from '../../src/history';
import { SCHEMA_VERSION } from '../../src/history/schema';
import { addressKey } from '../../src/history/cidr';
import { life, oldHistoryFile } from '../helpers/history-lives';

// Lives written already closed go into columnar blocks (life_blocks); the rest are rows. Every
// query must answer the same whichever way a life was stored: a store of rows only
// (minBlockLives: Infinity) is the reference.
const DIR = mkdtempSync(join(tmpdir(), 'tcpdir-blocks-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
let seq = 0;
function dbPath(): string { return join(DIR, `t${seq++}`, 'history.sqlite'); }
function open(extra: Partial<Parameters<typeof HistoryStore.open>[0]> = {}): HistoryStore {
  return HistoryStore.open({ path: dbPath(), pruneMs: 1e9, ...extra });
}
function dbOf(s: HistoryStore): Database.Database { return (s as unknown as { db: Database.Database }).db; }
function blockCount(s: HistoryStore): number { return dbOf(s).prepare('SELECT count(*) FROM life_blocks').pluck().get() as number; }
function rowCount(s: HistoryStore): number { return dbOf(s).prepare('SELECT count(*) FROM lives').pluck().get() as number; }
/** Every page of a query, in order. */
function all(s: HistoryStore, f: HistoryFilter, limit = 1000): StoredLife[] {
  const out: StoredLife[] = [];
  let after: string | null = null;
  do {
    const p: ReturnType<HistoryStore['query']> = s.query(f, { limit, after });
    out.push(...p.lives);
    after = p.next;
  } while (after);
  return out;
}
const started = (l: ConnectionLife) => l.openedAt ?? l.firstSeenAt;

const T = 50_000_000;
/** A varied set: both families, mapped peers, directions, processes, namespaces, confidences, nulls. */
function varied(n: number): ConnectionLife[] {
  const peers = ['10.1.2.3', '10.1.9.9', '192.168.1.5', 'fd00::1:5', '::ffff:10.9.8.7', '172.16.0.1'];
  const out: ConnectionLife[] = [];
  for (let i = 0; i < n; i++) {
    const remote = peers[i % peers.length];
    const v6 = remote.includes(':');
    const dir = (['INBOUND', 'OUTBOUND', 'UNKNOWN'] as const)[i % 3];
    const pre = i % 17 === 0;
    const opened = T + Math.floor(i / 4) * 1000; // four at each instant: ties
    // The recorder's keys (k:<cookie>:<openedAt>, stored as a number) and others (kept as text).
    const key = i % 3 === 0 && !pre ? `k:${7_000_000_000 + i}:${opened}` : i % 3 === 1 ? `k:${i}:1` : `v${i}`;
    out.push(life({
      key, family: v6 ? 'IPV6' : 'IPV4', localAddress: v6 ? 'fd00::2' : '10.0.0.2',
      localPort: dir === 'INBOUND' ? [443, 22][i % 2] : 40_000 + i, remoteAddress: remote,
      remotePort: dir === 'INBOUND' ? 50_000 + i : [80, 5432][i % 2], direction: dir,
      confidence: [0.2, 0.5, 0.9, 1][i % 4], certain: i % 2 === 0, rule: i % 5 === 0 ? null : 'listener',
      openedAt: pre ? null : opened, firstSeenAt: pre ? opened - 500 : opened, preExisting: pre,
      closedAt: i % 7 === 3 ? null : opened + 500 + (i % 11) * 1000,
      pid: i % 6 === 0 ? null : 100 + (i % 4), command: i % 6 === 0 ? null : ['nginx', 'curl', 'psql', '101'][i % 4],
      netns: i % 9 === 0 ? null : i % 2 ? 'net:[1]' : 'net:[2]',
      bytesSent: i % 3 === 0 ? null : i * 10, bytesReceived: i % 3 === 0 ? null : i * 20, retransmits: i % 3 === 0 ? null : i % 4,
      observedBy: pre ? 'SNAPSHOT' : 'KERNEL',
    }));
  }
  return out;
}

const FILTERS: HistoryFilter[] = [
  {}, { since: T + 20_000 }, { until: T + 20_000 }, { since: T + 10_000, until: T + 12_000 }, { since: T + 11_000, until: T + 11_000 },
  { direction: 'INBOUND' }, { direction: 'OUTBOUND' }, { direction: 'UNKNOWN' },
  { port: 443 }, { port: 80 }, { port: 50_004 }, { localPort: 22 }, { localPort: 40_001 }, { remotePort: 5432 }, { remotePort: 443 },
  { remoteAddress: '10.1.2.3' }, { remoteAddress: '10.1.0.0/16' }, { remoteAddress: '10.0.0.0/8' }, { remoteAddress: 'fd00::/64' },
  { remoteAddress: '::ffff:10.9.8.7' }, { remoteAddress: '0.0.0.0/0' }, { remoteAddress: '8.8.8.8' },
  { process: 'curl' }, { process: 101 }, { process: '102' }, { process: 'absent' },
  { netns: 'net:[1]' }, { netns: 'net:[9]' }, { minConfidence: 0.5 }, { minConfidence: 1 },
  { open: true }, { open: false }, { port: 443, open: false, direction: 'INBOUND', minConfidence: 0.5, netns: 'net:[1]' },
  { remoteAddress: '10.0.0.0/8', process: 'nginx', since: T + 5000 },
];

describe('history blocks', () => {
  const lives = varied(400);
  // Reference: rows only. Mixed: lives written open are rows (closed in a later flush), closed
  // ones go into blocks, flushed in several transactions so that there are many blocks.
  const ref = open({ minBlockLives: Number.POSITIVE_INFINITY });
  ref.write(lives);
  ref.flush();
  const mixed = open({ minBlockLives: 1, maxBatch: 60 });
  const openFirst = new Set(lives.filter((l, i) => l.closedAt === null || i % 10 === 1));
  mixed.write([...openFirst].map((l) => ({ ...l, closedAt: null })));
  mixed.flush();
  mixed.write(lives.filter((l) => l.closedAt !== null || !openFirst.has(l)));
  mixed.flush();
  after(() => { ref.close(); mixed.close(); });

  test('the mixed store holds both rows and blocks', () => {
    assert.equal(blockCount(ref), 0);
    assert.ok(blockCount(mixed) >= 5, `${blockCount(mixed)} blocks`);
    assert.ok(rowCount(mixed) > 40 && rowCount(mixed) < 200, `${rowCount(mixed)} rows`);
    assert.equal(mixed.status().records, lives.length);
  });

  test('every filter: the same lives with the same values, newest first', () => {
    for (const f of FILTERS) {
      const want = all(ref, f), got = all(mixed, f, 1000);
      const strip = (l: StoredLife) => ({ ...l, id: undefined });
      assert.deepEqual(got.map(strip).sort((a, b) => a.key.localeCompare(b.key)), want.map(strip).sort((a, b) => a.key.localeCompare(b.key)), JSON.stringify(f));
      for (let i = 1; i < got.length; i++) assert.ok(started(got[i - 1]) >= started(got[i]), `${JSON.stringify(f)}: newest first`);
    }
    assert.ok(all(mixed, { remoteAddress: '8.8.8.8' }).length === 0 && all(mixed, {}).length === lives.length);
  });

  test('open=true never returns a block life; block lives have ids of their own', () => {
    const open = all(mixed, { open: true });
    assert.deepEqual(open.map((l) => l.key).sort(), lives.filter((l) => l.closedAt === null).map((l) => l.key).sort());
    assert.ok(open.every((l) => /^\d+$/.test(l.id)), 'open lives are rows');
    const ids = all(mixed, {}).map((l) => l.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique across rows and blocks');
    assert.ok(ids.some((id) => id.startsWith('b')) && ids.some((id) => /^\d+$/.test(id)));
  });

  test('paging: every life on exactly one page, in the one-query order, across rows and blocks with ties', () => {
    for (const f of [{}, { port: 443 }, { remoteAddress: '10.0.0.0/8' }, { since: T + 10_000 }] as HistoryFilter[]) {
      const whole = mixed.query(f, { limit: 10_000 }).lives.map((l) => l.id);
      for (const limit of [1, 3, 7, 50]) {
        assert.deepEqual(all(mixed, f, limit).map((l) => l.id), whole, `${JSON.stringify(f)} by ${limit}`);
      }
    }
  });

  test('paging while blocks and rows are written between pages at the same instants', () => {
    const s = open({ minBlockLives: 1 });
    const at = (i: number) => T + Math.floor(i / 5) * 1000;
    s.write(Array.from({ length: 300 }, (_, i) => life({ key: `p${i}`, openedAt: at(i), closedAt: i % 4 === 0 ? null : at(i) + 10 })));
    s.flush();
    const seen: string[] = [];
    let after: string | null = null, extra = 0;
    do {
      const page: ReturnType<HistoryStore['query']> = s.query({}, { limit: 13, after });
      seen.push(...page.lives.map((l) => l.key));
      after = page.next;
      // A new block and a new row at an instant the pages are passing, one newer, one older.
      const mid = T + 30_000;
      s.write([mid, mid + 1e6, T - 1e6].flatMap((t) => [
        life({ key: `x${extra++}`, openedAt: t, closedAt: t + 5 }), life({ key: `x${extra++}`, openedAt: t }),
      ]));
      s.flush();
    } while (after);
    assert.equal(new Set(seen).size, seen.length, 'no life twice');
    for (let i = 0; i < 300; i++) assert.ok(seen.includes(`p${i}`), `p${i} seen`);
    assert.ok(blockCount(s) > 10);
    s.close();
  });

  test('a restart reads blocks back', () => {
    const path = dbPath();
    let s = HistoryStore.open({ path, minBlockLives: 1 });
    s.write(lives.filter((l) => l.closedAt !== null));
    s.close();
    s = HistoryStore.open({ path });
    assert.ok(blockCount(s) > 0);
    const want = all(ref, { open: false }).map((l) => ({ ...l, id: undefined })).sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(all(s, {}).map((l) => ({ ...l, id: undefined })).sort((a, b) => a.key.localeCompare(b.key)), want);
    assert.equal(s.status().records, want.length);
    assert.deepEqual(s.integrityCheck(), ['ok']);
    s.close();
  });

  test('a transaction with fewer closed lives than minBlockLives writes rows; a malformed life in a block batch is rejected alone', () => {
    const s = open({ minBlockLives: 10 });
    s.write(Array.from({ length: 9 }, (_, i) => life({ key: `r${i}`, closedAt: 2_000_000 })));
    s.flush();
    assert.equal(blockCount(s), 0);
    assert.equal(rowCount(s), 9);
    s.write([...Array.from({ length: 20 }, (_, i) => life({ key: `b${i}`, closedAt: 2_000_000 })),
      { ...life({ key: 'bad', closedAt: 2_000_000 }), direction: undefined } as unknown as ConnectionLife]);
    assert.equal(s.flush(), false);
    assert.equal(s.status().rejectedWrites, 1);
    assert.equal(all(s, {}).length, 29);
    s.close();
  });

  test('flows count block lives once, as rows', () => {
    assert.deepEqual(mixed.flows({}, ['direction', 'localPort']), ref.flows({}, ['direction', 'localPort']));
    assert.deepEqual(mixed.flows({}, []), ref.flows({}, []));
  });

  test('retention by age drops a block once its last close is old; open rows stay', () => {
    let now = 100 * 3_600_000;
    const s = open({ retentionMs: 3_600_000, minBlockLives: 1, now: () => now });
    const old = now - 3 * 3_600_000;
    s.write([life({ key: 'a', openedAt: old, closedAt: old + 1000 }), life({ key: 'b', openedAt: old + 2000, closedAt: old + 3000 })]);
    s.flush();
    // One life of this block closes recently: the block stays whole.
    s.write([life({ key: 'c', openedAt: old, closedAt: old + 1000 }), life({ key: 'd', openedAt: old, closedAt: now - 1000 })]);
    s.flush();
    s.write([life({ key: 'open', openedAt: old })]);
    s.flush();
    assert.equal(blockCount(s), 2);
    const r = s.prune(now);
    assert.equal(r.lives, 2);
    assert.equal(blockCount(s), 1);
    assert.deepEqual(all(s, {}).map((l) => l.key).sort(), ['c', 'd', 'open']);
    assert.equal(s.status().records, 3);
    now += 3_600_000;
    assert.equal(s.prune(now).lives, 2);
    assert.deepEqual(all(s, {}).map((l) => l.key), ['open']);
    assert.equal(s.status().records, 1);
    s.close();
  });

  test('retention by size drops the oldest first, blocks and rows in turn', () => {
    const maxBytes = 1024 * 1024;
    const s = open({ maxBytes, minBlockLives: 100 });
    const N = 40_000;
    for (let i = 0; i < N; i += 1000) {
      // Each flush: 1000 lives, of which a tenth written open (rows) and closed in the next flush.
      const batch = Array.from({ length: 1000 }, (_, j) => life({
        key: `k${i + j}`, localPort: (i + j) % 300, remoteAddress: `10.2.0.${(i + j) % 50}`, command: 'some-service',
        openedAt: 1_000_000 + i + j, closedAt: (i + j) % 10 === 0 ? null : 2_000_000 + i + j,
      }));
      s.write(batch);
      s.flush();
      s.write(batch.filter((l) => l.closedAt === null).map((l) => ({ ...l, closedAt: 2_000_000 })));
      s.flush();
    }
    assert.ok(blockCount(s) >= 40 && rowCount(s) >= N / 10);
    const before = s.status().bytes;
    assert.ok(before > maxBytes, `wrote ${before} bytes`);
    const r = s.prune(3_000_000);
    const st = s.status();
    assert.ok(st.bytes <= maxBytes, `${st.bytes} <= ${maxBytes}`);
    assert.equal(st.records, N - r.bySize);
    assert.ok(st.records > N / 10, `kept ${st.records}`);
    // What is left is the newest lives: every key from some k on, but for the rows that started
    // within the span of the oldest block kept (a block goes whole).
    const kept = new Set(all(s, {}, 10_000).map((l) => Number(l.key.slice(1))));
    assert.equal(kept.size, st.records);
    const from = Math.min(...kept);
    for (let k = from + 1000; k < N; k++) assert.ok(kept.has(k), `k${k} kept (the oldest kept is k${from})`);
    assert.ok(kept.size <= N - from, 'nothing older than the oldest kept');
    s.close();
  });

  test('`tcpdir history` reads rows and blocks from the file, without a server', () => {
    const dir = join(DIR, `cli${seq++}`);
    const now = Date.now();
    const s = HistoryStore.open({ path: join(dir, 'history.sqlite'), minBlockLives: 2 });
    s.write([life({ key: 'row-open', localPort: 8181, openedAt: now - 5000 })]);
    s.flush();
    s.write(Array.from({ length: 3 }, (_, i) => life({ key: `blk${i}`, localPort: 8181, remotePort: 50_000 + i, openedAt: now - 1000 * i, closedAt: now - 1000 * i + 5 })));
    s.write([life({ key: 'other-port', localPort: 9191, openedAt: now, closedAt: now + 1 })]);
    s.close();
    const r = spawnSync(process.execPath, ['bin/tcpdir.js', 'history', '--data-dir', dir, '--port', '8181', '--json'], { cwd: join(__dirname, '..', '..', '..'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; local: { port: number }; closedAt: string | null });
    assert.equal(recs.length, 4, r.stdout);
    assert.ok(recs.every((x) => x.local.port === 8181));
    assert.equal(recs.filter((x) => x.id.startsWith('b')).length, 3, 'the block lives');
    assert.equal(recs.at(-1)!.closedAt, null, 'the open row, oldest');
  });

  test('a schema 2 file is upgraded in place: its rows stay rows and new closed lives go into blocks', () => {
    const path = dbPath();
    oldHistoryFile(path, 2);
    const s = HistoryStore.open({ path, minBlockLives: 1 });
    assert.equal(s.status().records, 2);
    s.write([life({ key: 'new', openedAt: 1_001_500, closedAt: 1_003_000 })]);
    s.flush();
    assert.equal(blockCount(s), 1);
    assert.deepEqual(s.query({ port: 443 }).lives.map((l) => [l.id, l.key, l.closedAt]),
      [['9', 'open', null], ['b1.0', 'new', 1_003_000], ['7', 'closed', 1_001_000]]);
    assert.equal(s.status().records, 3);
    s.close();
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(SCHEMA_VERSION, 3);
    check.close();
  });
});

test('a block gives back every key exactly: the recorder\'s k:<cookie>:<openedAt> rebuilt from its cookie, any other as text', async () => {
  const { encodeBlock, DecodedBlock } = await import('../../src/history/blocks');
  const fc = (await import('fast-check')).default;
  const digits = fc.stringMatching(/^[0-9]{1,20}$/);
  const keyOf = fc.oneof(
    fc.tuple(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.boolean()).map(([c, same]) => ({ cookie: String(c), same })),
    fc.tuple(digits, fc.boolean()).map(([c, same]) => ({ cookie: c, same })), // leading zeros, past 2^53
    fc.string().map((s) => ({ cookie: s, same: true })),
  );
  fc.assert(fc.property(fc.array(fc.tuple(keyOf, fc.nat({ max: 2 ** 45 }), fc.constantFrom('k:', 's:', 'k', '')), { minLength: 1, maxLength: 20 }), (specs) => {
    const lives = specs.map(([k, opened, prefix]) => life({
      key: `${prefix}${k.cookie}:${k.same ? opened : opened + 1}`, openedAt: opened, firstSeenAt: opened, closedAt: opened + 1,
    }));
    const b = encodeBlock(lives, (a) => addressKey(a)!);
    const d = new DecodedBlock(1, b.data);
    assert.deepEqual(lives.map((_, i) => d.key(i)), lives.map((l) => l.key));
  }), { numRuns: 300 });
});
