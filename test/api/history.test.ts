// Connection history, live: a tcpdir server recording into a SQLite file, then short-lived
// loopback connections of known direction opened and closed in another process (each gives an
// INBOUND life on the listener's side and an OUTBOUND one on the client's). Under kernel
// evidence every one must be in history, right and certain, with both ends' ports; the event
// stream must show them open and close; a restart must keep them. Without kernel evidence the
// snapshot recorder must find a long-lived connection and say what it can miss.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createServer, type TcpdirServer } from '../../src';
import { kernelServer } from '../helpers/kernel-server';

// Opens and closes `n` connections to its own listener (on port argv[2], or one the kernel
// picks), then prints the listener port and the client ports, one JSON line. Another process:
// the tracepoint sees a process other than tcpdir.
const CHURN_PY = `
import socket, sys, json
n = int(sys.argv[1])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', int(sys.argv[2]) if len(sys.argv) > 2 else 0)); l.listen(64)
port, clients = l.getsockname()[1], []
for _ in range(n):
    c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept()
    clients.append(c.getsockname()[1]); c.sendall(b'hello'); a.recv(5); c.close(); a.close()
print(json.dumps({'port': port, 'clients': clients}), flush=True)
`;

function churn(n: number, port?: number): { port: number; clients: number[]; pid: number } {
  const r = spawnSync('python3', ['-c', CHURN_PY, String(n), ...(port === undefined ? [] : [String(port)])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { ...(JSON.parse(r.stdout) as { port: number; clients: number[] }), pid: r.pid! };
}

interface Life {
  netns: string | null; process: { pid: number; command: string } | null; bytesSent: number | null; bytesReceived: number | null;
  rule: string | null; direction: string; certain: boolean; local: { port: number }; remote: { port: number }; closedAt: string | null; openedAt: string | null; observedBy: string }

async function historyOf(app: TcpdirServer, port: number): Promise<Life[]> {
  const all: Life[] = [];
  let after: string | null = null;
  for (;;) {
    const r = await request(app.server).get('/api/v1/history').query({ port, limit: 50, ...(after ? { after } : {}) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    all.push(...(r.body.records as Life[]));
    after = r.body.next;
    if (!after) return all;
  }
}

/**
 * Polls `get` until `done` holds of its value (or `ms` pass), and returns the last value: a
 * snapshot of a host with 100k sockets takes seconds, so nothing here waits a fixed time.
 */
async function until<T>(get: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tcpdir-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('history under kernel evidence', () => {
  test('every short-lived connection is recorded once per side, right, certain, opened and closed; the event stream shows them; a restart keeps them', async (t) => {
    const path = join(dir, 'kernel.sqlite');
    const started = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, port: 0, recordHistory: { path } });
    if (!started) return;
    let app: TcpdirServer = started; // restarted below
    try {
      const addr = await app.listen();
      // The event stream of the churn's port, read over real HTTP while the connections are made
      // (filtered: other sockets on the host, their lives seen at the start, do not crowd it).
      const free = net.createServer();
      await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
      const churnPort = (free.address() as net.AddressInfo).port;
      await new Promise((r) => free.close(r));
      const events: string[] = [];
      const stream = await new Promise<http.IncomingMessage>((resolve) => http.get(`${addr}/api/v1/events?port=${churnPort}`, resolve));
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => events.push(d));
      await new Promise((r) => setTimeout(r, 200));
      const made = churn(40, churnPort);
      assert.equal(made.port, churnPort);
      // Events are drained every few hundred ms and written in batches: wait for all 80 lives
      // to be closed (a busy machine can take a few seconds), then check them.
      let lives: Life[] = [];
      for (let i = 0; i < 100; i++) {
        lives = await historyOf(app, made.port);
        if (lives.length >= 80 && lives.every((l) => l.closedAt !== null)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const inbound = lives.filter((l) => l.local.port === made.port);
      const outbound = lives.filter((l) => l.remote.port === made.port);
      assert.equal(inbound.length, 40, 'one INBOUND life per accepted connection');
      assert.equal(outbound.length, 40, 'one OUTBOUND life per client');
      for (const l of inbound) assert.deepEqual([l.direction, l.certain, l.observedBy], ['INBOUND', true, 'KERNEL']);
      for (const l of outbound) assert.deepEqual([l.direction, l.certain, l.observedBy], ['OUTBOUND', true, 'KERNEL']);
      assert.deepEqual(outbound.map((l) => l.local.port).sort(), [...made.clients].sort(), "the clients' own ports");
      for (const l of lives) assert.ok(l.openedAt !== null && l.closedAt !== null && l.closedAt >= l.openedAt, JSON.stringify(l));
      // From the tracepoint alone: the namespace, the connecting process (connect() runs in it),
      // and the kernel's byte counters at the close (sequence space: SYN and FIN count one each).
      const ownNetns = `net:[${/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))![1]}]`;
      for (const l of lives) assert.equal(l.netns, ownNetns);
      for (const l of outbound) {
        assert.deepEqual(l.process, { pid: made.pid, command: 'python3' }, 'the process that called connect()');
        assert.ok(l.bytesSent! >= 5, `client sent hello: ${l.bytesSent}`);
      }
      for (const l of inbound) assert.ok(l.bytesReceived! >= 5, `server received hello: ${l.bytesReceived}`);
      // Filters: direction narrows; a bad CIDR and a bad time are 400s naming the parameter.
      const inOnly = await request(app.server).get('/api/v1/history').query({ port: made.port, direction: 'inbound', limit: 100 });
      assert.equal(inOnly.body.records.length, 40);
      const badCidr = await request(app.server).get('/api/v1/history').query({ remoteAddress: '10.0.0.0/33' });
      assert.equal(badCidr.status, 400);
      assert.equal(badCidr.body.error.parameter, 'remoteAddress');
      const badSince = await request(app.server).get('/api/v1/history').query({ since: 'yesterday' });
      assert.equal(badSince.status, 400);
      assert.equal(badSince.body.error.parameter, 'since');
      // Flows: 40 opened and closed each way for this port.
      const flows = await request(app.server).post('/graphql').send({ query: `{ flows(port: ${made.port}, groupBy: ["direction"]) { direction opened closed } }` });
      const byDir = Object.fromEntries((flows.body.data.flows as { direction: string; opened: number; closed: number }[]).map((f) => [f.direction, [f.opened, f.closed]]));
      assert.deepEqual(byDir, { INBOUND: [40, 40], OUTBOUND: [40, 40] });
      // The stream saw each connection open and close, on both sides.
      stream.destroy();
      const text = events.join('');
      const blocks = text.split('\n\n').filter((b) => b.startsWith('event: '));
      const mine = blocks.filter((b) => b.includes(`"port":${made.port}`));
      assert.equal(mine.length, blocks.length, 'the stream holds only the asked port');
      assert.equal(mine.filter((b) => b.startsWith('event: OPENED')).length, 80, 'OPENED for both sides of each');
      assert.equal(mine.filter((b) => b.startsWith('event: CLOSED')).length, 80, 'CLOSED for both sides of each');
      // GraphQL says how it records.
      const st = await request(app.server).get('/api/v1/history/status');
      assert.equal(st.body.mode, 'KERNEL');
      assert.equal(st.body.droppedEvents, 0);
      // A connection alive across the restart: its life is closed at the restart (a gap says
      // its real close is unknown) and the new run records it again, as pre-existing.
      const keep = net.createServer((sock) => sock.on('error', () => {}));
      await new Promise<void>((r) => keep.listen(0, '127.0.0.1', r));
      const keepPort = (keep.address() as net.AddressInfo).port;
      const kc = net.connect(keepPort, '127.0.0.1');
      await new Promise((r) => kc.once('connect', r));
      try {
        const before = await until(() => historyOf(app, keepPort), (ls) => ls.filter((l) => l.closedAt === null).length >= 2);
        assert.equal(before.filter((l) => l.closedAt === null).length, 2, 'both ends open before the restart');
        // Restart on the same file: the records are still there.
        await app.close();
        app = await createServer({ logLevel: 'silent', maxAgeMs: 0, recordHistory: { path } });
        assert.equal((await historyOf(app, made.port)).length, 80, 'records survive a restart');
        const kept = await until(() => historyOf(app, keepPort), (ls) => ls.filter((l) => l.closedAt === null).length >= 2);
        assert.equal(kept.filter((l) => l.closedAt !== null && l.openedAt !== null).length, 2, 'the old run\'s lives closed at restart');
        const again = kept.filter((l) => l.closedAt === null);
        assert.equal(again.length, 2, 'recorded again by the new run');
        for (const l of again) assert.deepEqual([l.openedAt, (l as unknown as { preExisting: boolean }).preExisting], [null, true]);
        const gaps = await request(app.server).get('/api/v1/history/gaps').query({ since: '5m' });
        assert.equal(gaps.status, 200);
        assert.ok((gaps.body as { reason: string }[]).some((g) => /not recording: \d+ lives open when it stopped/.test(g.reason)), JSON.stringify(gaps.body));
      } finally {
        kc.destroy();
        keep.close();
      }
    } finally {
      await app.close();
    }
  });
});

describe('the process of an inbound connection', () => {
  test("an accepted connection's life names its listener's owner from its birth (short-lived: no snapshot sees it), the client's the process that connected", async (t) => {
    const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, recordHistory: { path: ':memory:', intervalMs: 200 } });
    if (!app) return;
    // A listener in another process (python3), accepting and closing at once; the clients are this process.
    const py = spawn('python3', ['-c', `
import socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)
print(l.getsockname()[1], flush=True)
while True:
    a, _ = l.accept(); a.close()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await new Promise<string>((r) => py.stdout.once('data', (d: Buffer) => r(d.toString()))));
      // The recorder learns listeners' owners from its snapshots (every 200 ms here; a host with
      // 100k sockets makes each take longer): probe until an accepted connection gets its owner.
      const probe = async (): Promise<Life[]> => {
        const c = net.connect(port, '127.0.0.1');
        await new Promise((r) => c.once('close', r).once('error', r).resume());
        await new Promise((r) => setTimeout(r, 300));
        return historyOf(app, port);
      };
      const probed = await until(probe, (ls) => ls.some((l) => l.direction === 'INBOUND' && l.process !== null));
      const known = new Set(probed.map((l) => `${l.local.port}:${l.remote.port}`));
      for (let i = 0; i < 5; i++) {
        const c = net.connect(port, '127.0.0.1');
        await new Promise((r) => c.once('close', r).once('error', r).resume());
      }
      const fresh = (ls: Life[]) => ls.filter((l) => !known.has(`${l.local.port}:${l.remote.port}`));
      const lives = fresh(await until(() => historyOf(app, port), (ls) => fresh(ls).filter((l) => l.closedAt !== null).length >= 10));
      const inbound = lives.filter((l) => l.direction === 'INBOUND');
      const outbound = lives.filter((l) => l.direction === 'OUTBOUND');
      assert.equal(inbound.length, 5, JSON.stringify(lives));
      assert.equal(outbound.length, 5);
      for (const l of inbound) assert.deepEqual([l.observedBy, l.process], ['KERNEL', { pid: py.pid, command: 'python3' }]);
      for (const l of outbound) assert.equal(l.process?.pid, process.pid);
    } finally {
      py.kill();
      await app.close();
    }
  });
  test("a server started after the last look: its accepted connections get its owner without waiting for the next interval's look", async (t) => {
    // Looks every 60 s: only the early look can know the new listener.
    const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, recordHistory: { path: ':memory:', intervalMs: 60_000 } });
    if (!app) return;
    let py: ReturnType<typeof spawn> | null = null;
    try {
      // The look at start (a snapshot of this host) is done before the listener exists.
      await new Promise((r) => setTimeout(r, 1500));
      py = spawn('python3', ['-c', `
import socket, threading
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)
print(l.getsockname()[1], flush=True)
def serve(a):
    a.recv(1); a.close()
while True:
    a, _ = l.accept(); threading.Thread(target=serve, args=(a,), daemon=True).start()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = Number(await new Promise<string>((r) => py!.stdout!.once('data', (d: Buffer) => r(d.toString()))));
      // One connection held open: the early look finds the listener and fills in its life.
      const held = net.connect(port, '127.0.0.1');
      await new Promise((r) => held.once('connect', r));
      const lives = await until(() => historyOf(app, port), (ls) => ls.some((l) => l.direction === 'INBOUND' && l.process !== null), 10_000);
      const inbound = lives.find((l) => l.direction === 'INBOUND');
      assert.deepEqual(inbound?.process, { pid: py.pid, command: 'python3' }, JSON.stringify(lives));
      // A connection after the look: named at its birth, as it closes within milliseconds.
      const c = net.connect(port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      const clientPort = c.localPort;
      c.destroy();
      const later = await until(() => historyOf(app, port), (ls) => ls.some((l) => l.direction === 'INBOUND' && l.remote.port === clientPort && l.closedAt !== null));
      assert.deepEqual(later.find((l) => l.direction === 'INBOUND' && l.remote.port === clientPort)?.process, { pid: py.pid, command: 'python3' });
      held.destroy();
    } finally {
      py?.kill();
      await app.close();
    }
  });
});

describe('history over graphql-ws', () => {
  test('Subscription.connectionEvents sees connections opened during the test open and close, filtered by port; a token is required when set', async () => {
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, port: 0, token: 'sekrit', recordHistory: { path: ':memory:', intervalMs: 200 } });
    const srv = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const url = (await app.listen()).replace('http', 'ws') + '/graphql';
      const query = `subscription { connectionEvents(port: ${port}) { type record { direction local { port } remote { port } } } }`;
      // Without the token: refused.
      const denied = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
      const refusal = await new Promise<string>((resolve) => {
        denied.subscribe({ query }, { next: () => resolve('next'), error: (e) => resolve(`error ${(e as { code?: number }).code ?? String(e)}`), complete: () => resolve('complete') });
      });
      assert.match(refusal, /error 4403/);
      await denied.dispose();
      const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: 'Bearer sekrit' }, retryAttempts: 0 });
      const seen: { type: string; record: { direction: string; local: { port: number }; remote: { port: number } } }[] = [];
      let subscribed!: () => void;
      const ready = new Promise<void>((r) => (subscribed = r));
      client.on('connected', () => setTimeout(subscribed, 200));
      const stop = client.subscribe({ query }, {
        next: (m) => seen.push((m.data as { connectionEvents: (typeof seen)[number] }).connectionEvents),
        error: (e) => seen.push({ type: `error ${String(e)}`, record: null as never }),
        complete: () => undefined,
      });
      await ready;
      const c = net.connect(port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      await new Promise((r) => setTimeout(r, 400));
      c.destroy();
      for (let i = 0; i < 100 && seen.filter((e) => e.type === 'CLOSED').length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      stop();
      await client.dispose();
      const kinds = seen.map((e) => `${e.type} ${e.record?.direction}`).sort();
      if (app.service.kernel.available) {
        assert.deepEqual(kinds, ['CLOSED INBOUND', 'CLOSED OUTBOUND', 'OPENED INBOUND', 'OPENED OUTBOUND']);
      } else {
        assert.ok(kinds.includes('OPENED INBOUND') && kinds.includes('OPENED OUTBOUND'), kinds.join());
      }
      for (const e of seen) assert.ok(e.record.local.port === port || e.record.remote.port === port);
    } finally {
      srv.close();
      await app.close();
    }
  });
});

