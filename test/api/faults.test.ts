import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { createServer } from '../../src';
import { ProcessResolver } from '../../src/collectors/proc-fd';
import { openPair } from '../helpers/sockets';
import { freePort } from '../../bench/loopback-load';

const ROOT = resolve(__dirname, '..', '..', '..');

test('netlink unavailable (no addon, or a broken one): procfs serves, host says so and why', async () => {
  const pair = await openPair('127.0.0.1');
  const broken = mkdtempSync(join(tmpdir(), 'tcpdir-native-'));
  writeFileSync(join(broken, 'tcpdir_sockdiag.node'), 'not an ELF file');
  try {
    for (const [nativeDir, why] of [[join(broken, 'missing'), /is not built/], [broken, /failed to load/]] as const) {
      // Without the kernel source too: its iterator pass would otherwise list the sockets
      // (source ebpf) and sock_diag would not be needed at all.
      const s = await createServer({ logLevel: 'silent', maxAgeMs: 0, nativeDir, kernelEvidence: false });
      try {
        const host = await request(s.server).get('/api/v1/host').expect(200);
        assert.equal(host.body.source, 'PROCFS');
        assert.match(host.body.fallbackReason, /^netlink: /);
        assert.match(host.body.fallbackReason, why);
        const g = await request(s.server).post('/graphql').send({ query: `{ host { source fallbackReason } connections(port: ${pair.port}) { id verdict { direction } } }` }).expect(200);
        assert.equal(g.body.errors, undefined);
        assert.equal(g.body.data.host.source, 'PROCFS');
        // Still classifies from procfs: the pair's two ends, one each way.
        assert.deepEqual(g.body.data.connections.map((c: any) => c.verdict.direction).sort(), ['INBOUND', 'OUTBOUND']);
        assert.ok(g.body.data.connections.every((c: any) => c.id.startsWith('p:')));
      } finally {
        await s.close();
      }
    }
  } finally {
    rmSync(broken, { recursive: true, force: true });
    await pair.close();
  }
});

test('/proc entries that vanish mid-scan are skipped (fixture tree and real process churn)', async () => {
  // Fixture: pid 100 is whole; 200 lost its fd dir, 300 its comm, 400 everything but the dir.
  const root = mkdtempSync(join(tmpdir(), 'tcpdir-proc-'));
  try {
    mkdirSync(join(root, 'self', 'fd'), { recursive: true });
    const stat = (pid: number) => `${pid} (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${1000 + pid} 0 0\n`;
    for (const pid of [100, 200, 300]) {
      mkdirSync(join(root, String(pid)));
      writeFileSync(join(root, String(pid), 'stat'), stat(pid));
    }
    mkdirSync(join(root, '400'));
    for (const pid of [100, 300]) {
      mkdirSync(join(root, String(pid), 'fd'));
      symlinkSync(`socket:[${pid * 5}]`, join(root, String(pid), 'fd', '3'));
    }
    writeFileSync(join(root, '100', 'comm'), 'alive\n');
    const map = await new ProcessResolver(root).resolve([500, 1500, 777]);
    assert.deepEqual([...map.entries()].map(([ino, refs]) => [ino, refs.map((r) => `${r.pid}/${r.command}`)]), [[500, ['100/alive']]]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  // Live: processes start and exit all along while the resolver scans the real /proc.
  const pair = await openPair('127.0.0.1');
  let churning = true;
  const churn = (async () => {
    let n = 0;
    while (churning) {
      await new Promise((r) => spawn('true').once('exit', r));
      n++;
    }
    return n;
  })();
  try {
    const inode = Number(spawnSync('stat', ['-L', '-c', '%i', `/proc/${process.pid}/fd/${(pair.client as unknown as { _handle: { fd: number } })._handle.fd}`], { encoding: 'utf8' }).stdout.trim());
    assert.ok(inode > 0);
    const resolver = new ProcessResolver('/proc');
    for (let i = 0; i < 15; i++) {
      const map = await resolver.resolve([inode]);
      assert.deepEqual(map.get(inode)?.map((r) => r.pid), [process.pid]);
    }
  } finally {
    churning = false;
    assert.ok((await churn) > 0, 'no process churned during the scans');
    await pair.close();
  }
});

test("an unreadable /proc/PID/fd (another user's process) leaves processes empty, not an error", async () => {
  // This process (root) holds `pair`; the server runs as nobody and cannot read our fd table.
  const pair = await openPair('127.0.0.1');
  const script = `
    const net = require('node:net');
    const { createServer } = require(${JSON.stringify(join(ROOT, 'dist', 'src'))});
    (async () => {
      const own = net.createServer((s) => own.kept = s);
      await new Promise((r) => own.listen(0, '127.0.0.1', r));
      const c = net.connect(own.address().port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      while (!own.kept) await new Promise((r) => setImmediate(r));
      const s = await createServer({ logLevel: 'silent', maxAgeMs: 0 });
      const q = (p) => '{ connections(localPort: ' + p + ') { processes { pid } } }';
      const res = await s.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ theirs: ' + q(${pair.port}).slice(2, -2) + ' mine: ' + q(own.address().port).slice(2, -2) + ' }' } });
      process.stdout.write(JSON.stringify({ uid: process.getuid(), pid: process.pid, status: res.statusCode, body: res.json() }));
      await s.close();
      process.exit(0);
    })();`;
  try {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.uid, 65534);
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.errors, undefined, JSON.stringify(out.body));
    assert.deepEqual(out.body.data.theirs, [{ processes: [] }]);
    // Control: the same server does resolve the unprivileged child's own socket.
    assert.deepEqual(out.body.data.mine, [{ processes: [{ pid: out.pid }] }]);
  } finally {
    await pair.close();
  }
});

test('SIGTERM under load: in-flight requests complete, then `tcpdir serve` exits 0', async () => {
  const port = await freePort();
  // max-age 0: every request collects its own snapshot, so requests are slow enough to be caught in flight.
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tcpdir.js'), 'serve', '--port', String(port), '--max-age-ms', '0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      assert.ok(i < 200, `server did not come up: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent: Promise<void>[] = [];
    const get = (path: string) => new Promise<{ status: number; body: string }>((res, rej) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (r) => {
        let body = '';
        r.on('data', (d) => (body += d)).on('end', () => res({ status: r.statusCode!, body }));
      });
      req.on('error', rej);
      // 'finish': the whole request is in the kernel's hands, i.e. truly in flight.
      sent.push(new Promise((r) => req.once('finish', () => r())));
    });
    const inflight = Array.from({ length: 30 }, (_, i) => get(i % 2 ? '/api/v1/summary' : '/api/v1/connections?limit=2000'));
    await Promise.all(sent);
    await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    for (const r of results) {
      assert.equal(r.status, 200, r.body.slice(0, 200));
      JSON.parse(r.body);
    }
    assert.equal(await exited, 0, stderr);
    // And it is gone: new connections are refused.
    await assert.rejects(get('/healthz'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
