// What the console's views ask the API for, against real sockets: connections filtered by peer
// address (or CIDR) and by process, sorted server-side and paged, and a listener's counts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';

describe('console queries: remoteAddress, process, orderBy, listener counts', () => {
  let tcpdir: TcpdirServer;
  let server: net.Server;
  let port: number;
  const sockets: net.Socket[] = [];

  before(async () => {
    server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
    // One client from 127.0.0.1, two from 127.0.0.2 (all of 127/8 is loopback on Linux).
    for (const localAddress of ['127.0.0.1', '127.0.0.2', '127.0.0.2']) {
      const c = net.connect({ port, host: '127.0.0.1', localAddress });
      await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
      sockets.push(c);
    }
    while (sockets.length < 6) await new Promise((r) => setTimeout(r, 5));
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 60_000 });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    await tcpdir.close();
  });

  const gql = async (query: string, variables?: object) => (await request(tcpdir.server).post('/graphql').send({ query, variables })).body as { data?: any; errors?: any[] };
  const rows = async (args: string) => {
    const r = await gql(`{ connections(port: ${port}${args}) { local { address port } remote { address port } verdict { direction } } }`);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    return r.data.connections as { local: { address: string; port: number }; remote: { address: string; port: number }; verdict: { direction: string } }[];
  };

  test('remoteAddress takes an address or a CIDR; a bad one is BAD_USER_INPUT naming it', async () => {
    const from2 = await rows(', remoteAddress: "127.0.0.2"');
    assert.equal(from2.length, 2);
    assert.ok(from2.every((c) => c.remote.address === '127.0.0.2' && c.local.port === port && c.verdict.direction === 'INBOUND'));
    assert.equal((await rows(', remoteAddress: "127.0.0.0/8"')).length, 6);
    // The socket accepted from 127.0.0.1, and the three clients' own sockets (their peer is 127.0.0.1:port).
    assert.equal((await rows(', remoteAddress: "127.0.0.1/32"')).length, 4);
    assert.equal((await rows(', remoteAddress: "10.0.0.0/8"')).length, 0);
    const count = await gql(`{ connectionCount(port: ${port}, remoteAddress: "127.0.0.2") }`);
    assert.equal(count.data.connectionCount, 2);
    const bad = await gql(`{ connections(remoteAddress: "10.0.0.0/33") { id } }`);
    assert.equal(bad.errors?.[0].extensions.code, 'BAD_USER_INPUT');
    assert.equal(bad.errors?.[0].extensions.parameter, 'remoteAddress');
    const rest = await request(tcpdir.server).get('/api/v1/connections').query({ port, remoteAddress: 'nope' });
    assert.equal(rest.status, 400);
    assert.equal(rest.body.error.parameter, 'remoteAddress');
  });

  test('process matches the sockets a process holds, by pid or command', async () => {
    assert.equal((await rows(`, process: "${process.pid}"`)).length, 6);
    assert.equal((await rows(', process: "no-such-command-here"')).length, 0);
    const r = await request(tcpdir.server).get('/api/v1/connection-count').query({ port, process: String(process.pid) });
    assert.equal(r.body, 6);
  });

  test('orderBy sorts the whole filtered list before paging; descending reverses it', async () => {
    const byRemote = await rows(', orderBy: REMOTE');
    // IPv4 loopback only here: address then port, as one number.
    const key = (c: { remote: { address: string; port: number } }) => c.remote.address.split('.').reduce((n, x) => n * 256 + Number(x), 0) * 65536 + c.remote.port;
    const keys = byRemote.map(key);
    assert.deepEqual(keys, [...keys].sort((a, b) => a - b));
    const desc = await rows(', orderBy: REMOTE, descending: true');
    assert.deepEqual(desc.map(key), byRemote.map(key).reverse());
    // Page by page (one row each), the same order.
    const paged = [];
    for (let offset = 0; offset < 6; offset++) paged.push(...(await rows(`, orderBy: REMOTE, limit: 1, offset: ${offset}`)));
    assert.deepEqual(paged.map(key), byRemote.map(key));
    const byDirection = await rows(', orderBy: DIRECTION');
    assert.deepEqual(byDirection.map((c) => c.verdict.direction), ['INBOUND', 'INBOUND', 'INBOUND', 'OUTBOUND', 'OUTBOUND', 'OUTBOUND']);
    const rest = await request(tcpdir.server).get('/api/v1/connections').query({ port, orderBy: 'direction', descending: 'true' });
    assert.deepEqual((rest.body as any[]).map((c) => c.verdict.direction), ['OUTBOUND', 'OUTBOUND', 'OUTBOUND', 'INBOUND', 'INBOUND', 'INBOUND']);
    const bad = await request(tcpdir.server).get('/api/v1/connections').query({ orderBy: 'process' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.parameter, 'orderBy');
  });

  test("a listener's inbound count and busiest peers, without its rows", async () => {
    const r = await gql(`{ listeners(port: ${port}) { inbound: connectionCount(direction: INBOUND) all: connectionCount outbound: connectionCount(direction: OUTBOUND)
      remoteAddresses(direction: INBOUND) { address count } top1: remoteAddresses(limit: 1) { address count } } }`);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const [l] = r.data.listeners;
    assert.deepEqual([l.inbound, l.all, l.outbound], [3, 3, 0]);
    assert.deepEqual(l.remoteAddresses, [{ address: '127.0.0.2', count: 2 }, { address: '127.0.0.1', count: 1 }]);
    assert.deepEqual(l.top1, [{ address: '127.0.0.2', count: 2 }]);
    const bad = await gql(`{ listeners(port: ${port}) { remoteAddresses(limit: 0) { address } } }`);
    assert.equal(bad.errors?.[0].extensions.code, 'BAD_USER_INPUT');
    assert.equal(bad.errors?.[0].extensions.parameter, 'limit');
  });
});