describe('graphql-ws errors are formatted as over HTTP', () => {
  test('a bad argument has BAD_USER_INPUT and its parameter; a bad document its GraphQL code; a message over the body limit is refused', async () => {
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, port: 0, kernelEvidence: false, recordHistory: { path: ':memory:' } });
    try {
      const url = (await app.listen()).replace('http', 'ws') + '/graphql';
      const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0 });
      const first = (query: string) => new Promise<unknown>((resolve) => {
        client.subscribe({ query }, { next: (m) => resolve(m.errors), error: (e) => resolve(e), complete: () => resolve('complete') });
      });
      const errs = (await first('subscription { connectionEvents(port: 70000) { type } }')) as { extensions?: unknown; path?: unknown }[];
      assert.deepEqual(errs.map((e) => [e.path, e.extensions]), [[['connectionEvents'], { code: 'BAD_USER_INPUT', parameter: 'port' }]]);
      const invalid = (await first('subscription { nope }')) as { extensions?: { code?: string } }[];
      assert.deepEqual(invalid.map((e) => e.extensions?.code), ['GRAPHQL_VALIDATION_FAILED']);
      const unparsable = (await first('subscription {')) as { extensions?: { code?: string } }[];
      assert.deepEqual(unparsable.map((e) => e.extensions?.code), ['GRAPHQL_PARSE_FAILED']);
      await client.dispose();
      // A message over the body limit (64 KiB) closes the socket (1009) before it is parsed.
      const big = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0 });
      const closed = await new Promise<unknown>((resolve) => {
        big.subscribe({ query: `subscription { connectionEvents { type ${'type '.repeat(20_000)} } }` }, { next: () => resolve('next'), error: resolve, complete: () => resolve('complete') });
        setTimeout(() => resolve('taken: no answer in 5 s'), 5000);
      });
      assert.equal((closed as { code?: number }).code, 1009, String(closed));
      await big.dispose();
    } finally {
      await app.close();
    }
  });
});

