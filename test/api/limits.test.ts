import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import request from 'supertest';
import { createServer, TcpdirService, type TcpdirServer } from '../../src';
import { openPair } from '../helpers/sockets';

describe('abuse limits', () => {
  let tcpdir: TcpdirServer;
  let pair: Awaited<ReturnType<typeof openPair>>;
  before(async () => {
    pair = await openPair('127.0.0.1');
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 60_000 });
  });
  after(async () => {
    await tcpdir.close();
    await pair.close();
  });

  test('query depth over the limit: 400 GRAPHQL_VALIDATION_FAILED naming depth; at the limit it runs', async () => {
    // connections(1) > peer x8 > id: depth 10 is the default limit.
    const ok = await request(tcpdir.server).post('/graphql').send({ query: `{ connections(port: ${pair.port}) { ${'peer { '.repeat(8)}id${' }'.repeat(8)} } }` });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.errors, undefined);
    const res = await request(tcpdir.server).post('/graphql').send({ query: `{ connections { ${'peer { '.repeat(11)}id${' }'.repeat(11)} } }` });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(res.body.errors[0].message, /^Query depth limit of 10 exceeded, found \d+\.$/);
  });

  test('query cost over the limit (many aliases of connections): 400 naming the cost, nothing executed', async () => {
    const aliases = (n: number) => Array.from({ length: n }, (_, i) => `c${i}: connections(port: ${pair.port}) { id verdict { direction } }`).join(' ');
    const few = await request(tcpdir.server).post('/graphql').send({ query: `{ ${aliases(10)} }` });
    assert.equal(few.status, 200, few.text);
    assert.equal(few.body.data.c9.length, 2);
    const many = await request(tcpdir.server).post('/graphql').send({ query: `{ ${aliases(1000)} }` });
    assert.equal(many.status, 400, many.text.slice(0, 300));
    assert.equal(many.body.data, undefined);
    assert.equal(many.body.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(many.body.errors[0].message, /cost/i);
    assert.doesNotMatch(many.body.errors[0].message, /syntax/i, 'a costly document is well formed');
    // A lower configured limit bites earlier.
    const strict = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, maxCost: 20, service: tcpdir.service });
    try {
      const r = await request(strict.server).post('/graphql').send({ query: `{ ${aliases(10)} }` });
      assert.equal(r.status, 400);
      assert.match(r.body.errors[0].message, /cost/i);
    } finally {
      await strict.close();
    }
  });

  test('row budget: aliased lists and nested listener lists past the request\'s rows fail naming limit; within it they run', async () => {
    // A listener with 12 clients: 24 connections on its port (both ends), 12 of them its children.
    const accepted: net.Socket[] = [];
    const srv = net.createServer((c) => accepted.push(c));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const clients = await Promise.all(Array.from({ length: 12 }, async () => {
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      return c;
    }));
    while (accepted.length < 12) await new Promise((r) => setImmediate(r));
    // Snapshots taken now (the suite's shared service caches one from before these sockets).
    const service = new TcpdirService({ maxAgeMs: 0, kernelEvidence: false });
    const small = await createServer({ logLevel: 'silent', maxRows: 30, service });
    const roomy = await createServer({ logLevel: 'silent', service });
    const gql = (query: string) => request(small.server).post('/graphql').send({ query });
    const overdrawn = (res: request.Response): void => {
      assert.equal(res.status, 200, res.text.slice(0, 300));
      const e = res.body.errors?.[0];
      assert.ok(e, `an error: ${res.text.slice(0, 300)}`);
      assert.equal(e.extensions.code, 'BAD_USER_INPUT');
      assert.equal(e.extensions.parameter, 'limit');
      assert.match(e.message, /more than 30 connections in total/);
    };
    try {
      const within = await gql(`{ connections(port: ${port}, limit: 30) { id } }`);
      assert.equal(within.body.errors, undefined, within.text.slice(0, 300));
      assert.equal(within.body.data.connections.length, 24);
      // Two aliases: 24 + 24 rows.
      overdrawn(await gql(`{ a: connections(port: ${port}) { id } b: connections(port: ${port}) { id } }`));
      // Nested: 5 connections, each asking its listener's 12 children: 5 + 60 rows.
      overdrawn(await gql(`{ connections(port: ${port}, localPort: ${port}, limit: 5) { listener { connections { id } } } }`));
      overdrawn(await gql(`{ a: listeners(port: ${port}) { connections { id } } b: listeners(port: ${port}) { connections { id } } c: listeners(port: ${port}) { connections { id } } }`));
      // A listener's connections page like Query.connections: three listings of 12 children
      // overdraw 30 rows, three pages of 5 do not; a bad limit names itself.
      const paged = await gql(`{ a: listeners(port: ${port}) { connections(limit: 5) { id } } b: listeners(port: ${port}) { connections(limit: 5, offset: 5) { id } } ` +
        `c: listeners(port: ${port}) { connections(limit: 5, offset: 10) { id } } }`);
      assert.equal(paged.body.errors, undefined, paged.text.slice(0, 300));
      const pages = ['a', 'b', 'c'].map((k) => paged.body.data[k][0].connections.map((c: { id: string }) => c.id));
      assert.deepEqual(pages.map((p) => p.length), [5, 5, 2]);
      assert.equal(new Set(pages.flat()).size, 12, 'the pages do not overlap');
      const bad = await gql(`{ listeners(port: ${port}) { connections(limit: -1) { id } } }`);
      assert.equal(bad.body.errors?.[0]?.extensions?.parameter, 'limit', bad.text.slice(0, 300));
      // A list big enough to stream, beside another field: run whole, and refused there.
      overdrawn(await gql(`{ big: connections(port: ${port}, limit: 5000) { id } x: connections(port: ${port}, limit: 10) { id } }`));
      // The default budget (100,000 rows) lets the same documents run.
      const ok = await request(roomy.server).post('/graphql')
        .send({ query: `{ connections(port: ${port}, localPort: ${port}, limit: 5) { listener { connections { id } } } }` });
      assert.equal(ok.body.errors, undefined, ok.text.slice(0, 300));
      assert.equal(ok.body.data.connections.length, 5);
      for (const c of ok.body.data.connections) assert.equal(c.listener.connections.length, 12);
      // REST lists: a limit above the budget is a 400 naming limit, before anything is sent.
      const rest = await request(small.server).get(`/api/v1/connections?port=${port}&limit=31`);
      assert.equal(rest.status, 400);
      assert.equal(rest.body.error.parameter, 'limit');
      const restOk = await request(small.server).get(`/api/v1/connections?port=${port}&limit=30`);
      assert.equal(restOk.status, 200);
      assert.equal(restOk.body.length, 24);
      // The server keeps answering.
      assert.equal((await gql('{ host { source } }')).status, 200);
    } finally {
      await small.close();
      await roomy.close();
      service.close();
      for (const c of [...clients, ...accepted]) c.destroy();
      await new Promise((r) => srv.close(r));
    }
  });

  test('a big connections list streamed in parts is still judged whole by the cost limit', async () => {
    const field = (name: string, limit = 1000) => `${name}: connections(port: ${pair.port}, limit: ${limit}) { id verdict { direction } }`;
    const big = field('big', 5000); // more than a page: streamed, the other fields run apart
    const rest = [0, 1, 2].map((i) => field(`c${i}`)).join(' ');
    // What each document costs, from the refusal of a server that allows nothing.
    const probe = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, maxCost: 1, service: tcpdir.service });
    const cost = async (query: string): Promise<number> => {
      const r = await request(probe.server).post('/graphql').send({ query });
      return Number(/found (\d+(?:\.\d+)?)/.exec(r.body.errors?.[0]?.message ?? '')?.[1]);
    };
    const [cBig, cRest, cWhole] = [await cost(`{ ${big} }`), await cost(`{ ${rest} }`), await cost(`{ ${rest} ${big} }`)];
    await probe.close();
    assert.ok(cWhole > Math.max(cBig, cRest), `costs ${cBig} + ${cRest} -> ${cWhole}`);
    const strict = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, maxCost: Math.max(cBig, cRest), service: tcpdir.service });
    const enough = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, maxCost: cWhole, service: tcpdir.service });
    try {
      for (const part of [big, rest]) assert.equal((await request(strict.server).post('/graphql').send({ query: `{ ${part} }` })).status, 200);
      const whole = await request(strict.server).post('/graphql').send({ query: `{ ${rest} ${big} }` });
      assert.equal(whole.status, 400, whole.text.slice(0, 300));
      assert.equal(whole.body.data, undefined);
      assert.match(whole.body.errors[0].message, /cost/i);
      const ok = await request(enough.server).post('/graphql').send({ query: `{ ${rest} ${big} }` }).expect(200);
      assert.deepEqual(Object.keys(ok.body.data), ['c0', 'c1', 'c2', 'big']);
      assert.equal(ok.body.data.big.length, 2);
    } finally {
      await strict.close();
      await enough.close();
    }
  });

  test('a body over 64 KiB: 413 with an error body, on GraphQL and on any POST; the server keeps serving', async () => {
    const big = await request(tcpdir.server).post('/graphql').send({ query: '{ host { source } }', variables: { pad: 'x'.repeat(70 * 1024) } });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE');
    const under = await request(tcpdir.server).post('/graphql').send({ query: '{ host { source } }', variables: { pad: 'x'.repeat(60 * 1024) } });
    assert.equal(under.status, 200);
    const small = await createServer({ logLevel: 'silent', bodyLimit: 1024, service: tcpdir.service });
    try {
      const r = await request(small.server).post('/graphql').send({ query: `{ host { source } } # ${'x'.repeat(2000)}` });
      assert.equal(r.status, 413);
    } finally {
      await small.close();
    }
    assert.equal((await request(tcpdir.server).get('/healthz')).status, 200);
  });

  test('rate limit: N requests per minute per client pass, the next gets 429 RATE_LIMITED; off by default', async () => {
    const limited = await createServer({ logLevel: 'silent', rateLimit: 5, service: tcpdir.service });
    try {
      const urls = ['/api/v1/summary', '/healthz', '/api/v1/host', '/api/v1/summary', '/api/v1/listeners'];
      for (const u of urls) assert.equal((await request(limited.server).get(u)).status, 200, u);
      const over = await request(limited.server).get('/api/v1/summary');
      assert.equal(over.status, 429);
      assert.equal(over.body.error.code, 'RATE_LIMITED');
      assert.match(over.body.error.message, /5 requests per minute/);
      assert.ok(Number(over.headers['retry-after']) > 0, JSON.stringify(over.headers));
      const gql = await request(limited.server).post('/graphql').send({ query: '{ host { source } }' });
      assert.equal(gql.status, 429);
    } finally {
      await limited.close();
    }
    // The shared server has no limit: well past 5 requests still answer.
    for (let i = 0; i < 20; i++) assert.equal((await request(tcpdir.server).get('/healthz')).status, 200);
  });
});
