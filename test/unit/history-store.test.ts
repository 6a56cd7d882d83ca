import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { HistoryStore, HistoryStoreError, HistoryFilterError, type ConnectionLife, type HistoryFilter } from '../../src/history';
import { SCHEMA_VERSION } from '../../src/history/schema';
import { life, oldHistoryFile } from '../helpers/history-lives';

// Real SQLite files in a temp dir: the store is a file format and a set of pragmas as much as code.
const DIR = mkdtempSync(join(tmpdir(), 'tcpdir-history-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
let seq = 0;
function dbPath(): string { return join(DIR, `t${seq++}`, 'history.sqlite'); }
function open(extra: Partial<Parameters<typeof HistoryStore.open>[0]> = {}): HistoryStore {
  return HistoryStore.open({ path: dbPath(), ...extra });
}
function keys(store: HistoryStore, f: HistoryFilter): string[] {
  return store.query(f, { limit: 1000 }).lives.map((l) => l.key).sort();
}

describe('history store', () => {
  test('upsert: open then close updates one row; later nulls keep earlier values', () => {
    const s = open();
    s.write([life({ key: 'a', pid: 7, command: 'curl' })]);
    assert.equal(s.query().lives.length, 0, 'write() only queues');
    s.flush();
    s.write([life({ key: 'a', closedAt: 1_060_000, bytesSent: 5, bytesReceived: 9, retransmits: 1, pid: null, command: null, direction: 'OUTBOUND', confidence: 1, rule: 'birth' })]);
    s.flush();
    const { lives, next } = s.query();
    assert.equal(lives.length, 1);
    assert.equal(next, null);
    const l = lives[0];
    assert.deepEqual({ ...l, id: undefined }, { ...life({ key: 'a' }), id: undefined,
      closedAt: 1_060_000, bytesSent: 5, bytesReceived: 9, retransmits: 1, pid: 7, command: 'curl', direction: 'OUTBOUND', confidence: 1, rule: 'birth' });
    assert.equal(s.status().records, 1);
    s.close();
  });

  test('each filter', () => {
    const s = open();
    const t = 10_000_000;
    s.write([
      life({ key: 'in443', localPort: 443, remoteAddress: '10.1.2.3', openedAt: t, closedAt: t + 1000 }),
      life({ key: 'out80', direction: 'OUTBOUND', localPort: 40000, remotePort: 80, remoteAddress: '192.168.1.5', command: 'curl', pid: 42, openedAt: t + 2000, confidence: 0.5 }),
      life({ key: 'v6', family: 'IPV6', localAddress: 'fd00::2', remoteAddress: 'fd00::1:5', remotePort: 5555, openedAt: t + 3000, closedAt: t + 9000, netns: 'net:[9]' }),
      life({ key: 'mapped', family: 'IPV6', localAddress: '::ffff:10.0.0.2', remoteAddress: '::ffff:10.9.8.7', openedAt: t + 4000, direction: 'UNKNOWN', confidence: 0.2 }),
      life({ key: 'pre', openedAt: null, firstSeenAt: t - 50_000, preExisting: true, observedBy: 'SNAPSHOT', localPort: 22, remoteAddress: '172.16.0.1' }),
    ]);
    s.flush();
    assert.deepEqual(keys(s, { localPort: 443 }), ['in443', 'mapped', 'v6']);
    assert.deepEqual(keys(s, { port: 80 }), ['out80']);
    assert.deepEqual(keys(s, { port: 443 }), ['in443', 'mapped', 'v6']);
    assert.deepEqual(keys(s, { port: 443, open: true }), ['mapped']);
    assert.deepEqual(keys(s, { remotePort: 5555 }), ['v6']);
    assert.deepEqual(keys(s, { direction: 'OUTBOUND' }), ['out80']);
    assert.deepEqual(keys(s, { remoteAddress: '10.1.2.3' }), ['in443']);
    assert.deepEqual(keys(s, { remoteAddress: '10.0.0.0/8' }), ['in443', 'mapped'], 'an IPv4 CIDR matches IPv4-mapped peers');
    assert.deepEqual(keys(s, { remoteAddress: '10.9.8.7' }), ['mapped']);
    assert.deepEqual(keys(s, { remoteAddress: '::ffff:10.1.0.0/112' }), ['in443']);
    assert.deepEqual(keys(s, { remoteAddress: 'fd00::/64' }), ['v6']);
    assert.deepEqual(keys(s, { remoteAddress: '0.0.0.0/0' }).length, 4);
    assert.deepEqual(keys(s, { process: 'curl' }), ['out80']);
    assert.deepEqual(keys(s, { process: 42 }), ['out80']);
    assert.deepEqual(keys(s, { process: '42' }), ['out80']);
    assert.deepEqual(keys(s, { netns: 'net:[9]' }), ['v6']);
    assert.deepEqual(keys(s, { minConfidence: 0.6 }), ['in443', 'pre', 'v6']);
    assert.deepEqual(keys(s, { open: true }), ['mapped', 'out80', 'pre']);
    assert.deepEqual(keys(s, { open: false }), ['in443', 'v6']);
    // Overlap with [since, until]: in443 closed at t+1000, pre is open since t-50000.
    assert.deepEqual(keys(s, { since: t + 1500, until: t + 3500 }), ['out80', 'pre', 'v6']);
    assert.deepEqual(keys(s, { until: t - 1 }), ['pre']);
    assert.deepEqual(keys(s, { since: t + 1000, until: t + 1000 }), ['in443', 'pre']);
    // Newest first by coalesce(openedAt, firstSeenAt).
    assert.deepEqual(s.query().lives.map((l) => l.key), ['mapped', 'v6', 'out80', 'in443', 'pre']);
    s.close();
  });

  test('bad arguments are HistoryFilterError naming the parameter', () => {
    const s = open();
    const bad: [HistoryFilter, string][] = [
      [{ remoteAddress: '10.0.0.0/33' }, 'remoteAddress'], [{ remoteAddress: 'example.com' }, 'remoteAddress'],
      [{ remoteAddress: 'fd00::/129' }, 'remoteAddress'], [{ remoteAddress: '10.0.0.0/' }, 'remoteAddress'],
      [{ port: 70000 }, 'port'], [{ localPort: -1 }, 'localPort'], [{ remotePort: 1.5 }, 'remotePort'],
      [{ direction: 'SIDEWAYS' as never }, 'direction'], [{ minConfidence: 2 }, 'minConfidence'],
      [{ since: Number.NaN }, 'since'], [{ open: 'yes' as never }, 'open'], [{ process: '' }, 'process'],
    ];
    for (const [f, param] of bad) {
      assert.throws(() => s.query(f), (e: unknown) => e instanceof HistoryFilterError && e.param === param, JSON.stringify(f));
    }
    assert.throws(() => s.query({}, { after: 'garbage!' }), (e: unknown) => e instanceof HistoryFilterError && e.param === 'after');
    assert.throws(() => s.query({}, { limit: 0 }), (e: unknown) => e instanceof HistoryFilterError && e.param === 'limit');
    assert.throws(() => s.flows({}, ['bogus']), (e: unknown) => e instanceof HistoryFilterError && e.param === 'groupBy');
    s.close();
  });

  test('paging returns every row exactly once while rows are inserted between pages', () => {
    const s = open();
    const batch = (from: number, n: number, at: (i: number) => number): ConnectionLife[] =>
      Array.from({ length: n }, (_, i) => life({ key: `k${from + i}`, openedAt: at(from + i) }));
    // Many share one openedAt, so the id tie-breaker matters.
    s.write(batch(0, 500, (i) => 1_000_000 + Math.floor(i / 7)));
    s.flush();
    // Once plain, once through the port filter's two merged scans (the rows' remotePort is 50000).
    for (const filter of [{}, { port: 50000 }]) {
    const seen: string[] = [];
    let after: string | null = null;
    let extra = 500;
    do {
      const page: ReturnType<HistoryStore['query']> = s.query(filter, { limit: 37, after });
      seen.push(...page.lives.map((l) => l.key));
      after = page.next;
      // Newer rows (not on later pages), rows at the same instant (also newer ids) and older rows
      // (which do come later, exactly once).
      s.write(batch(extra, 3, (i) => (i % 3 === 0 ? 9_000_000 : i % 3 === 1 ? 1_000_000 : 500)));
      extra += 3;
      s.flush();
    } while (after);
    const original = Array.from({ length: 500 }, (_, i) => `k${i}`);
    assert.equal(new Set(seen).size, seen.length, 'no row twice');
    for (const k of original) assert.ok(seen.includes(k), `${k} seen`);
    }
    s.close();
  });

  test('flows: counts, bytes and durations once per life; groupBy', () => {
    const s = open();
    const m = 60_000 * 1000; // a minute boundary
    s.write([
      life({ key: 'a', localPort: 443, openedAt: m + 1000 }),
      life({ key: 'b', localPort: 443, openedAt: m + 2000, remoteAddress: '10.1.2.4' }),
      life({ key: 'c', direction: 'OUTBOUND', localPort: 40001, remotePort: 5432, command: 'psql', openedAt: m + 3000 }),
    ]);
    s.flush();
    // Close a twice (the second write must not count again) and c; b stays open.
    s.write([life({ key: 'a', localPort: 443, openedAt: m + 1000, closedAt: m + 61_000, bytesSent: 100, bytesReceived: 1000 })]);
    s.flush();
    s.write([
      life({ key: 'a', localPort: 443, openedAt: m + 1000, closedAt: m + 61_000, bytesSent: 100, bytesReceived: 1000 }),
      life({ key: 'c', direction: 'OUTBOUND', localPort: 40001, remotePort: 5432, command: 'psql', openedAt: m + 3000, closedAt: m + 4000, bytesSent: 7, bytesReceived: 8 }),
    ]);
    s.flush();
    assert.deepEqual(s.flows({}, []), [{ opened: 3, closed: 2, durationMsTotal: 61_000, bytesSent: 107, bytesReceived: 1008 }]);
    assert.deepEqual(s.flows({}, ['direction', 'localPort', 'remotePort', 'process']), [
      { direction: 'INBOUND', localPort: 443, remotePort: null, process: null, opened: 2, closed: 1, durationMsTotal: 60_000, bytesSent: 100, bytesReceived: 1000 },
      { direction: 'OUTBOUND', localPort: null, remotePort: 5432, process: 'psql', opened: 1, closed: 1, durationMsTotal: 1000, bytesSent: 7, bytesReceived: 8 },
    ]);
    const byMinute = s.flows({ direction: 'INBOUND' }, ['minute']);
    assert.deepEqual(byMinute.map((r) => [r.minute, r.opened, r.closed]), [[m, 2, 0], [m + 60_000, 0, 1]]);
    assert.deepEqual(s.flows({ port: 5432 }, ['remoteAddress']).map((r) => [r.remoteAddress, r.opened]), [['10.1.2.3', 1]]);
    assert.deepEqual(s.flows({ since: m + 60_000 }, []).map((r) => [r.opened, r.closed]), [[0, 1]]);
    assert.deepEqual(s.flows({ netns: 'other' }, []), []);
    s.close();
  });

  test('gap markers', () => {
    const s = open();
    s.markGap({ at: 5000, lost: 12, reason: 'ring buffer full' });
    s.markGap({ at: 9000, reason: 'restart' });
    s.flush();
    assert.deepEqual(s.gaps(4000, 6000), [{ at: 5000, lost: 12, reason: 'ring buffer full' }]);
    assert.equal(s.gaps().length, 2);
    assert.equal(s.status().gaps, 2);
    s.close();
  });

  test('retention by age: old closed lives, gaps and flows go; open ones stay', () => {
    let now = 100 * 3_600_000;
    const s = open({ retentionMs: 3_600_000, flowRetentionMs: 2 * 3_600_000, now: () => now });
    s.write([
      life({ key: 'old-closed', openedAt: now - 3 * 3_600_000, closedAt: now - 2 * 3_600_000 }),
      life({ key: 'old-open', openedAt: now - 3 * 3_600_000 }),
      life({ key: 'recent', openedAt: now - 60_000, closedAt: now - 1000 }),
    ]);
    s.markGap({ at: now - 2 * 3_600_000, lost: 1, reason: 'x' });
    s.flush();
    const r = s.prune(now);
    assert.equal(r.lives, 1);
    assert.equal(r.gaps, 1);
    assert.deepEqual(keys(s, {}), ['old-open', 'recent']);
    assert.equal(s.status().records, 2);
    // Flows of 3 h ago (the opens) are past flowRetentionMs; the close 2 h ago is not yet.
    assert.deepEqual(s.flows({}, []).map((r) => [r.opened, r.closed]), [[1, 2]]);
    now += 3_600_000;
    s.prune(now);
    assert.deepEqual(s.flows({}, []).map((r) => [r.opened, r.closed]), [[1, 1]]);
    s.close();
  });

  test('retention by size: back under the bound, newest kept, file shrinks', () => {
    const maxBytes = 2 * 1024 * 1024;
    const s = open({ maxBytes });
    const N = 30_000;
    for (let i = 0; i < N; i += 1000) {
      s.write(Array.from({ length: 1000 }, (_, j) => life({
        // 50 peers: flows stay small, as on a real host, and lives are the bulk.
        key: `k${i + j}`, localPort: (i + j) % 300, remoteAddress: `10.2.0.${(i + j) % 50}`,
        openedAt: 1_000_000 + i + j, closedAt: 2_000_000 + i + j, command: 'some-service', rule: 'listener-port',
      })));
      s.flush();
    }
    const before = s.status().bytes;
    assert.ok(before > maxBytes, `wrote ${before} bytes, more than ${maxBytes}`);
    const r = s.prune(2_000_000 + N);
    const after = s.status();
    assert.ok(after.bytes <= maxBytes, `${after.bytes} <= ${maxBytes}`);
    assert.ok(r.bySize > 0 && after.records === N - r.bySize);
    // Not far fewer than fit: chunks are sized to the excess.
    assert.ok(after.bytes > maxBytes * 0.6 && after.records > N / 8, `kept ${after.records} of ${N} in ${after.bytes} bytes (was ${before})`);
    assert.equal(s.query({}, { limit: 1 }).lives[0].key, `k${N - 1}`, 'the newest remain');
    let oldest = s.query({}, { limit: 10_000 });
    while (oldest.next) oldest = s.query({}, { limit: 10_000, after: oldest.next });
    assert.equal(oldest.lives.at(-1)!.key, `k${r.bySize}`, 'the oldest went first');
    s.close();
    assert.ok(statSync(s.path).size < before, 'incremental vacuum gave pages back');
  });

  test('records survive a restart', () => {
    const path = dbPath();
    let s = HistoryStore.open({ path });
    s.write([life({ key: 'a' }), life({ key: 'b', openedAt: 2_000_000 })]);
    s.markGap({ at: 1, reason: 'r' });
    s.close();
    s = HistoryStore.open({ path });
    assert.deepEqual(s.query().lives.map((l) => l.key), ['b', 'a']);
    assert.equal(s.status().records, 2);
    assert.equal(s.status().gaps, 1);
    assert.deepEqual(s.flows({}, []).map((r) => r.opened), [2]);
    s.close();
  });

  test('a malformed record is rejected alone; the rest of its batch is written', () => {
    const s = open();
    s.write([life({ key: 'good1' }), { ...life({ key: 'bad' }), direction: undefined } as unknown as ConnectionLife, life({ key: 'good2' })]);
    assert.equal(s.flush(), false);
    assert.deepEqual(keys(s, {}), ['good1', 'good2']);
    assert.equal(s.status().rejectedWrites, 1);
    assert.equal(s.status().queued, 0);
    s.close();
  });

  test(':memory: works', () => {
    const s = HistoryStore.open({ path: ':memory:' });
    s.write([life({ key: 'a' })]);
    s.flush();
    assert.equal(s.query().lives.length, 1);
    s.close();
  });

  test('kill -9 during heavy writes leaves a readable database', async () => {
    const path = dbPath();
    const child = spawn(process.execPath, [join(__dirname, '..', 'helpers', 'history-writer-child.js'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.removeAllListeners('exit');
    await new Promise((r) => setTimeout(r, 1000));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const s = HistoryStore.open({ path });
    assert.deepEqual(s.integrityCheck(), ['ok']);
    const n = s.status().records;
    assert.ok(n > 0, `${n} records after the crash`);
    assert.equal(s.query({}, { limit: 5 }).lives.length, 5);
    s.write([life({ key: 'after-crash' })]);
    assert.equal(s.flush(), true);
    s.close();
  });

  test('an unusable path is a HistoryStoreError at open, saying what and where', () => {
    const file = join(DIR, 'a-regular-file');
    writeFileSync(file, 'x');
    assert.throws(() => HistoryStore.open({ path: join(file, 'db.sqlite') }), (e: unknown) =>
      e instanceof HistoryStoreError && e.code === 'ENOTDIR' && e.message.includes(file) && /--data-dir/.test(e.message));
    const notDb = join(DIR, 'not-a-db.sqlite');
    writeFileSync(notDb, 'this is not an SQLite database, and long enough to have a header '.repeat(100));
    assert.throws(() => HistoryStore.open({ path: notDb }), (e: unknown) =>
      e instanceof HistoryStoreError && e.code === 'CORRUPT' && e.message.includes(notDb));
    assert.throws(() => HistoryStore.open({ path: DIR }), (e: unknown) => e instanceof HistoryStoreError && e.code === 'EISDIR');
  });

  test('a version 1 file is upgraded in place: rows, ids and open lives kept, the key index gone', () => {
    const path = dbPath();
    oldHistoryFile(path, 1);
    const s = HistoryStore.open({ path });
    assert.deepEqual(s.query({ port: 443 }).lives.map((l) => [l.id, l.key, l.closedAt]), [['9', 'open', null], ['7', 'closed', 1_001_000]]);
    assert.deepEqual(s.integrityCheck(), ['ok']);
    s.close();
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lives' ORDER BY name").pluck().all() as string[]);
    assert.deepEqual(indexes, ['lives_local_port', 'lives_open', 'lives_remote_key', 'lives_remote_port', 'lives_started']);
    check.close();
  });

  test('a life written open in one flush and closed in a later one stays one row, its flow counted once', () => {
    const s = open();
    s.write([life({ key: 'x', openedAt: 1_000_000 })]);
    s.flush();
    s.write([life({ key: 'x', openedAt: 1_000_000, closedAt: 1_002_000, bytesSent: 3, bytesReceived: 4 })]);
    s.flush();
    // Written closed again (the recorder does not, but a key is an upsert): still one row.
    s.write([life({ key: 'x', openedAt: 1_000_000, closedAt: 1_002_000, bytesSent: 3, bytesReceived: 4 })]);
    s.flush();
    assert.deepEqual(s.query().lives.map((l) => [l.key, l.closedAt]), [['x', 1_002_000]]);
    assert.equal(s.status().records, 1);
    assert.deepEqual(s.flows({}, []).map((r) => [r.opened, r.closed, r.bytesSent]), [[1, 1, 3]]);
    s.close();
  });

  test('a newer schema is refused, not guessed at', () => {
    const path = dbPath();
    HistoryStore.open({ path }).close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => HistoryStore.open({ path }), (e: unknown) => e instanceof HistoryStoreError && e.code === 'NEWER_SCHEMA');
  });

  test('a full disk at run time is counted and reported, not thrown; queries go on; the next flush retries', () => {
    const told: string[] = [];
    const s = open({ maxQueue: 3000, onError: (e) => told.push(e.code) });
    s.write([life({ key: 'first' })]);
    s.flush();
    // A page budget at its current size stands in for a full disk: SQLite reports SQLITE_FULL.
    const db = (s as unknown as { db: Database.Database }).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const big = Array.from({ length: 2500 }, (_, i) => life({ key: `x${i}`, command: 'c'.repeat(200) }));
    s.write(big);
    assert.doesNotThrow(() => s.flush());
    let st = s.status();
    assert.equal(st.lastError?.code, 'ENOSPC');
    assert.match(st.lastError!.message, /full/);
    assert.equal(st.failedFlushes, 1);
    assert.equal(st.queued, 2500);
    assert.equal(s.query().lives.length, 1, 'reads still work');
    s.write(Array.from({ length: 1000 }, (_, i) => life({ key: `y${i}` })));
    st = s.status();
    assert.equal(st.droppedWrites, 500, 'the queue is bounded: the oldest go');
    db.pragma('max_page_count = 1073741823');
    assert.equal(s.flush(), true);
    st = s.status();
    assert.equal(st.lastError, null);
    assert.equal(st.records, 1 + 3000);
    assert.deepEqual(told, ['ENOSPC'], 'the failure is told once, not at every retry');
    s.close();
  });
});
