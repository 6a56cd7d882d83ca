import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApolloServer } from '@apollo/server';
import { getNamedType, introspectionFromSchema, isEnumType, isNonNullType, isObjectType, specifiedScalarTypes, type GraphQLObjectType } from 'graphql';
import { requestContext, type RequestContext } from '../../src/resolvers';
import { tcpdirSchema } from '../../src/server';
import { schemaSdl } from '../../src/server/emit-schema';
import { formatError } from '../../src/server/errors';
import { TcpdirService } from '../../src/service';
import { listen, snap, sock } from '../helpers/fake-snapshot';

// A fixture host: sshd with one client, a loopback pair on 8080, one outbound HTTPS connection.
function fixture() {
  const ssh = listen('0.0.0.0', 22, { inode: 10 });
  const sshIn = sock({ localAddress: '10.0.0.1', localPort: 22, remoteAddress: '10.0.0.9', remotePort: 51000, inode: 11 });
  const web = listen('::', 8080, { inode: 20 });
  const webIn = sock({ localAddress: '::ffff:127.0.0.1', localPort: 8080, remoteAddress: '::ffff:127.0.0.1', remotePort: 40001, family: 'IPV6', inode: 21 });
  const webOut = sock({ localAddress: '127.0.0.1', localPort: 40001, remoteAddress: '127.0.0.1', remotePort: 8080, inode: 22 });
  const https = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '93.184.216.34', remotePort: 443, inode: 30 });
  const tw = sock({ localAddress: '10.0.0.1', localPort: 45001, remoteAddress: '93.184.216.34', remotePort: 443, inode: 0, state: 'TIME_WAIT' });
  return { sockets: [ssh, sshIn, web, webIn, webOut, https, tw], sshIn, webIn, webOut, https, tw };
}

async function setup() {
  const f = fixture();
  const service = new TcpdirService({
    collect: async () => snap(f.sockets),
    resolveProcesses: async () => new Map([[11, [{ pid: 7, command: 'sshd' }]], [10, [{ pid: 7, command: 'sshd' }]]]),
    maxAgeMs: 60_000,
  });
  const apollo = new ApolloServer<RequestContext>({ schema: await tcpdirSchema(), formatError: (fe, e) => formatError(fe, e, () => undefined) });
  const run = async (query: string, variables?: Record<string, unknown>) => {
    const res = await apollo.executeOperation({ query, variables }, { contextValue: requestContext(service) });
    assert.equal(res.body.kind, 'single');
    // executeOperation returns null-prototype objects; compare plain JSON as a client sees it.
    return JSON.parse(JSON.stringify((res.body as { singleResult: object }).singleResult)) as { data?: any; errors?: any[] };
  };
  return { f, run };
}

test('connections resolve verdicts, processes, peer and listener from the snapshot', async () => {
  const { f, run } = await setup();
  const r = await run('{ connections { id state local { address port } verdict { direction certain } processes { pid command } peer { id } listener { local { port } dualStack } } }');
  assert.equal(r.errors, undefined);
  const byId = new Map(r.data.connections.map((c: any) => [c.id, c]));
  assert.equal(byId.size, 5, 'LISTEN sockets are not connections');
  const ssh: any = byId.get(f.sshIn.id);
  assert.equal(ssh.verdict.direction, 'INBOUND');
  assert.deepEqual(ssh.processes, [{ pid: 7, command: 'sshd' }]);
  assert.deepEqual(ssh.listener, { local: { port: 22 }, dualStack: false });
  const webIn: any = byId.get(f.webIn.id);
  assert.deepEqual([webIn.verdict.direction, webIn.verdict.certain, webIn.peer.id], ['INBOUND', true, f.webOut.id]);
  assert.equal(webIn.listener.dualStack, true);
  const webOut: any = byId.get(f.webOut.id);
  assert.deepEqual([webOut.verdict.direction, webOut.verdict.certain], ['OUTBOUND', true]);
  assert.equal(byId.get(f.https.id) && (byId.get(f.https.id) as any).verdict.direction, 'OUTBOUND');
  assert.deepEqual((byId.get(f.tw.id) as any).processes, []);
});

