import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';
import { openPair } from '../helpers/sockets';

const NAT = 'nat { originalSource { address port } originalDestination { address port } replySource { address port } replyDestination { address port } }';
const CONN = 'id family state local { address port } remote { address port } inode uid netns ' + NAT + ' conntrack { netns side origin state direction } verdict { direction confidence inboundProbability certain evidence { rule favors weight detail conclusive } }';

describe('GraphQL and REST against real sockets', () => {
  let tcpdir: TcpdirServer;
  let v4: Awaited<ReturnType<typeof openPair>>;
  let v6: Awaited<ReturnType<typeof openPair>>;
  let dual: Awaited<ReturnType<typeof openPair>>;

  before(async () => {
    v4 = await openPair('127.0.0.1');
    v6 = await openPair('::1');
    dual = await openPair('127.0.0.1', '::');
    // One snapshot for the whole suite, so GraphQL and REST see the very same data.
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 60_000 });
  });
  after(async () => {
    await tcpdir.close();
    await Promise.all([v4.close(), v6.close(), dual.close()]);
  });

  const gql = async (query: string, variables?: object) => {
    const res = await request(tcpdir.server).post('/graphql').send({ query, variables }).expect('content-type', /json/);
    return res.body as { data?: any; errors?: any[] };
  };

  test('a loopback pair with its listener open: server side INBOUND, client side OUTBOUND, both certain', async () => {
    const { data, errors } = await gql(`query($p: Int) { connections(port: $p) { ${CONN} peer { id } listener { id local { port } } processes { pid command } } }`, { p: v4.port });
    assert.equal(errors, undefined);
    const conns = data.connections as any[];
    assert.equal(conns.length, 2, JSON.stringify(conns));
    const server = conns.find((c) => c.local.port === v4.port);
    const client = conns.find((c) => c.remote.port === v4.port);
    assert.deepEqual([server.verdict.direction, server.verdict.certain, server.verdict.confidence], ['INBOUND', true, 1]);
    assert.deepEqual([client.verdict.direction, client.verdict.certain, client.verdict.confidence], ['OUTBOUND', true, 1]);
    assert.equal(client.local.port, v4.client.localPort);
    assert.equal(server.peer.id, client.id);
    assert.equal(client.peer.id, server.id);
    assert.equal(server.listener.local.port, v4.port);
    assert.equal(client.listener, null);
    assert.equal(server.family, 'IPV4');
    assert.ok(server.processes.some((p: any) => p.pid === process.pid), JSON.stringify(server.processes));
    // Settled by the kernel (eBPF) when it is available, else by pairing the two local ends.
    for (const c of [server, client]) assert.ok(c.verdict.evidence.some((e: any) => e.conclusive && /^(kernel-|local-peer)/.test(e.rule)), JSON.stringify(c.verdict));
  });

  test('IPv6 and an IPv4 client on a dual-stack listener are classified; verdict() takes IPv4 text for a mapped socket', async () => {
    const six = (await gql(`{ connections(localPort: ${v6.port}, remotePort: ${v6.client.localPort}) { family local { address } verdict { direction certain } } }`)).data.connections;
    assert.deepEqual(six, [{ family: 'IPV6', local: { address: '::1' }, verdict: { direction: 'INBOUND', certain: true } }]);
    const mapped = (await gql(`{ connections(localPort: ${dual.port}, remotePort: ${dual.client.localPort}) { family local { address } verdict { direction evidence { detail } } } }`)).data.connections;
    assert.equal(mapped.length, 1);
    assert.equal(mapped[0].local.address, '::ffff:127.0.0.1');
    assert.equal(mapped[0].verdict.direction, 'INBOUND');
    const v = await gql(`query($lp: Int!, $rp: Int!) { verdict(localAddress: "127.0.0.1", localPort: $lp, remoteAddress: "127.0.0.1", remotePort: $rp) { direction certain } }`, {
      lp: dual.port, rp: dual.client.localPort,
    });
    assert.deepEqual(v.data.verdict, { direction: 'INBOUND', certain: true });
    const none = await gql(`{ verdict(localAddress: "127.0.0.1", localPort: 1, remoteAddress: "127.0.0.1", remotePort: 2) { direction } }`);
    assert.equal(none.data.verdict, null);
  });

  test('filters: direction, minConfidence, state, listeners(port), connectionCount agree with connections', async () => {
    const q = await gql(`{ inbound: connections(port: ${v4.port}, direction: INBOUND) { id } sure: connections(port: ${v4.port}, minConfidence: 1) { id }
      none: connections(port: ${v4.port}, state: TIME_WAIT) { id } count: connectionCount(port: ${v4.port})
      listeners(port: ${v4.port}) { family local { address port } dualStack connections { id } } dual: listeners(port: ${dual.port}) { dualStack } }`);
    assert.equal(q.errors, undefined);
    // The whole table in a request of its own: with 100k sockets on the host it is the request's
    // whole row budget.
    const all = await gql('{ all: connections(limit: 100000) { id state } }');
    assert.equal(all.errors, undefined);
    q.data.all = all.data.all;
    assert.equal(q.data.inbound.length, 1);
    assert.equal(q.data.sure.length, 2);
    assert.equal(q.data.none.length, 0);
    assert.equal(q.data.count, 2);
    assert.ok(q.data.all.every((c: any) => c.state !== 'LISTEN'));
    assert.equal(new Set(q.data.all.map((c: any) => c.id)).size, q.data.all.length, 'no connection listed twice');
    assert.deepEqual(q.data.listeners.map((l: any) => [l.family, l.local.port, l.dualStack, l.connections.length]), [['IPV4', v4.port, false, 1]]);
    assert.deepEqual(q.data.dual, [{ dualStack: true }]);
  });

  test('summary.byState: per state, the counts connectionCount gives for that state and direction', async () => {
    const q = await gql(`{ summary { total inbound outbound unknown byState { state total inbound outbound unknown } }
      in: connectionCount(state: ESTABLISHED, direction: INBOUND) out: connectionCount(state: ESTABLISHED, direction: OUTBOUND)
      unk: connectionCount(state: ESTABLISHED, direction: UNKNOWN) all: connectionCount(state: ESTABLISHED) }`);
    assert.equal(q.errors, undefined);
    const s = q.data.summary;
    const est = s.byState.find((r: any) => r.state === 'ESTABLISHED');
    assert.ok(est && est.total >= 6, JSON.stringify(s.byState)); // three loopback pairs at least
    assert.deepEqual([est.total, est.inbound, est.outbound, est.unknown], [q.data.all, q.data.in, q.data.out, q.data.unk]);
    for (const k of ['total', 'inbound', 'outbound', 'unknown']) assert.equal(s.byState.reduce((n: number, r: any) => n + r[k], 0), s[k], k);
    assert.ok(s.byState.every((r: any) => r.total > 0 && r.state !== 'LISTEN'), 'only states that have connections');
  });

  test('every REST route returns exactly the GraphQL data', async () => {
    const pairs: Array<[string, string, string]> = [
      [`/api/v1/connections?port=${v4.port}&direction=inbound`, `{ connections(port: ${v4.port}, direction: INBOUND) { ${CONN} } }`, 'connections'],
      [`/api/v1/connections?localPort=${v6.port}&limit=5&offset=0&minConfidence=0.5`, `{ connections(localPort: ${v6.port}, limit: 5, offset: 0, minConfidence: 0.5) { ${CONN} } }`, 'connections'],
      [`/api/v1/connection-count?port=${v4.port}`, `{ connectionCount(port: ${v4.port}) }`, 'connectionCount'],
      [`/api/v1/listeners?port=${dual.port}`, `{ listeners(port: ${dual.port}) { id family local { address port } dualStack netns } }`, 'listeners'],
      [`/api/v1/verdict?local=[::1]:${v6.port}&remote=[::1]:${v6.client.localPort}`, `{ verdict(localAddress: "::1", localPort: ${v6.port}, remoteAddress: "::1", remotePort: ${v6.client.localPort}) { direction confidence inboundProbability certain evidence { rule favors weight detail conclusive } } }`, 'verdict'],
      ['/api/v1/summary?minConfidence=0.9', '{ summary(minConfidence: 0.9) { total inbound outbound unknown byState { state total inbound outbound unknown } } }', 'summary'],
      ['/api/v1/host', '{ host { source fallbackReason collectedAt ephemeralPortRange { low high } reservedPorts { low high } netns kernelEvidence { available code reason tracepoint } conntrack { available code reason entries events lostEvents } socketCount history { mode intervalMs caveat } } }', 'host'],
      ['/api/v1/tracked-flows?limit=5', `{ trackedFlows(limit: 5) { netns opener { address port } destination { address port } ${NAT} state origin openerConfidence id } }`, 'trackedFlows'],
    ];
    for (const [url, query, field] of pairs) {
      const rest = await request(tcpdir.server).get(url).expect(200);
      const g = await gql(query);
      assert.equal(g.errors, undefined, url);
      assert.deepEqual(rest.body, g.data[field], url);
    }
    const one = (await gql(`{ connections(localPort: ${v4.port}) { id } }`)).data.connections[0].id;
    const byId = await request(tcpdir.server).get(`/api/v1/connections/${encodeURIComponent(one)}`).expect(200);
    assert.deepEqual(byId.body, (await gql(`{ connection(id: "${one}") { ${CONN} } }`)).data.connection);
    assert.equal(byId.body.verdict.direction, 'INBOUND');
    const host = await request(tcpdir.server).get('/api/v1/host').expect(200);
    assert.match(host.body.source, /^(EBPF|NETLINK|PROCFS)$/);
    assert.equal(new Date(host.body.collectedAt).toISOString(), host.body.collectedAt);
    assert.ok(host.body.ephemeralPortRange.low > 0);
    const namespaces = await request(tcpdir.server).get('/api/v1/namespaces').expect(200);
    assert.ok(namespaces.body.length >= 1);
    for (const ns of namespaces.body) assert.match(ns.source, /^(EBPF|NETLINK|PROCFS|NONE)$/, ns.id);
  });

  test('bad GraphQL input: BAD_USER_INPUT naming the argument', async () => {
    const cases: Array<[string, string]> = [
      ['{ connections(port: 70000) { id } }', 'port'],
      ['{ connections(localPort: -1) { id } }', 'localPort'],
      ['{ connectionCount(remotePort: 65536) }', 'remotePort'],
      ['{ connections(minConfidence: 1.5) { id } }', 'minConfidence'],
      ['{ summary(minConfidence: -0.1) { total } }', 'minConfidence'],
      ['{ connections(limit: -1) { id } }', 'limit'],
      ['{ connections(limit: 100001) { id } }', 'limit'],
      ['{ connections(offset: -5) { id } }', 'offset'],
      ['{ verdict(localAddress: "999.1.1.1", localPort: 1, remoteAddress: "::1", remotePort: 2) { direction } }', 'localAddress'],
      ['{ verdict(localAddress: "::1", localPort: 1, remoteAddress: "not-an-ip", remotePort: 2) { direction } }', 'remoteAddress'],
      ['{ listeners(port: 123456) { id } }', 'port'],
      ['{ connections(state: LISTEN) { id } }', 'state'],
      ['{ connectionCount(state: LISTEN) }', 'state'],
    ];
    for (const [query, parameter] of cases) {
      const res = await request(tcpdir.server).post('/graphql').send({ query });
      assert.ok(res.status < 500, `${query} -> ${res.status}`);
      assert.equal(res.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', `${query}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.errors[0].extensions.parameter, parameter, query);
    }
    const wrongType = await request(tcpdir.server).post('/graphql').send({ query: '{ connections(port: "x") { id } }' });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    const wrongVar = await request(tcpdir.server).post('/graphql').send({ query: 'query($p: Int) { connections(port: $p) { id } }', variables: { p: 'x' } });
    assert.equal(wrongVar.body.errors[0].extensions.code, 'BAD_USER_INPUT');
  });

  test('partial results: a bad argument nulls its field only; invalid documents and variables fail whole', async () => {
    const part = await request(tcpdir.server).post('/graphql')
      .send({ query: `{ bad: connections(port: 70000) { id } good: connections(port: ${v4.port}) { id } count: connectionCount(port: ${v4.port}) host { source } }` });
    assert.equal(part.status, 200);
    assert.equal(part.body.data.bad, null);
    assert.equal(part.body.data.good.length, 2);
    assert.equal(part.body.data.count, 2);
    assert.match(part.body.data.host.source, /^(EBPF|NETLINK|PROCFS)$/);
    assert.deepEqual(part.body.errors.map((e: any) => [e.path, e.extensions.code, e.extensions.parameter]), [[['bad'], 'BAD_USER_INPUT', 'port']]);
    // Nested: the listener is answered, its connections list alone is null.
    const nested = await request(tcpdir.server).post('/graphql').send({ query: `{ listeners(port: ${v4.port}) { local { port } connections(limit: -1) { id } } }` });
    assert.deepEqual(nested.body.data.listeners, [{ local: { port: v4.port }, connections: null }]);
    assert.deepEqual(nested.body.errors[0].path, ['listeners', 0, 'connections']);
    // Fields that take arguments are nullable, counts and tracked flows too: a bad one nulls only itself.
    const counts = await request(tcpdir.server).post('/graphql')
      .send({ query: `{ listeners(port: ${v4.port}) { local { port } connectionCount(minConfidence: 2) remoteAddresses(limit: 0) { address } } trackedFlows(limit: -1) { id } host { source } }` });
    assert.equal(counts.status, 200);
    assert.deepEqual(counts.body.data.listeners, [{ local: { port: v4.port }, connectionCount: null, remoteAddresses: null }]);
    assert.equal(counts.body.data.trackedFlows, null);
    assert.match(counts.body.data.host.source, /^(EBPF|NETLINK|PROCFS)$/);
    assert.deepEqual(counts.body.errors.map((e: any) => [e.path.join('.'), e.extensions.parameter]).sort(),
      [['listeners.0.connectionCount', 'minConfidence'], ['listeners.0.remoteAddresses', 'limit'], ['trackedFlows', 'limit']]);
    // A document that fails validation, or variables that cannot be coerced, run nothing (400).
    for (const [query, variables] of [[`{ bad: connections(port: "x") { id } host { source } }`, undefined], [`query($p: Int) { bad: connections(port: $p) { id } host { source } }`, { p: 'x' }]] as const) {
      const whole = await request(tcpdir.server).post('/graphql').send({ query, variables });
      assert.equal(whole.status, 400, query);
      assert.equal(whole.body.data, undefined, query);
    }
  });

  test('bad REST input: 400 with {error: {code, message, parameter}}', async () => {
    const cases: Array<[string, string]> = [
      ['/api/v1/connections?port=abc', 'port'],
      ['/api/v1/connections?port=70000', 'port'],
      ['/api/v1/connections?port=1&port=2', 'port'],
      ['/api/v1/connections?minConfidence=NaN', 'minConfidence'],
      ['/api/v1/connections?minConfidence=2', 'minConfidence'],
      ['/api/v1/connections?limit=-1', 'limit'],
      ['/api/v1/connections?offset=-1', 'offset'],
      ['/api/v1/connections?direction=sideways', 'direction'],
      ['/api/v1/connections?state=OPEN', 'state'],
      ['/api/v1/connections?state=listen', 'state'],
      ['/api/v1/connection-count?state=LISTEN', 'state'],
      ['/api/v1/connections?bogus=1', 'bogus'],
      ['/api/v1/tracked-flows?limit=-1', 'limit'],
      ['/api/v1/tracked-flows?netns=no-such-namespace', 'netns'],
      ['/api/v1/connections?port=99999999999999', 'port'],
      ['/api/v1/verdict?local=1.2.3.4&remote=1.2.3.4:5', 'local'],
      ['/api/v1/verdict?local=1.2.3.4:5', 'remote'],
      ['/api/v1/verdict?local=1.2.3.999:5&remote=1.2.3.4:5', 'local'],
      ['/api/v1/verdict?local=[::1]:99999&remote=1.2.3.4:5', 'local'],
      ['/api/v1/verdict?local=1.2.3.4:5&remote=not-an-ip:5', 'remote'],
      ['/api/v1/summary?minConfidence=abc', 'minConfidence'],
    ];
    for (const [url, parameter] of cases) {
      const res = await request(tcpdir.server).get(url);
      assert.equal(res.status, 400, `${url}: ${res.status} ${res.text}`);
      assert.equal(res.body.error.parameter, parameter, url);
      assert.equal(typeof res.body.error.message, 'string');
      assert.equal(typeof res.body.error.code, 'string');
    }
    const missing = await request(tcpdir.server).get('/api/v1/connections/no-such-id').expect(404);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    const gone = await request(tcpdir.server).get('/api/v1/verdict?local=127.0.0.1:1&remote=127.0.0.1:2').expect(404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
    await request(tcpdir.server).get('/api/v1/nothing').expect(404);
  });

  test('enum values are accepted in any case on REST', async () => {
    const a = await request(tcpdir.server).get(`/api/v1/connections?port=${v4.port}&direction=Outbound&state=established`).expect(200);
    assert.equal(a.body.length, 1);
    assert.equal(a.body[0].verdict.direction, 'OUTBOUND');
  });

  test('query depth is limited', async () => {
    const deep = `{ connections { ${'peer { '.repeat(12)}id${' }'.repeat(12)} } }`;
    const res = await request(tcpdir.server).post('/graphql').send({ query: deep });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(res.body.errors[0].message, /depth/i);
    assert.doesNotMatch(res.body.errors[0].message, /syntax/i, 'a deep document is well formed');
  });

  test('/healthz, /metrics and /api/openapi.json', async () => {
    assert.deepEqual((await request(tcpdir.server).get('/healthz').expect(200)).body, { status: 'ok' });
    const m = await request(tcpdir.server).get('/metrics').expect(200);
    assert.match(m.text, /^tcpdir_snapshot_duration_seconds_count \d+/m);
    assert.match(m.text, /^tcpdir_sockets\{state="ESTABLISHED"\} \d+/m);
    assert.match(m.text, /^tcpdir_connections\{direction="INBOUND",certain="true"\} \d+/m);
    assert.match(m.text, /^tcpdir_http_request_duration_seconds_count\{/m);
    const o = await request(tcpdir.server).get('/api/openapi.json').expect(200);
    assert.equal(o.body.openapi, '3.1.0');
    for (const p of ['/api/v1/connections', '/api/v1/connections/{id}', '/api/v1/listeners', '/api/v1/verdict', '/api/v1/summary', '/api/v1/host']) {
      assert.ok(o.body.paths[p], p);
    }
  });

  test('a body over the limit is refused with 413, not a crash', async () => {
    const res = await request(tcpdir.server).post('/graphql').send({ query: `{ host { source } }`, pad: 'x'.repeat(100_000) });
    assert.equal(res.status, 413);
    assert.equal((await request(tcpdir.server).get('/healthz')).status, 200);
  });
});
