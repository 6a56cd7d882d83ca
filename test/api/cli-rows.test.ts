import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { rowSelection } from '../../src/server/row-writer';
import { TcpdirService } from '../../src/service';
import { listRowsBothWays } from '../helpers/list-rows';

// `tcpdir list` prints the listConnections document's rows without running it through GraphQL
// (src/server/row-writer.ts). On one snapshot of real sockets (kernel evidence, processes, both
// families, TIME_WAIT), the rows must be those the document gives, byte for byte.
let server: net.Server;
let port: number;
const sockets: net.Socket[] = [];
let service: TcpdirService;
before(async () => {
  server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '::', r));
  port = (server.address() as net.AddressInfo).port;
  for (const host of ['127.0.0.1', '::1', '127.0.0.2', '::1']) {
    const c = net.connect(port, host);
    await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
    sockets.push(c);
  }
  const closer = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => closer.once('connect', r).once('error', j));
  closer.end();
  await new Promise((r) => closer.once('close', r));
  while (sockets.length < 8) await new Promise((r) => setTimeout(r, 10));
  service = new TcpdirService({ maxAgeMs: 60_000, history: false, allNamespaces: true });
});
after(async () => {
  service.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

for (const [name, variables] of [
  ['the test\'s connections', () => ({ port, limit: 100 })],
  ['this process\'s, by pid', () => ({ port, process: String(process.pid), limit: 100 })],
  ['time-wait ones', () => ({ remotePort: port, state: 'TIME_WAIT', limit: 100 })],
  ['the first 2000 of the host', () => ({ limit: 2000 })],
  ['inbound, sure ones', () => ({ direction: 'INBOUND', minConfidence: 0.9, limit: 500 })],
] as const) {
  test(`list rows read from the service are the document's rows: ${name}`, async () => {
    const { graphql, direct, directJson, rows } = await listRowsBothWays(service, variables());
    assert.ok(rows > 0 || name.startsWith('inbound'), `${name}: some rows to compare`);
    assert.equal(direct, graphql);
    assert.equal(directJson, graphql);
  });
}

test('the row selection is read from the document text; what it cannot read is an error', () => {
  assert.deepEqual(rowSelection('query Q($a: Int) { f: connections(a: $a) { id local { address port } processes { pid } } }'), [
    ['id', null], ['local', [['address', null], ['port', null]]], ['processes', [['pid', null]]],
  ]);
  assert.throws(() => rowSelection('query { connections { id peer(x: 1) { id } } }'), /cannot read/);
  assert.throws(() => rowSelection('query { connections { id ...F } }'), /cannot read/);
});
