// bench: the history store with 1,000,000 lives (a day of a busy host: 300 service ports,
// 5,000 peers, 80% inbound, a tenth IPv6, a tenth of lives written open first and closed later).
// Prints the insert rate, the database size per million lives and query latencies (median and
// worst of 25 runs). Lives go through the store's writer in flushes of 2,000, as `tcpdir serve`
// writes them: those written closed land in columnar blocks, the tenth written open in rows.
//   node dist/bench/history-store.js [count] [dir]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryStore, type ConnectionLife } from '../src/history';

const COUNT = Number(process.argv[2] ?? 1_000_000);
const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'tcpdir-bench-history-'));
const path = join(dir, 'history.sqlite');
const DAY = 86_400_000;
const end = Date.now();
const start = end - DAY;

// Deterministic pseudo-random numbers, so runs compare.
let seed = 42;
function rnd(n: number): number { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
}

const ports = Array.from({ length: 300 }, (_, i) => (i < 20 ? [22, 80, 443, 5432, 6379, 8080, 9090, 3306, 53, 25][i % 10] + Math.floor(i / 10) : 1024 + i * 37));
const peers = Array.from({ length: 5000 }, (_, i) => (i % 10 === 9 ? `fd00::${((i * 7919) & 0xffff).toString(16)}` : i % 3 === 0 ? `10.1.${i >> 8 & 255}.${i & 255}` : `10.${2 + (i % 200)}.${i >> 8 & 255}.${i & 255}`));
const commands = ['nginx', 'postgres', 'redis-server', 'sshd', 'curl', 'java', 'node', 'python3'];

function make(i: number, closed: boolean): ConnectionLife {
  const opened = start + Math.floor((i / COUNT) * DAY);
  const inbound = rnd(10) < 8;
  const remoteAddress = peers[rnd(peers.length)];
  const port = ports[Math.min(ports.length - 1, Math.floor(-Math.log(1 - rnd(1000) / 1000) * 40))]; // a few ports are busy
  const cmd = commands[rnd(commands.length)];
  const v6 = remoteAddress.includes(':');
  return {
    key: `net:[4026531840]/${i}/${opened}`, netns: 'net:[4026531840]', family: v6 ? 'IPV6' : 'IPV4',
    localAddress: v6 ? 'fd00::2' : '10.0.0.2', localPort: inbound ? port : 32768 + rnd(28000),
    remoteAddress, remotePort: inbound ? 32768 + rnd(28000) : port,
    direction: inbound ? 'INBOUND' : rnd(20) === 0 ? 'UNKNOWN' : 'OUTBOUND', confidence: 0.5 + rnd(50) / 100,
    certain: rnd(2) === 0, rule: inbound ? 'listener' : 'connect', openedAt: opened,
    closedAt: closed ? opened + 50 + rnd(60_000) : null, firstSeenAt: opened, preExisting: false,
    pid: 1000 + rnd(200), command: cmd, bytesSent: closed ? rnd(1e6) : null, bytesReceived: closed ? rnd(1e6) : null,
    retransmits: closed ? rnd(3) : null, observedBy: 'KERNEL',
  };
}

function time<T>(f: () => T): [T, number] {
  const t = process.hrtime.bigint();
  const r = f();
  return [r, Number(process.hrtime.bigint() - t) / 1e6];
}

