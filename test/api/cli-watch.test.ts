// `tcpdir watch` as users run it: a real process reading a running server's event stream while a
// real loopback connection opens and closes; and what it says when there is no server to read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from '../../src';
import { kernelServer } from '../helpers/kernel-server';

const ROOT = join(__dirname, '..', '..', '..');

interface Line { type: string; direction: string; certain: boolean; local: { port: number }; remote: { port: number } }

test('tcpdir watch --json prints OPENED and CLOSED of both sides of a connection made while it runs, filtered by port', async (t) => {
  const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, port: 0, recordHistory: { path: ':memory:' } }, 'events would wait for a snapshot');
  if (!app) return;
  const listener = net.createServer((s) => s.end());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const url = await app.listen();
  const watch = spawn(process.execPath, ['bin/tcpdir.js', 'watch', '--url', url, '--port', String(port), '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  watch.stderr.on('data', (d) => (err += d));
  const lines: Line[] = [];
  createInterface({ input: watch.stdout }).on('line', (l) => lines.push(JSON.parse(l) as Line));
  try {
    // Its subscription is open once a connection made now shows up: make them until one does.
    const connectOnce = async (): Promise<number> => {
      const c = net.connect(port, '127.0.0.1');
      await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
      const p = c.localPort!;
      c.resume();
      await new Promise((r) => c.once('close', r));
      return p;
    };
    for (let i = 0; i < 60 && lines.length === 0; i++) {
      await connectOnce();
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(lines.length > 0, `watch printed nothing (stderr: ${err})`);
    const clientPort = await connectOnce();
    const want = (type: string, direction: string) => lines.find((l) => l.type === type && l.direction === direction &&
      (direction === 'INBOUND' ? l.local.port === port && l.remote.port === clientPort : l.local.port === clientPort && l.remote.port === port));
    for (let i = 0; i < 100 && !(want('CLOSED', 'INBOUND') && want('CLOSED', 'OUTBOUND')); i++) await new Promise((r) => setTimeout(r, 100));
    for (const type of ['OPENED', 'CLOSED']) {
      for (const direction of ['INBOUND', 'OUTBOUND']) {
        const l = want(type, direction);
        assert.ok(l, `${type} ${direction} in ${JSON.stringify(lines)} (stderr: ${err})`);
        assert.equal(l.certain, true);
      }
    }
    assert.ok(lines.every((l) => l.local.port === port || l.remote.port === port), 'only the port asked for');
  } finally {
    watch.kill();
    listener.close();
    await app.close();
  }
});

test('tcpdir watch without a server says which address it could not reach and exits 1', () => {
  const probe = net.createServer();
  // A port nothing listens on: bound, then closed.
  const r0 = new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as net.AddressInfo).port)));
  return r0.then((port) => new Promise<void>((done) => probe.close(() => {
    const r = spawnSync(process.execPath, ['bin/tcpdir.js', 'watch', '--url', `http://127.0.0.1:${port}`], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot reach tcpdir serve at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    done();
  })));
});

test("tcpdir watch against a server without history exits 1 with the server's message, not its JSON", async () => {
  const app = await createServer({ logLevel: 'silent', port: 0, recordHistory: false, kernelEvidence: false });
  try {
    const url = await app.listen();
    // Not spawnSync: the server answers from this process's event loop.
    const watch = spawn(process.execPath, ['bin/tcpdir.js', 'watch', '--url', url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    watch.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => watch.once('close', r));
    assert.equal(code, 1, err);
    assert.equal(err.trim(), `tcpdir: ${url} answered 404: history is off on this server (started with --no-history)`);
  } finally {
    await app.close();
  }
});
