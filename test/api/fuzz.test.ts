import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getNamedType, isNonNullType, isObjectType, type GraphQLArgument, type GraphQLField } from 'graphql';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';
import { tcpdirSchema } from '../../src/server';
import { REST_ROUTES } from '../../src/server/rest';
import { openPair } from '../helpers/sockets';

const RUNS = { numRuns: 200 };

/** Every argument of the API: Query fields, and Listener.connections (reached through listeners). */
interface Target { field: string; arg: GraphQLArgument; others: GraphQLArgument[]; selection: string; viaListener: boolean }

const VALID: Record<string, string> = { localAddress: '"127.0.0.1"', remoteAddress: '"127.0.0.1"', localPort: '1', remotePort: '2', id: '"x"' };

async function targets(): Promise<Target[]> {
  const schema = await tcpdirSchema();
  const out: Target[] = [];
  const add = (f: GraphQLField<unknown, unknown>, viaListener: boolean) => {
    const t = getNamedType(f.type);
    const selection = isObjectType(t) ? '{ __typename }' : '';
    for (const arg of f.args) out.push({ field: f.name, arg, others: f.args.filter((a) => a !== arg && isNonNullType(a.type)), selection, viaListener });
  };
  for (const f of Object.values(schema.getQueryType()!.getFields())) add(f as GraphQLField<unknown, unknown>, false);
  const listener = schema.getType('Listener');
  assert.ok(isObjectType(listener));
  add(listener.getFields().connections as GraphQLField<unknown, unknown>, true);
  return out;
}

function wrap(t: Target, call: string): string {
  return t.viaListener ? `{ listeners { ${call} } }` : `{ ${call} }`;
}

const nested = (d: number): unknown => (d === 0 ? 1 : { a: nested(d - 1) });

/** Hostile JSON values for variables (NaN and Infinity become null in JSON, which is also hostile). */
const jsonValue = fc.oneof(
  fc.integer(), fc.double(), fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1e308, -0, 0.5, 5e-324, 65536, -1, 100001),
  fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ minLength: 1000, maxLength: 20_000 }), fc.boolean(), fc.constant(null),
  fc.integer({ min: 1, max: 300 }).map(nested), fc.array(fc.integer(), { maxLength: 20 }), fc.jsonValue({ maxDepth: 6 }),
  fc.constantFrom('INBOUND', 'inbound', 'ESTABLISHED', '::1', '127.0.0.1', '\u0000', '\uD800', '१२३', 'x'.repeat(100)),
);

/** Hostile GraphQL literals, as source text. */
const literal = fc.oneof(
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.constantFrom('1e400', '-1e400', '0.5', '-0', '2147483648', '-2147483649', 'NaN', 'Infinity', 'null', 'true', 'INBOUND', 'LISTEN', '[]', '[1, [2, [3]]]', '{}', '$undefinedVar'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Number.isInteger(d) ? `${d}.0` : String(d).replace('+', ''))),
  fc.string({ maxLength: 60 }).map((s) => JSON.stringify(s)),
  fc.string({ minLength: 1000, maxLength: 20_000 }).map((s) => JSON.stringify(s)),
  fc.integer({ min: 1, max: 200 }).map((d) => `${'{a: '.repeat(d)}1${'}'.repeat(d)}`),
  fc.integer({ min: 1, max: 200 }).map((d) => `${'['.repeat(d)}1${']'.repeat(d)}`),
);