describe('the event stream', () => {
  test('HEAD /api/v1/events answers its headers at once (GET streams)', async () => {
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, port: 0, kernelEvidence: false, recordHistory: { path: ':memory:' } });
    try {
      const url = await app.listen();
      const head = await new Promise<http.IncomingMessage | string>((resolve) => {
        const r = http.request(`${url}/api/v1/events`, { method: 'HEAD' }, resolve);
        r.on('error', (e) => resolve(String(e)));
        r.setTimeout(3000, () => {
          resolve('no answer in 3 s');
          r.destroy();
        });
        r.end();
      });
      assert.ok(typeof head !== 'string', String(head));
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-type'], 'text/event-stream');
    } finally {
      await app.close();
    }
  });
});

describe('history filters by namespace id', () => {
  test('a netns that is not an nsfs id (a name, a typo) is a 400 naming netns on history, flows and events, not an empty answer', async () => {
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, kernelEvidence: false, recordHistory: { path: ':memory:' } });
    try {
      for (const path of ['/api/v1/history', '/api/v1/flows', '/api/v1/events']) {
        const res = await request(app.server).get(`${path}?netns=my-named-ns`);
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.equal(res.body.error.parameter, 'netns');
        assert.match(res.body.error.message, /nsfs id such as net:\[\d+\]/);
      }
      const self = `net:[${/\d+/.exec(readlinkSync('/proc/self/ns/net'))![0]}]`;
      for (const path of ['/api/v1/history', '/api/v1/flows']) await request(app.server).get(`${path}?netns=${encodeURIComponent(self)}`).expect(200);
    } finally {
      await app.close();
    }
  });
});

