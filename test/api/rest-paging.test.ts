// Large REST list answers, and GraphQL requests with big `connections` fields, are streamed
// page by page (PAGE_ROWS rows per GraphQL execution, all on one pinned snapshot) instead of being
// built whole: the rows must be exactly those of the same document run once, in the same order,
// with no row twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import request from 'supertest';
import { createServer } from '../../src';
import { DOCUMENTS } from '../../src/server/documents';
import { PAGE_ROWS } from '../../src/server/paging';

const keep: net.Socket[] = [];
let listener: net.Server | null = null;
after(() => {
  for (const s of keep) s.destroy();
  listener?.close();
});

test('a REST or GraphQL answer longer than one page streams the same rows as one GraphQL execution', { timeout: 60_000 }, async () => {
  listener = net.createServer((s) => keep.push(s));
  listener.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  const pairs = Math.ceil((PAGE_ROWS * 2.5) / 2); // both ends count: 2.5 pages of connections
  for (let i = 0; i < pairs; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, pairs - i) }, async () => {
      const c = net.connect(port, '127.0.0.1');
      keep.push(c);
      await once(c, 'connect');
    }));
  }
  while (keep.length < pairs * 2) await new Promise((r) => setTimeout(r, 10));

  // One snapshot serves both requests (max-age), so both see the same table.
  const s = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, allNamespaces: false });
  try {
    const variables = { port, limit: 100_000, offset: 0 };
    // A directive on the field keeps it from being streamed: one execution, the reference.
    const fields = DOCUMENTS.connections.slice(DOCUMENTS.connections.indexOf('connections('));
    const head = DOCUMENTS.connections.slice(0, DOCUMENTS.connections.indexOf('connections('));
    const directive = fields.replace(')', ') @include(if: true)');
    const g = await request(s.server).post('/graphql').send({ query: `${head}${directive}`, variables }).expect(200);
    assert.equal(g.body.errors, undefined);
    const whole = g.body.data.connections as Array<{ id: string }>;
    assert.equal(whole.length, pairs * 2, 'GraphQL lists every connection on the port');

    // The same document without it is streamed page by page, and answers the same.
    const gs = await request(s.server).post('/graphql').send({ query: DOCUMENTS.connections, variables }).expect(200);
    assert.match(gs.headers['content-type'], /application\/json/);
    assert.deepEqual(gs.body, { data: { connections: whole } }, 'streamed GraphQL pages == one execution');

    // With other top-level fields around it: they run once, in their places; a skipped one is absent.
    const around = `${head} count: connectionCount(port: $port) ${fields.slice(0, -1)} listeners { id } host @skip(if: true) { netns } }`;
    const ga = await request(s.server).post('/graphql').send({ query: around, variables }).expect(200);
    assert.equal(ga.body.errors, undefined);
    assert.equal(ga.headers['transfer-encoding'], 'chunked', 'sent page by page, not built whole');
    assert.deepEqual(Object.keys(ga.body.data), ['count', 'connections', 'listeners'], 'keys in the order asked');
    assert.deepEqual(ga.body.data.connections, whole);
    assert.equal(ga.body.data.count, whole.length);
    assert.ok(Array.isArray(ga.body.data.listeners) && ga.body.data.listeners.length > 0);
    const aroundWhole = await request(s.server).post('/graphql').send({ query: around.replace(/(connections\([^)]*\))/, '$1 @include(if: true)'), variables }).expect(200);
    assert.deepEqual(ga.body, aroundWhole.body, 'streamed with other fields == one execution');
    // Two big lists (and a small one) in one document: each streamed in its place, equal to one
    // execution of the same document (a directive keeps that one whole).
    const lists = (d: string) => `{ inbound: connections(port: ${port}, direction: INBOUND, limit: 100000) { id } ` +
      `few: connections(port: ${port}, limit: 3) { id } all: connections(port: ${port}, limit: 100000, offset: 5)${d} { id state } }`;
    const gl = await request(s.server).post('/graphql').send({ query: lists('') }).expect(200);
    assert.equal(gl.body.errors, undefined, JSON.stringify(gl.body.errors));
    assert.equal(gl.headers['transfer-encoding'], 'chunked', 'two lists sent page by page');
    assert.deepEqual(Object.keys(gl.body.data), ['inbound', 'few', 'all'], 'keys in the order asked');
    const glWhole = await request(s.server).post('/graphql').send({ query: lists(' @include(if: true)') }).expect(200);
    assert.deepEqual(gl.body, glWhole.body, 'two streamed lists == one execution');
    assert.equal(gl.body.data.all.length, whole.length - 5);
    assert.ok(gl.body.data.inbound.length > PAGE_ROWS, 'the first list is longer than a page too');
    // Literal arguments and an alias; limit and offset across page boundaries.
    const lit = await request(s.server).post('/graphql')
      .send({ query: `{ rows: connections(port: ${port}, limit: ${PAGE_ROWS + 7}, offset: ${PAGE_ROWS - 3}) { id } }` }).expect(200);
    assert.deepEqual(lit.body, { data: { rows: whole.slice(PAGE_ROWS - 3, 2 * PAGE_ROWS + 4).map((c) => ({ id: c.id })) } });
    // No filter at all: a page at an offset starts at that row of the whole table (one execution, one snapshot).
    const table = await request(s.server).post('/graphql').send({
      query: `{ all: connections(limit: 100000) @include(if: true) { id } mid: connections(limit: ${PAGE_ROWS + 7}, offset: ${PAGE_ROWS - 3}) @include(if: true) { id } }`,
    }).expect(200);
    assert.equal(table.body.errors, undefined, JSON.stringify(table.body.errors));
    assert.ok(table.body.data.all.length > 2 * PAGE_ROWS);
    assert.deepEqual(table.body.data.mid, table.body.data.all.slice(PAGE_ROWS - 3, 2 * PAGE_ROWS + 4));
    // Bad values still get GraphQL's own errors, with a code.
    const tooMany = await request(s.server).post('/graphql').send({ query: DOCUMENTS.connections, variables: { port, limit: 100_001 } });
    assert.ok(tooMany.body.errors?.[0]?.extensions?.code, JSON.stringify(tooMany.body));

    const r = await request(s.server).get(`/api/v1/connections?port=${port}&limit=100000`).expect(200);
    assert.match(r.headers['content-type'], /application\/json/);
    assert.deepEqual(r.body, whole, 'streamed pages == one execution');
    assert.equal(new Set((r.body as Array<{ id: string }>).map((c) => c.id)).size, whole.length, 'no row twice');

    // A client's plain selection that `list` also reads (processes, verdict, evidence), with
    // __typename in every selection set as Apollo Client sends it, is written as bytes after the
    // first page; one with an alias inside is run page by page as before. Variables, their
    // defaults and literals all hold across pages.
    for (const sel of [
      'id processes { pid command } verdict { direction evidence { rule weight } } local { port }',
      '__typename id processes { pid __typename } verdict { direction __typename evidence { __typename rule } } local { port __typename }',
      'id v: verdict { direction } __typename',
    ]) {
      const q = (d: string) => `query Q($p: Int, $dir: Direction = INBOUND) { connections(port: $p, direction: $dir, orderBy: LOCAL, limit: 100000)${d} { ${sel} } }`;
      const streamed = await request(s.server).post('/graphql').send({ query: q(''), variables: { p: port } }).expect(200);
      const once = await request(s.server).post('/graphql').send({ query: q(' @include(if: true)'), variables: { p: port } }).expect(200);
      assert.equal(once.body.errors, undefined, JSON.stringify(once.body.errors));
      assert.ok(once.body.data.connections.length > PAGE_ROWS, sel);
      // Byte for byte (Apollo ends its answer with a newline).
      assert.equal(streamed.text, once.text.replace(/\n$/, ''), `${sel}`);
    }

    // Filters and an order hold across pages too (pages after the first are written as bytes).
    const orderedVars = { port, limit: 100_000, direction: 'INBOUND', orderBy: 'REMOTE', descending: true };
    const og = await request(s.server).post('/graphql').send({ query: `${head}${directive}`, variables: orderedVars }).expect(200);
    assert.equal(og.body.errors, undefined);
    assert.ok(og.body.data.connections.length > PAGE_ROWS, 'the inbound half is longer than a page');
    const or = await request(s.server).get(`/api/v1/connections?port=${port}&limit=100000&direction=inbound&orderBy=REMOTE&descending=true`).expect(200);
    assert.deepEqual(or.body, og.body.data.connections, 'ordered, filtered REST pages == one execution');

    // limit and offset still mean what they say across page boundaries.
    const part = await request(s.server).get(`/api/v1/connections?port=${port}&limit=${PAGE_ROWS + 7}&offset=${PAGE_ROWS - 3}`).expect(200);
    assert.deepEqual(part.body, whole.slice(PAGE_ROWS - 3, 2 * PAGE_ROWS + 4));
    // A short answer is not streamed, and a bad parameter is still a 400 naming it.
    const few = await request(s.server).get(`/api/v1/connections?port=${port}&limit=5000&direction=unknown`).expect(200);
    assert.ok(Array.isArray(few.body));
    const bad = await request(s.server).get(`/api/v1/connections?port=${port}&limit=-1`).expect(400);
    assert.equal(bad.body.error.parameter, 'limit');
  } finally {
    await s.close();
  }
});