function latency(name: string, f: () => unknown): void {
  const runs: number[] = [];
  let size = 0;
  for (let i = 0; i < 25; i++) {
    const [r, ms] = time(f);
    runs.push(ms);
    size = Array.isArray(r) ? r.length : (r as { lives: unknown[] }).lives.length;
  }
  const first = runs[0];
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(62)} median ${runs[12].toFixed(2)} ms, worst ${runs[24].toFixed(2)} ms, first ${first.toFixed(2)} ms (${size} rows)`);
}

const store = HistoryStore.open({ path, maxBytes: 8 * 1024 ** 3, now: () => end, flushMs: 1e9 });
const BATCH = 2000;
const [, insertMs] = time(() => {
  for (let i = 0; i < COUNT; i += BATCH) {
    const lives: ConnectionLife[] = [];
    for (let j = i; j < Math.min(COUNT, i + BATCH); j++) {
      const openFirst = j % 10 === 0;
      lives.push(make(j, !openFirst));
    }
    store.write(lives);
    store.flush();
  }
});
// The tenth written open: now their closes, as upserts of the same keys.
seed = 42;
const closes: ConnectionLife[] = [];
for (let j = 0; j < COUNT; j++) { const l = make(j, true); if (j % 10 === 0) closes.push(l); }
const [, closeMs] = time(() => {
  for (let i = 0; i < closes.length; i += BATCH) { store.write(closes.slice(i, i + BATCH)); store.flush(); }
});
const status = store.status();
console.log(`inserted ${COUNT} lives in ${(insertMs / 1000).toFixed(1)} s: ${Math.round(COUNT / (insertMs / 1000))} lives/s`);
console.log(`closed ${closes.length} of them by upsert in ${(closeMs / 1000).toFixed(1)} s: ${Math.round(closes.length / (closeMs / 1000))} upserts/s`);
console.log(`stored ${status.records} lives; ${(status.bytes / 1024 ** 2).toFixed(1)} MiB in use = ${(status.bytes / 1024 ** 2 / (COUNT / 1e6)).toFixed(1)} MiB per million`);
const count = (sql: string) => (store as unknown as { db: { prepare(s: string): { pluck(): { get(): number } } } }).db.prepare(sql).pluck().get();
console.log(`${count('SELECT count(*) FROM lives')} lives in rows, ${count('SELECT coalesce(sum(count), 0) FROM life_blocks')} in ${count('SELECT count(*) FROM life_blocks')} blocks`);
console.log(`flows: ${count('SELECT count(*) FROM flows')} per-minute rows`);

latency('query({ localPort: 443 }, { limit: 100 })  (busy port)', () => store.query({ localPort: 443 }, { limit: 100 }));
latency(`query({ localPort: ${ports[60]} }, { limit: 100 })  (quiet port)`, () => store.query({ localPort: ports[60] }, { limit: 100 }));
latency('query({ port: 443 }, { limit: 100 })', () => store.query({ port: 443 }, { limit: 100 }));
latency("query({ remoteAddress: '10.1.0.0/16' })  (limit 100)", () => store.query({ remoteAddress: '10.1.0.0/16' }));
latency("query({ remoteAddress: 'fd00::/64' })", () => store.query({ remoteAddress: 'fd00::/64' }));
latency('query({ localPort: 443, since/until last hour })', () => store.query({ localPort: 443, since: end - 3_600_000, until: end }));
latency('query({}) then 10 more pages by cursor', () => {
  let p = store.query({}, { limit: 100 });
  for (let i = 0; i < 10 && p.next; i++) p = store.query({}, { limit: 100, after: p.next });
  return p;
});
latency("query({ process: 'redis-server', direction: 'OUTBOUND' })", () => store.query({ process: 'redis-server', direction: 'OUTBOUND' }));
latency("query({ remoteAddress: '192.0.2.1' })  (no such peer: every block)", () => store.query({ remoteAddress: '192.0.2.1' }));
latency("query({ process: 'absent' })  (no such process: every block)", () => store.query({ process: 'absent' }));
latency('query({ localPort: 65000 })  (no such port: every block)', () => store.query({ localPort: 65_000 }));
latency('flows(last hour, groupBy localPort)', () => store.flows({ since: end - 3_600_000, until: end }, ['localPort'], 100));
latency('flows(last day, groupBy direction, localPort, remotePort)', () => store.flows({ since: start, until: end }, ['direction', 'localPort', 'remotePort'], 100));
const [, pruneMs] = time(() => store.prune(end));
console.log(`prune (nothing due) ${pruneMs.toFixed(1)} ms`);
if (process.env.BENCH_DBSTAT) {
  const db = (store as unknown as { db: { prepare(s: string): { all(): unknown[] } } }).db;
  console.table(db.prepare("SELECT name, sum(pgsize) / 1048576.0 AS mib FROM dbstat GROUP BY name ORDER BY 2 DESC").all());
}
store.close();
console.log(`file after close: ${(statSync(path).size / 1024 ** 2).toFixed(1)} MiB`);
if (!process.argv[3]) rmSync(dir, { recursive: true, force: true });
