import 'reflect-metadata';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execute, parse } from 'graphql';
import { requestContext } from '../../src/resolvers';
import { TcpdirService } from '../../src/service';
import { compiledDocuments } from '../../src/server/compiled-documents';
import { DOCUMENTS, type DocumentName } from '../../src/server/documents';
import { tcpdirSchema } from '../../src/server/schema';

// The REST mirror's pages and the CLI run stored documents compiled by graphql-jit; Apollo runs
// them with graphql-js. On one pinned snapshot of real sockets, both must give the same answer.
let server: net.Server;
let port: number;
const sockets: net.Socket[] = [];
let service: TcpdirService;
before(async () => {
  server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 20; i++) {
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
    sockets.push(c);
  }
  while (sockets.length < 40) await new Promise((r) => setTimeout(r, 10));
  service = new TcpdirService({ maxAgeMs: 60_000, history: false });
});
after(async () => {
  service.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const cases: [DocumentName, Record<string, unknown>][] = [
  ['connections', { limit: 100000 }],
  ['connections', { port: 0, limit: 7, offset: 3, direction: 'INBOUND' }],
  ['listConnections', { limit: 100000 }],
  ['listeners', {}],
  ['summary', {}],
  ['namespaces', {}],
  ['host', {}],
];

test('compiled stored documents answer as graphql-js does, rows and errors alike', async () => {
  const schema = await tcpdirSchema();
  const run = compiledDocuments(schema);
  // A request context each (each has its own row budget), on the service's one cached snapshot.
  const ctx = (): ReturnType<typeof requestContext> => requestContext(service);
  for (const [name, vars] of cases) {
    const v = { ...vars, ...(vars.port === 0 ? { port } : {}) };
    const want = await execute({ schema, document: parse(DOCUMENTS[name]), variableValues: v, contextValue: ctx() });
    const got = await run(name, v, ctx());
    // Alike, errors included: on a host with over 100k connections the whole-host lists are
    // refused by both (the request limit).
    assert.deepEqual(got.errors?.map((e) => [e.message, e.extensions?.code]), want.errors?.map((e) => [e.message, e.extensions?.code]), name);
    assert.deepEqual(plain(got.data), plain(want.data), name);
  }
  const rows = (await run('connections', { port, limit: 100 }, ctx())).data!.connections as { verdict: { direction: string } }[];
  assert.equal(rows.length, 40, 'both ends of 20 connections');
  assert.deepEqual(rows.map((r) => r.verdict.direction).sort(), [...Array(20).fill('INBOUND'), ...Array(20).fill('OUTBOUND')]);
  // A resolver's input error: the same message and code.
  const bad = { netns: 'net:[nonsense]', limit: 5 };
  const want = await execute({ schema, document: parse(DOCUMENTS.connections), variableValues: bad, contextValue: ctx() });
  const got = await run('connections', bad, ctx());
  assert.ok(want.errors?.length, 'graphql-js reports the bad netns');
  assert.deepEqual(got.errors?.map((e) => [e.message, e.extensions?.code]), want.errors!.map((e) => [e.message, e.extensions?.code]));
});