describe('history without kernel evidence', () => {
  test('the snapshot recorder finds a long-lived connection with a heuristic verdict and says what it can miss', async () => {
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, kernelEvidence: false, recordHistory: { path: ':memory:', intervalMs: 200 } });
    const srv = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    try {
      const lives = await until(() => historyOf(app, port), (ls) => ls.length >= 2);
      const inbound = lives.find((l) => l.local.port === port);
      const outbound = lives.find((l) => l.remote.port === port);
      assert.equal(inbound?.direction, 'INBOUND');
      assert.equal(outbound?.direction, 'OUTBOUND');
      assert.equal(inbound?.observedBy, 'SNAPSHOT');
      // Both ends seen on loopback settle it without the kernel (the local-peer rule).
      assert.notEqual(inbound?.rule, 'kernel-birth');
      assert.equal(inbound?.closedAt, null);
      c.destroy();
      const closedOf = (ls: Life[]) => ls.filter((l) => l.closedAt !== null && l.local.port === port);
      const closed = closedOf(await until(() => historyOf(app, port), (ls) => closedOf(ls).length >= 1));
      assert.equal(closed.length, 1, 'the snapshot recorder saw it go');
      const st = await request(app.server).post('/graphql').send({ query: '{ historyStatus { mode intervalMs caveat } host { history { mode intervalMs } } }' });
      assert.equal(st.body.data.historyStatus.mode, 'SNAPSHOT');
      assert.match(st.body.data.historyStatus.caveat, /polling every 200 ms.*missed/);
      assert.deepEqual(st.body.data.host.history, { mode: 'SNAPSHOT', intervalMs: 200 }, 'host says how history is recorded');
    } finally {
      c.destroy();
      srv.close();
      await app.close();
    }
  });

  test('history is a BAD_USER_INPUT when the server records none', async () => {
    const app = await createServer({ logLevel: 'silent', kernelEvidence: false });
    try {
      const r = await request(app.server).post('/graphql').send({ query: '{ history { records { id } } }' });
      assert.equal(r.body.errors[0].extensions.code, 'BAD_USER_INPUT');
    } finally {
      await app.close();
    }
  });
});