test('filters, paging, counts, summary and host', async () => {
  const { f, run } = await setup();
  const r = await run(`{ out: connections(direction: OUTBOUND) { id } p443: connections(port: 443) { id } rp: connections(remotePort: 443, state: TIME_WAIT) { id }
    page: connections(limit: 2, offset: 1) { id } n: connectionCount(minConfidence: 0.99) all: connectionCount
    summary { total inbound outbound unknown } strict: summary(minConfidence: 1) { total inbound outbound unknown }
    host { source ephemeralPortRange { low high } socketCount } listeners { local { port } } l22: listeners(port: 22) { connections(direction: INBOUND) { id } } }`);
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  const d = r.data;
  assert.ok(d.out.some((c: any) => c.id === f.https.id) && d.out.some((c: any) => c.id === f.webOut.id));
  assert.deepEqual(d.p443.map((c: any) => c.id).sort(), [f.https.id, f.tw.id].sort());
  assert.deepEqual(d.rp.map((c: any) => c.id), [f.tw.id]);
  assert.equal(d.page.length, 2);
  assert.equal(d.all, 5);
  assert.equal(d.summary.total, 5);
  assert.equal(d.summary.inbound + d.summary.outbound + d.summary.unknown, 5);
  assert.deepEqual(d.strict, { total: 5, inbound: 1, outbound: 1, unknown: 3 }); // only the certain loopback pair
  assert.deepEqual(d.host, { source: 'NETLINK', ephemeralPortRange: { low: 32768, high: 60999 }, socketCount: 7 });
  assert.deepEqual(d.listeners.map((l: any) => l.local.port).sort(), [22, 8080]);
  assert.deepEqual(d.l22, [{ connections: [{ id: f.sshIn.id }] }]);
});

test('verdict() by 4-tuple, IPv4 text for a mapped socket, null when absent; connection(id)', async () => {
  const { f, run } = await setup();
  const r = await run(`{ a: verdict(localAddress: "127.0.0.1", localPort: 8080, remoteAddress: "127.0.0.1", remotePort: 40001) { direction certain }
    b: verdict(localAddress: "10.0.0.1", localPort: 1, remoteAddress: "10.0.0.9", remotePort: 2) { direction }
    c: connection(id: "${f.https.id}") { remote { port } } d: connection(id: "nope") { id } }`);
  assert.equal(r.errors, undefined);
  assert.deepEqual(r.data.a, { direction: 'INBOUND', certain: true });
  assert.equal(r.data.b, null);
  assert.deepEqual(r.data.c, { remote: { port: 443 } });
  assert.equal(r.data.d, null);
});

test('bad arguments are BAD_USER_INPUT with the parameter named', async () => {
  const { run } = await setup();
  const r = await run('{ connections(port: 65536) { id } }');
  assert.equal(r.errors?.[0].extensions.code, 'BAD_USER_INPUT');
  assert.equal(r.errors?.[0].extensions.parameter, 'port');
});

test('the committed schema.graphql is the schema the code builds', async () => {
  const committed = readFileSync(resolve(__dirname, '..', '..', '..', 'schema.graphql'), 'utf8');
  assert.equal(committed, await schemaSdl(), 'run `npm run schema` and commit schema.graphql');
});

test('every query field that takes arguments is nullable: a bad argument nulls that field only (partial results)', async () => {
  const schema = await tcpdirSchema();
  const nonNull: string[] = [];
  for (const t of Object.values(schema.getTypeMap())) {
    if (t.name.startsWith('__') || !isObjectType(t) || t === schema.getSubscriptionType()) continue;
    for (const f of Object.values(t.getFields())) if (f.args.length && isNonNullType(f.type)) nonNull.push(`${t.name}.${f.name}: ${String(f.type)}`);
  }
  assert.deepEqual(nonNull, []);
});

test('fields with a closed set of values are enums (sources, conntrack side and origin), not strings', async () => {
  const schema = await tcpdirSchema();
  const kinds = ['Host.source', 'Netns.source', 'ConntrackFacts.side', 'ConntrackFacts.origin', 'TrackedFlow.origin'].map((f) => {
    const [type, field] = f.split('.');
    const t = getNamedType((schema.getType(type) as GraphQLObjectType).getFields()[field].type);
    return `${f}: ${isEnumType(t) ? 'enum' : t.name}`;
  });
  assert.deepEqual(kinds, kinds.map((k) => `${k.split(':')[0]}: enum`));
});

test('every type, field, argument and enum value of the schema has a description', async () => {
  const { __schema } = introspectionFromSchema(await tcpdirSchema());
  const builtIn = new Set(specifiedScalarTypes.map((t) => t.name));
  const missing: string[] = [];
  const check = (what: string, d: string | null | undefined) => {
    if (!d?.trim()) missing.push(what);
  };
  for (const t of __schema.types) {
    if (t.name.startsWith('__') || builtIn.has(t.name)) continue;
    // The root operation types are described by their fields.
    if (![__schema.queryType.name, __schema.mutationType?.name, __schema.subscriptionType?.name].includes(t.name)) check(t.name, t.description);
    if (t.kind === 'OBJECT' || t.kind === 'INTERFACE') {
      for (const f of t.fields) {
        check(`${t.name}.${f.name}`, f.description);
        for (const a of f.args) check(`${t.name}.${f.name}(${a.name})`, a.description);
      }
    }
    if (t.kind === 'INPUT_OBJECT') for (const f of t.inputFields) check(`${t.name}.${f.name}`, f.description);
    if (t.kind === 'ENUM') for (const v of t.enumValues) check(`${t.name}.${v.name}`, v.description);
  }
  assert.deepEqual(missing, [], `without a description: ${missing.join(', ')}`);
});
