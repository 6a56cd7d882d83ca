// History across two network namespaces (test hosts joined by a veth pair): a client in one
// connects to a listener in the other, 20 short-lived connections. tcpdir runs in the host
// namespace; the tracepoint sees every namespace, so under kernel evidence each connection is in
// history twice, once per namespace, right and certain, with the connecting process named.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';
import { nodeIn } from './bridge';
import { createNetnsPair, NET, unsupportedReason, type NetnsPair } from './netns';

const LISTENER = `
const srv = require('node:net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.end('bye')); });
srv.listen(0, '${NET.remoteV4}', () => console.log(srv.address().port));
process.stdin.resume(); process.stdin.on('end', () => process.exit(0));
`;
const client = (port: number) => `
const net = require('node:net');
(async () => {
  for (let i = 0; i < 20; i++) await new Promise((done) => {
    const c = net.connect(${port}, '${NET.remoteV4}', () => c.write('hi'));
    c.on('data', () => {}); c.on('close', done); c.on('error', done);
  });
  console.log('done');
})();
`;

const why = unsupportedReason();
describe('history across network namespaces', { skip: why ?? false }, () => {
  let pair: NetnsPair;
  let app: TcpdirServer;
  let listener: ChildProcess;
  before(async () => {
    pair = createNetnsPair();
    app = await createServer({ logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: { path: ':memory:' } });
  });
  after(async () => {
    listener?.kill('SIGKILL');
    await app?.close();
    pair?.destroy();
  });

  test('each connection is recorded in both namespaces, INBOUND on the listener side and OUTBOUND on the client side', async (t) => {
    if (!app.service.kernel.available) return t.skip(`no kernel evidence here (${app.service.kernel.code})`);
    listener = spawn('ip', ['netns', 'exec', pair.remote, process.execPath, '-e', LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
    const port = Number(await new Promise<string>((r) => createInterface({ input: listener.stdout! }).once('line', r)));
    assert.equal((await nodeIn(pair.agent, client(port))).trim(), 'done');
    const nsId = (name: string) => `net:[${statSync(`/run/netns/${name}`).ino}]`;
    const page = async (q: Record<string, string | number>) => {
      const r = await request(app.server).get('/api/v1/history').query({ ...q, limit: 100 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.records as { direction: string; certain: boolean; netns: string; closedAt: string | null; process: { command: string } | null; bytesSent: number }[];
    };
    // Events are drained every few hundred ms and written in batches: wait (a busy machine can
    // take a few seconds) until all 40 lives are closed.
    let out: Awaited<ReturnType<typeof page>> = [];
    let inb: Awaited<ReturnType<typeof page>> = [];
    for (let i = 0; i < 100; i++) {
      out = await page({ netns: nsId(pair.agent), remotePort: port });
      inb = await page({ netns: nsId(pair.remote), localPort: port });
      if (out.length + inb.length >= 40 && [...out, ...inb].every((l) => l.closedAt !== null)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(out.length, 20, 'one OUTBOUND life per connection in the client namespace');
    assert.equal(inb.length, 20, 'one INBOUND life per connection in the listener namespace');
    for (const l of out) {
      assert.deepEqual([l.direction, l.certain, l.process?.command], ['OUTBOUND', true, 'node']);
      assert.ok(l.closedAt !== null && l.bytesSent >= 2, JSON.stringify(l));
    }
    for (const l of inb) assert.deepEqual([l.direction, l.certain, l.closedAt !== null], ['INBOUND', true, true]);
  });
});