describe('fuzzed input never yields a 500, and errors name the input', () => {
  let tcpdir: TcpdirServer;
  let pair: Awaited<ReturnType<typeof openPair>>;
  let all: Target[];
  before(async () => {
    pair = await openPair('127.0.0.1');
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, recordHistory: { path: ':memory:' } });
    all = await targets();
  });
  after(async () => {
    await tcpdir.close();
    await pair.close();
  });

  /** Sends a query; checks the answer is data or a coded error that points at `arg`. */
  async function check(query: string, variables: Record<string, unknown> | undefined, arg: string, literalSpan?: [number, number]): Promise<void> {
    const res = await request(tcpdir.server).post('/graphql').send({ query, variables });
    const ctx = `${query.slice(0, 300)} ${JSON.stringify(variables)?.slice(0, 200)} -> ${res.status} ${res.text.slice(0, 400)}`;
    assert.ok(res.status === 200 || res.status === 400, ctx);
    const errors = res.body.errors as Array<{ message: string; locations?: { line: number; column: number }[]; extensions?: Record<string, unknown> }> | undefined;
    if (!errors) {
      assert.ok(res.body.data, ctx);
      return;
    }
    for (const e of errors) {
      assert.equal(typeof e.extensions?.code, 'string', ctx);
      assert.notEqual(e.extensions!.code, 'INTERNAL_SERVER_ERROR', ctx);
    }
    const e = errors[0];
    if (e.extensions!.code === 'BAD_USER_INPUT' && typeof e.extensions!.parameter === 'string') {
      assert.equal(e.extensions!.parameter, arg, ctx);
    } else if (variables) {
      assert.ok(e.message.includes(`$${arg}`), ctx);
    } else {
      // Literal errors name the type; their location points into the argument's value.
      const col = e.locations?.[0]?.column;
      assert.ok(e.message.includes(arg) || (col !== undefined && col - 1 >= literalSpan![0] && col - 1 <= literalSpan![1]), ctx);
    }
  }

  test('every argument, each given a set of hostile values (variables and literals)', async () => {
    const values: unknown[] = [2 ** 31, -1, 1e308, 0.5, 'x'.repeat(5000), '\uD800', true, null, nested(50), [1], {}];
    const literals = ['2147483648', '-1', '1e400', '0.5', '"x"', 'NaN', 'true', '[1]', '{a: {a: 1}}', '"\\u0000"'];
    for (const t of all) {
      for (const v of values) await sendVariable(t, v);
      for (const l of literals) await sendLiteral(t, l);
    }
  });

  async function sendVariable(t: Target, v: unknown): Promise<void> {
    const others = t.others.map((o) => `${o.name}: ${VALID[o.name]}`);
    const call = `${t.field}(${[`${t.arg.name}: $${t.arg.name}`, ...others].join(', ')}) ${t.selection}`;
    await check(`query($${t.arg.name}: ${String(t.arg.type)}) ${wrap(t, call)}`, { [t.arg.name]: v }, t.arg.name);
  }

  async function sendLiteral(t: Target, l: string): Promise<void> {
    const others = t.others.map((o) => `${o.name}: ${VALID[o.name]}`);
    const head = `${t.viaListener ? '{ listeners { ' : '{ '}${t.field}(${t.arg.name}: `;
    const query = `${head}${l}${others.length ? `, ${others.join(', ')}` : ''}) ${t.selection}${t.viaListener ? ' } }' : ' }'}`;
    await check(query, undefined, t.arg.name, [head.length, head.length + l.length]);
  }

  test('property: random hostile variables for a random argument', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...all), jsonValue, (t, v) => sendVariable(t, v)), RUNS);
  });

  test('property: random hostile inline literals for a random argument', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...all), literal, (t, l) => sendLiteral(t, l)), RUNS);
  });

  test('repeated and unknown arguments are validation errors naming them', async () => {
    const rep = await request(tcpdir.server).post('/graphql').send({ query: '{ connections(port: 1, port: 2) { id } }' });
    assert.equal(rep.status, 400);
    assert.match(rep.body.errors[0].message, /"port"/);
    const unknown = await request(tcpdir.server).post('/graphql').send({ query: '{ connections(bogus: 1) { id } }' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.errors[0].message, /"bogus"/);
  });

  // REST: every route and parameter, values as raw percent-encoded bytes (so invalid UTF-8 too).
  const restTargets = REST_ROUTES.flatMap((r) => Object.keys(r.params).map((p) => ({ route: r, param: p })));
  const VALID_REST: Record<string, string> = { local: '127.0.0.1:1', remote: '127.0.0.1:2' };
  const rawValue = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
    fc.constantFrom('NaN', 'Infinity', '-0', '1e400', '0x10', '1_000', ' 1', '', '%', '%zz', '[::1]:1', '1.2.3.4:99999', 'x'.repeat(6000)),
    fc.double().map(String),
  );

  async function checkRest(url: string, param: string): Promise<void> {
    const res = await request(tcpdir.server).get(url);
    const ctx = `${url.slice(0, 300)} -> ${res.status} ${res.text.slice(0, 300)}`;
    // Node's HTTP parser refuses request heads over 16 KiB itself (431), before tcpdir sees them.
    assert.ok([200, 400, 404].includes(res.status) || (res.status === 431 && url.length > 16_000), ctx);
    if (res.status === 400) {
      assert.equal(typeof res.body.error?.code, 'string', ctx);
      assert.equal(typeof res.body.error.message, 'string', ctx);
      // Errors name the REST parameter (verdict's local, not the localAddress it becomes).
      assert.ok(typeof res.body.error.parameter === 'string' && res.body.error.parameter === param.slice(0, 40), ctx);
    }
  }

  test('property: REST parameters get random bytes, huge numbers, junk; given once, twice, or under a random name', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...restTargets), rawValue, fc.integer({ min: 1, max: 3 }), async ({ route, param }, v, times) => {
      const fixed = Object.entries(VALID_REST).filter(([k]) => k in route.params && k !== param).map(([k, x]) => `${k}=${x}`);
      const qs = [...Array.from({ length: times }, () => `${param}=${v}`), ...fixed].join('&');
      await checkRest(`${route.path}?${qs}`, param);
    }), RUNS);
    await fc.assert(fc.asyncProperty(fc.constantFrom(...REST_ROUTES.filter((r) => !r.path.includes(':'))), fc.string({ minLength: 1, maxLength: 60 }), async (route, name) => {
      fc.pre(!(name in route.params) && !name.includes('[') && name !== '__proto__');
      await checkRest(`${route.path}?${encodeURIComponent(name)}=1`, name);
    }), RUNS);
  });

  test('property: random connection ids in the path: 404, 400 or 414 (over 200 characters), never 500', async () => {
    await fc.assert(fc.asyncProperty(rawValue, async (v) => {
      const res = await request(tcpdir.server).get(`/api/v1/connections/${v}`);
      assert.ok([400, 404, 414].includes(res.status), `${v.slice(0, 100)} -> ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(typeof res.body.error?.code, 'string');
    }), RUNS);
  });
});
