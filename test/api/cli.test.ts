import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import type { Row } from '../../src/cli/format';
import { HistoryStore } from '../../src/history';
import { life } from '../helpers/history-lives';

// The CLI as users run it: real processes of bin/tcpdir.js against real loopback connections.
const ROOT = join(__dirname, '..', '..', '..');
const ESC = /\x1b\[/;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['bin/tcpdir.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: undefined, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Runs the CLI on a pseudo-terminal (util-linux script): stdout.isTTY is true there. */
function tty(args: string, env: string): string {
  const r = spawnSync('script', ['-qc', `${env} ${process.execPath} bin/tcpdir.js ${args}`, '/dev/null'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: undefined },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/\r/g, '');
}

const json = (args: string[]): Row[] => {
  const r = cli([...args, '--json', '--no-all-namespaces']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Row[];
};

// A listener on 127.0.0.1 with clients from 127.0.0.3, .2 and .2 (out of order on purpose), and
// one more client that closed first, so its side sits in TIME_WAIT.
let server: net.Server;
let port: number;
const sockets: net.Socket[] = [];
before(async () => {
  server = net.createServer((s) => {
    sockets.push(s);
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  for (const localAddress of ['127.0.0.3', '127.0.0.2', '127.0.0.2']) {
    const c = net.connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
    sockets.push(c);
  }
  const closer = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.4' });
  await new Promise<void>((r, j) => closer.once('connect', r).once('error', j));
  closer.end();
  await new Promise((r) => closer.once('close', r));
  while (sockets.length < 7) await new Promise((r) => setTimeout(r, 10));
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

test('--version prints the package version', () => {
  const r = cli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.out.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('list filters narrow: --local-port, --remote-port, --remote, --state (any case), --process, --netns, --limit', () => {
  const local = json(['list', '--local-port', String(port)]);
  assert.equal(local.length, 3, JSON.stringify(local));
  assert.ok(local.every((r) => r.local.port === port && r.local.address === '127.0.0.1'));
  const remote = json(['list', '--remote-port', String(port), '--state', 'Established']);
  assert.deepEqual(remote.map((r) => r.local.address), ['127.0.0.2', '127.0.0.2', '127.0.0.3']);
  const waiting = json(['list', '--remote-port', String(port), '--state', 'time_wait']);
  assert.deepEqual(waiting.map((r) => [r.local.address, r.state]), [['127.0.0.4', 'TIME_WAIT']]);
  const mine = json(['list', '--port', String(port), '--process', String(process.pid)]);
  assert.equal(mine.length, 6, 'both ends of the three open connections are this process');
  assert.ok(mine.every((r) => r.processes?.some((p) => p.pid === process.pid)));
  const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
  assert.ok(json(['list', '--port', String(port), '--process', comm]).length >= 6);
  assert.equal(json(['list', '--port', String(port), '--process', '1']).length, 0);
  assert.ok(mine[0].netns);
  assert.equal(json(['list', '--port', String(port), '--netns', mine[0].netns!]).length, 7);
  assert.equal(json(['list', '--port', String(port), '--limit', '2']).length, 2);
  // A list cut by --limit says so on stderr (stdout stays the rows, or valid JSON); a whole one does not.
  for (const extra of [[], ['--json']]) {
    const cut = cli(['list', '--port', String(port), '--no-all-namespaces', '--no-kernel-evidence', '--limit', '2', ...extra]);
    assert.match(cut.err, /^tcpdir: showing 2 of 7 connections; --limit N \(at most 100000\) shows more$/m, cut.err);
  }
  assert.doesNotMatch(cli(['list', '--port', String(port), '--no-all-namespaces', '--limit', '7']).err, /showing/);
  // --remote is the API's remoteAddress: an address or a CIDR.
  assert.deepEqual(json(['list', '--port', String(port), '--remote', '127.0.0.3']).map((r) => [r.local.address, r.remote.address]), [['127.0.0.1', '127.0.0.3']]);
  assert.equal(json(['list', '--local-port', String(port), '--remote', '127.0.0.2/32']).length, 2);
  const badRemote = cli(['list', '--remote', '127.0.0.300']);
  assert.equal(badRemote.code, 1);
  assert.match(badRemote.err, /'--remote <address\|cidr>' argument '127\.0\.0\.300' is invalid\. must be an IP address or a CIDR/);
  const bad = cli(['list', '--state', 'bogus']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /state must be one of established/);
});

test('rows are sorted by local then remote endpoint; piped lines are whole and plain', () => {
  const r = cli(['list', '--port', String(port), '--no-all-namespaces']);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, ESC);
  const lines = r.out.trimEnd().split('\n');
  assert.match(lines[0], /^DIRECTION\s+CONF\s+STATE\s+LOCAL\s+REMOTE\s+PROCESS\s+NETNS\s+TOP EVIDENCE$/);
  const pairs = lines.slice(1).map((l) => /(127\.0\.0\.\d):(\d+)\s+(127\.0\.0\.\d):(\d+)/.exec(l)!.slice(1).join(' '));
  assert.equal(pairs.length, 7);
  const key = (p: string) => p.split(' ').map((x) => x.padStart(12, '0')).join(' ');
  assert.deepEqual(pairs, [...pairs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)));
  assert.ok(pairs[0].startsWith('127.0.0.1 '), pairs[0]);
  for (const row of json(['list', '--port', String(port)])) {
    assert.ok(lines.some((l) => l.endsWith(`  ${row.verdict.evidence[0].detail}`)), 'the evidence is printed whole');
  }
});

test('on a TTY: every line fits COLUMNS=80, directions are coloured, NO_COLOR (any value) or TERM=dumb turns colour off', () => {
  const args = `list --port ${port} --no-all-namespaces --no-kernel-evidence`;
  const out = tty(args, 'COLUMNS=80');
  assert.match(out, ESC);
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 1 + 1 + 7, out); // the heuristic warning, the header, the rows
  assert.match(lines[0], /^tcpdir: warning: no kernel evidence \(DISABLED\)/);
  for (const l of lines) assert.ok(l.replace(/\x1b\[[0-9;]*m/g, '').length <= 80, l);
  // Fitted by leaving columns out first: the namespace and evidence go, every IPv4 endpoint stays whole.
  const plain = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  const header = plain.find((l) => l.startsWith('DIRECTION'))!;
  assert.ok(!header.includes('NETNS') && !header.includes('TOP EVIDENCE'), header);
  for (const l of plain.filter((x) => /^(IN|OUT)BOUND|^UNKNOWN/.test(x))) {
    assert.match(l, /\b\d+\.\d+\.\d+\.\d+:\d+\s+\d+\.\d+\.\d+\.\d+:\d+\b/, `endpoints whole: ${l}`);
  }
  for (const env of ['NO_COLOR=1 COLUMNS=80', 'NO_COLOR= COLUMNS=80', 'TERM=dumb COLUMNS=80']) assert.doesNotMatch(tty(args, env), ESC, env);
});

const visible = (out: string) => out.replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n');

test('namespaces on a TTY: every line fits COLUMNS=80; piped, lines are whole', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (ip netns)');
  // A named namespace wide enough that no 80-column table holds its row whole.
  const ns = `tcpdir-audit-${Math.random().toString(36).slice(2, 8)}-a-namespace-named-at-length`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0, 'ip netns add');
  try {
    const piped = cli(['namespaces']);
    assert.equal(piped.code, 0, piped.err);
    assert.ok(piped.out.split('\n').some((l) => l.includes(ns) && l.length > 80), 'piped: the whole name on a line over 80 columns');
    const lines = visible(tty('namespaces', 'COLUMNS=80'));
    for (const l of lines) assert.ok(l.length <= 80, l);
    assert.match(lines[0], /^NETNS\s+NAME\s/);
    assert.ok(lines.some((l) => l.includes(ns.slice(0, 7))), 'the named namespace has its row');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('history on a TTY: every line fits COLUMNS=80; piped, lines are whole, with IPv6 endpoints in brackets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-cli-history-'));
  try {
    const now = Date.now();
    const s = HistoryStore.open({ path: join(dir, 'history.sqlite') });
    s.write([
      life({ key: 'v4', localAddress: '192.168.100.200', localPort: 44321, remoteAddress: '203.0.113.254', remotePort: 65000, openedAt: now - 5000, closedAt: now - 1000, command: 'a-long-command-name' }),
      life({ key: 'v6', family: 'IPV6', localAddress: '2001:db8::1', localPort: 443, remoteAddress: '2001:db8::2', remotePort: 50000, openedAt: now - 3000 }),
    ]);
    s.close();
    const piped = cli(['history', '--data-dir', dir]);
    assert.equal(piped.code, 0, piped.err);
    const whole = piped.out.trimEnd().split('\n');
    assert.equal(whole.length, 3, piped.out);
    assert.match(whole[0], /^OPENED\s+CLOSED\s+DIRECTION\s+CONF\s+LOCAL\s+REMOTE\s+PROCESS\s+SEEN BY$/);
    assert.ok(whole.some((l) => l.includes('[2001:db8::1]:443') && l.includes('[2001:db8::2]:50000')), piped.out);
    assert.ok(whole.some((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} .*a-long-command-name\/100\s+KERNEL$/.test(l)), piped.out);
    const lines = visible(tty(`history --data-dir ${dir}`, 'COLUMNS=80'));
    assert.equal(lines.length, 3, lines.join('\n'));
    for (const l of lines) assert.ok(l.length <= 80, l);
    // Who saw each life, then its closing time, are left out first; past that, what does not fit.
    assert.match(lines[0], /^OPENED\s+DIRECTION\s+CONF\s+LOCAL\s+REMOTE\b/);
    assert.match(lines[1], /^\d\d-\d\d \d\d:\d\d:\d\d  /, 'times without year and milliseconds');
    assert.ok(lines.some((l) => /192\.168\.100\.200:44321\s+203\.0\.113\.254:65000/.test(l)), `IPv4 endpoints whole: ${lines.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('history filters as the API does: --netns (an id, or a /run/netns name), --min-confidence, --open/--closed, --local-port/--remote-port', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-cli-history-'));
  const ns = `tcpdir-h-${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const named = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
    const now = Date.now();
    const s = HistoryStore.open({ path: join(dir, 'history.sqlite') });
    s.write([
      life({ key: 'host-closed-sure', openedAt: now - 5000, closedAt: now - 4000, confidence: 0.99, localPort: 443, remotePort: 50001 }),
      life({ key: 'host-open-unsure', openedAt: now - 3000, confidence: 0.6, certain: false, localPort: 8080, remotePort: 50002 }),
      life({ key: 'named-open-sure', netns: named, openedAt: now - 2000, confidence: 1, localPort: 443, remotePort: 50003 }),
    ]);
    s.close();
    const remotes = (args: string[]): number[] => {
      const r = cli(['history', '--data-dir', dir, '--json', ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      return r.out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).remote.port).sort();
    };
    assert.deepEqual(remotes([]), [50001, 50002, 50003]);
    assert.deepEqual(remotes(['--netns', ns]), [50003], 'a /run/netns name');
    assert.deepEqual(remotes(['--netns', named]), [50003], 'its id');
    assert.deepEqual(remotes(['--netns', 'net:[4026531840]']), [50001, 50002]);
    assert.deepEqual(remotes(['--min-confidence', '0.9']), [50001, 50003]);
    assert.deepEqual(remotes(['--open']), [50002, 50003]);
    assert.deepEqual(remotes(['--closed']), [50001]);
    assert.deepEqual(remotes(['--local-port', '443', '--open']), [50003]);
    assert.deepEqual(remotes(['--remote-port', '50002']), [50002]);
    for (const [args, says] of [
      [['--open', '--closed'], /cannot be used with/],
      [['--netns', 'no-such-ns-here'], /no namespace named "no-such-ns-here"/],
      [['--netns', '../etc'], /nsfs id/],
      [['--min-confidence', '2'], /from 0 to 1/],
    ] as const) {
      const r = cli(['history', '--data-dir', dir, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}`);
      assert.match(r.err, says);
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('namespaces --source ebpf reads through the eBPF iterator (or says why it cannot, not blaming a flag never given)', () => {
  const r = cli(['namespaces', '--source', 'ebpf', '--json']);
  if (r.code !== 0) {
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.err, /--no-kernel-evidence/, r.err);
    return;
  }
  const self = (JSON.parse(r.out) as { self: boolean; source: string }[]).find((n) => n.self)!;
  assert.equal(self.source, 'EBPF');
});

test('serve with a malformed --peers entry is a usage error: exit 1, one line naming it', () => {
  const r = cli(['serve', '--port', '0', '--no-history', '--no-kernel-evidence', '--peers', 'http://[bad']);
  assert.equal(r.code, 1);
  assert.equal(r.err.trim(), 'tcpdir: --peers: peer "http://[bad": not a URL (expected e.g. http://10.0.0.2:4000)');
});

test('explain of an absent connection exits 3 and says so on stderr', () => {
  const r = cli(['explain', '127.0.0.1:1', '127.0.0.1:2', '--no-all-namespaces']);
  assert.equal(r.code, 3);
  assert.equal(r.out, '');
  assert.match(r.err, /No TCP connection 127\.0\.0\.1:1 -> 127\.0\.0\.1:2/);
});

test('serve on a port in use exits 1 with one line naming the address and the fix (no stack)', () => {
  const r = cli(['serve', '--port', String(port), '--no-history', '--no-kernel-evidence', '--log-level', 'silent']);
  assert.equal(r.code, 1);
  assert.equal(r.err.trim(), `tcpdir: cannot listen on 127.0.0.1:${port}: the port is in use (another tcpdir?); choose another with --host/--port`);
});

test('a slow reader of a pipe gets every row (JSON and table): the CLI exits only once its output is written', async () => {
  // 300 connections: about 500 kB of JSON and 90 kB of table, more than a pipe holds (64 kB).
  const mine: net.Socket[] = [];
  const many = net.createServer((s) => mine.push(s));
  await new Promise<void>((r) => many.listen(0, '127.0.0.1', r));
  const p = (many.address() as net.AddressInfo).port;
  try {
    for (let i = 0; i < 300; i++) {
      const c = net.connect(p, '127.0.0.1');
      await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
      mine.push(c);
    }
    while (mine.length < 600) await new Promise((r) => setTimeout(r, 10));
    const slow = (args: string) => spawnSync('bash', ['-c', `${process.execPath} bin/tcpdir.js list --port ${p} --no-all-namespaces ${args} | (sleep 0.5; cat)`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
    const j = slow('--json --limit 1000');
    const rows = JSON.parse(j.stdout) as Row[];
    assert.equal(rows.length, 600, 'both ends of 300 connections (the listener is not one)');
    const t = slow('--limit 1000');
    const lines = t.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 601, 'a header and 600 rows');
    assert.ok(t.stdout.endsWith('\n') && /127\.0\.0\.1:\d+/.test(lines[600]), lines[600]);
  } finally {
    for (const s of mine) s.destroy();
    await new Promise((r) => many.close(r));
  }
});
