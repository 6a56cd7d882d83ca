// /api/openapi.json as a contract: real answers of every route (a real server on real sockets,
// history on in ':memory:') are validated against the document with ajv; every route the server
// has is in it and the other way round; parameters' ranges, enums and required-ness are what the
// server enforces; parameter examples answer 200; @redocly/cli lints it with 0 problems; and a
// client generated from it with openapi-typescript type-checks against real answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';
import { openPair } from '../helpers/sockets';

const ROOT = resolve(__dirname, '..', '..', '..');

type Json = any;
interface Op { path: string; method: string; op: Json }

/** The verdict route's example endpoints, made real inside a namespace of the test's own. */
const EXAMPLE_LOCAL = { address: '127.0.0.1', port: 8080 };
const EXAMPLE_REMOTE = { address: '127.0.0.1', port: 51000 };

function exampleConnectionInNetns(): { ns: string; child: ChildProcess; ready: Promise<void>; close(): void } {
  const ns = `tcpdir-oa-${randomBytes(3).toString('hex')}`;
  for (const args of [['netns', 'add', ns], ['-n', ns, 'link', 'set', 'lo', 'up']]) {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  }
  const script = `const net = require('net');
    const s = net.createServer(() => {}).listen(${EXAMPLE_LOCAL.port}, '${EXAMPLE_LOCAL.address}', () => {
      const c = net.connect({ port: ${EXAMPLE_LOCAL.port}, host: '${EXAMPLE_LOCAL.address}', localAddress: '${EXAMPLE_REMOTE.address}', localPort: ${EXAMPLE_REMOTE.port} }, () => console.log('ready'));
    });
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => (d.toString().includes('ready') ? res() : undefined));
    child.once('exit', (code) => rej(new Error(`the example connection's process exited (${code})`)));
  });
  return {
    ns, child, ready,
    close() {
      child.kill();
      spawnSync('ip', ['netns', 'del', ns]);
    },
  };
}

describe('OpenAPI contract', () => {
  let tcpdir: TcpdirServer;
  let doc: Json;
  let pair: Awaited<ReturnType<typeof openPair>>;
  let example: ReturnType<typeof exampleConnectionInNetns>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const validators = new Map<string, ReturnType<typeof ajv.compile>>();
  /** Statuses each operation was seen to answer, to check every documented one is exercised. */
  const seen = new Map<string, Set<string>>();

  before(async () => {
    example = exampleConnectionInNetns();
    await example.ready;
    pair = await openPair('127.0.0.1');
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: { path: ':memory:' } });
    doc = (await request(tcpdir.server).get('/api/openapi.json').expect(200)).body;
  });
  after(async () => {
    await tcpdir?.close();
    await pair?.close();
    example?.close();
  });

  /** Waits up to 15 s for `cond`; each try is a request, so with maxAgeMs 0 a snapshot too. */
  async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 150; i++) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  const operations = (): Op[] => Object.entries(doc.paths).flatMap(([path, item]: [string, Json]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

  /** Checks a real answer against the operation's documented response for its status. */
  function check(o: Op, res: { status: number; headers: Record<string, string>; body: unknown; text: string }, ctx: string): void {
    const response = o.op.responses[String(res.status)];
    assert.ok(response, `${o.method.toUpperCase()} ${o.path}: status ${res.status} is not documented (${ctx}): ${res.text.slice(0, 300)}`);
    (seen.get(`${o.method} ${o.path}`) ?? seen.set(`${o.method} ${o.path}`, new Set()).get(`${o.method} ${o.path}`)!).add(String(res.status));
    const [type, media] = Object.entries(response.content as Record<string, Json>)[0];
    assert.ok(String(res.headers['content-type']).startsWith(type), `${ctx}: content-type ${res.headers['content-type']}, documented ${type}`);
    const key = `${o.method} ${o.path} ${res.status}`;
    let v = validators.get(key);
    if (!v) validators.set(key, (v = ajv.compile({ ...media.schema, components: doc.components })));
    const body = type === 'application/json' ? res.body : res.text;
    assert.ok(v(body), `${ctx}: ${JSON.stringify(v.errors?.slice(0, 5))}\n${JSON.stringify(body).slice(0, 600)}`);
  }

  const opOf = (path: string, method = 'get'): Op => ({ path, method, op: doc.paths[path][method] });
  const concrete = (path: string, params: Record<string, string>): string => path.replace(/\{(\w+)\}/g, (_m, n: string) => encodeURIComponent(params[n]));
  const query = (q: Record<string, unknown>): string => {
    const s = Object.entries(q).map(([k, v]) => `${k}=${encodeURIComponent(Array.isArray(v) ? v.join(',') : String(v))}`).join('&');
    return s ? `?${s}` : '';
  };
  const examples = (o: Op, only?: (p: Json) => boolean): Record<string, unknown> =>
    Object.fromEntries((o.op.parameters as Json[]).filter((p) => p.in === 'query' && p.example !== undefined && (!only || only(p))).map((p) => [p.name, p.example]));

  async function get(o: Op, url: string, ctx: string, headers: Record<string, string> = {}): Promise<request.Response> {
    let r = request(tcpdir.server).get(url);
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    const res = await r;
    check(o, res, ctx);
    return res;
  }

  test('every route the server has is documented, and every documented one exists', () => {
    const served = new Set<string>();
    for (const [url, methods] of tcpdir.routes) {
      // HEAD is Fastify's own for each GET; OPTIONS is Apollo's CORS preflight of /graphql.
      // The console's page and bundles are the UI, not the API (docs/console.md).
      if (url === '/' || url === '/assets/*') continue;
      for (const m of methods) if (m !== 'HEAD' && m !== 'OPTIONS') served.add(`${m.toLowerCase()} ${url.replace(/:(\w+)/g, '{$1}')}`);
    }
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    assert.deepEqual([...served].sort(), [...documented].sort());
    for (const o of operations()) {
      assert.ok(o.op.operationId && o.op.summary && o.op.tags?.length, `${o.method} ${o.path}`);
      for (const s of ['200', ...(o.path === '/healthz' ? [] : ['401']), '429']) assert.ok(o.op.responses[s], `${o.method} ${o.path} documents ${s}`);
    }
    assert.equal(doc.info.license.identifier, 'MIT');
    assert.ok(doc.servers.length > 0);
    for (const p of ['/api/v1/history', '/api/v1/flows', '/api/v1/history/gaps', '/api/v1/history/status', '/api/v1/events', '/healthz', '/metrics']) assert.ok(doc.paths[p], p);
    const verdict = doc.paths['/api/v1/verdict'].get.parameters as Json[];
    assert.deepEqual(verdict.filter((p: Json) => p.required).map((p: Json) => p.name).sort(), ['local', 'remote']);
    const limit = (doc.paths['/api/v1/connections'].get.parameters as Json[]).find((p) => p.name === 'limit');
    assert.deepEqual([limit.schema.default, limit.schema.minimum, limit.schema.maximum], [1000, 0, 100_000]);
  });

  test("servers names the port the server listens on, also the kernel's choice with --port 0", async () => {
    const s = await createServer({ logLevel: 'silent', service: tcpdir.service, port: 0 });
    try {
      const url = await s.listen();
      const port = Number(new URL(url).port);
      assert.ok(port > 0, url);
      const body = await new Promise<Json>((res, rej) => {
        http.get(`http://127.0.0.1:${port}/api/openapi.json`, (r) => {
          let text = '';
          r.on('data', (d) => (text += d)).on('end', () => res(JSON.parse(text)));
        }).on('error', rej);
      });
      assert.deepEqual(body.servers[0].variables.port.default, String(port));
      assert.equal(body.servers[0].variables.host.default, '127.0.0.1');
    } finally {
      await s.close();
    }
  });

  test('parameter examples answer 200, and the bodies match the 200 schemas', async () => {
    // History needs lives: one connection seen open, then closed, while the recorder runs (held
    // open until seen, so a recorder that polls, without kernel evidence, sees it too).
    const gone = await openPair('127.0.0.1');
    const lives = async () => (await request(tcpdir.server).get(`/api/v1/history?port=${gone.port}`)).body.records as Json[];
    await until(async () => (await lives()).length >= 2, 'both ends of a connection in history');
    await gone.close();
    // One end closed is enough (a polling recorder sees the TIME_WAIT end as open for a while).
    await until(async () => (await lives()).some((r) => r.closedAt !== null), 'a life closed');
    const id = (await request(tcpdir.server).get(`/api/v1/connections?localPort=${pair.port}`)).body[0].id as string;
    for (const o of operations()) {
      if (o.path === '/api/v1/events' || o.method !== 'get') continue;
      const url = concrete(o.path, { id }) + query(examples(o));
      // Headers too as the document gives them: a generated client sends only what it says.
      const headers = Object.fromEntries((o.op.parameters as Json[]).filter((p) => p.in === 'header').map((p) => [p.name, p.example]));
      const res = await get(o, url, url, headers);
      assert.equal(res.status, 200, `${url}: ${res.text.slice(0, 300)}`);
    }
    // Real content, not only empty lists: the same routes with this test's own sockets.
    const rich: Array<[string, string]> = [
      ['/api/v1/connections', `?port=${pair.port}`], ['/api/v1/connections', ''], ['/api/v1/listeners', `?port=${pair.port}`],
      ['/api/v1/verdict', `?local=127.0.0.1:${pair.port}&remote=127.0.0.1:${pair.client.localPort}`],
      ['/api/v1/history', `?port=${gone.port}`], ['/api/v1/history', ''], ['/api/v1/flows', '?groupBy=direction,localPort,minute'],
      ['/api/v1/flows', ''], ['/api/v1/history/gaps', '?since=7d'],
    ];
    for (const [path, q] of rich) {
      const res = await get(opOf(path), path + q, path + q);
      assert.equal(res.status, 200, path + q);
      if (path !== '/api/v1/history/gaps') assert.ok(JSON.stringify(res.body).length > 20, `${path + q}: ${res.text}`);
    }
    assert.ok((await request(tcpdir.server).get(`/api/v1/history?port=${gone.port}`)).body.records.length >= 2, 'both ends of the closed connection are in history');
    const post = await request(tcpdir.server).post('/graphql').send({ query: `{ connections(port: ${pair.port}) { id } bad: summary(minConfidence: 2) { total } }` });
    check(opOf('/graphql', 'post'), post, 'POST /graphql');
  });

  test('the example verdict is a real connection (in a namespace of this test): 200', async () => {
    const o = opOf('/api/v1/verdict');
    const res = await get(o, `/api/v1/verdict${query(examples(o))}`, 'verdict example');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.body.direction, res.body.certain], ['INBOUND', true], 'the example local end is the listener\'s');
  });

  test('parameters: the documented ranges, enums and required ones are what the server enforces', async () => {
    const id = (await request(tcpdir.server).get(`/api/v1/connections?localPort=${pair.port}`)).body[0].id as string;
    for (const o of operations()) {
      if (o.method !== 'get' || o.path === '/graphql') continue;
      const base = examples(o, (p) => p.required);
      const send = async (q: Record<string, unknown>): Promise<request.Response> => {
        const url = concrete(o.path, { id }) + query(q);
        // The event stream answers 200 and stays open: only its refusals are read here.
        if (o.path === '/api/v1/events') return sse(url, o);
        return get(o, url, url);
      };
      for (const p of o.op.parameters as Json[]) {
        if (p.in !== 'query') continue;
        const s = p.schema;
        const bad: unknown[] = [];
        const good: unknown[] = [];
        if (s.minimum !== undefined) good.push(s.minimum), bad.push(s.type === 'integer' ? s.minimum - 1 : s.minimum - 0.01);
        if (s.maximum !== undefined) good.push(s.maximum), bad.push(s.type === 'integer' ? s.maximum + 1 : s.maximum + 0.01);
        if (s.enum) good.push(...s.enum, s.enum[0].toLowerCase()), bad.push('NOT_A_VALUE');
        if (s.type === 'array' && s.items.enum) good.push(s.items.enum), bad.push('nope');
        if (s.pattern) bad.push('no-port-here');
        if (s.maxLength) bad.push('x'.repeat(s.maxLength + 1));
        // Any name as long as documented is taken (it matches nothing): the documented length is the enforced one.
        if (s.maxLength && p.name === 'process') good.push('x'.repeat(s.maxLength));
        for (const v of good) {
          const res = await send({ ...base, [p.name]: v });
          assert.notEqual(res.status, 400, `${o.path} ${p.name}=${v}: ${res.text.slice(0, 300)}`);
        }
        for (const v of bad) {
          const res = await send({ ...base, [p.name]: v });
          assert.equal(res.status, 400, `${o.path} ${p.name}=${String(v).slice(0, 40)} -> ${res.status}`);
          assert.equal(res.body.error.parameter, p.name);
        }
        if (p.required) {
          const { [p.name]: _gone, ...rest } = base;
          const res = await send(rest);
          assert.equal(res.status, 400, `${o.path} without ${p.name}`);
          assert.equal(res.body.error.parameter, p.name);
        }
      }
    }
  });

  test("parameters: every limit documents its default and maximum, the server's other defaults are documented, and each default is a valid value", () => {
    for (const o of operations()) {
      for (const p of (o.op.parameters ?? []) as Json[]) {
        if (p.name === 'limit') {
          assert.equal(typeof p.schema.default, 'number', `${o.path} limit: no default`);
          assert.equal(typeof p.schema.maximum, 'number', `${o.path} limit: no maximum`);
        }
        if (p.schema.default === undefined) continue;
        const { default: def, ...schema } = p.schema;
        assert.ok(ajv.validate(schema, def), `${o.path} ${p.name}: default ${JSON.stringify(def)} is not a valid value`);
      }
    }
    const param = (path: string, name: string) => (opOf(path).op.parameters as Json[]).find((p) => p.name === name);
    assert.equal(param('/api/v1/tracked-flows', 'limit').schema.default, 1000);
    assert.deepEqual(param('/api/v1/flows', 'groupBy').schema.default, ['direction', 'localPort', 'remoteAddress', 'remotePort', 'process']);
  });

  /** GET on the event stream: a refusal as a response, or the first event of a 200 stream. */
  async function sse(url: string, o: Op): Promise<request.Response> {
    const address = await listening();
    return new Promise((resolveRes, reject) => {
      http.get(`${address}${url}`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
          if (res.statusCode === 200 && text.includes('\n\n')) res.destroy();
        });
        res.on('close', () => {
          const r = { status: res.statusCode!, headers: res.headers as Record<string, string>, text, body: res.headers['content-type']?.startsWith('application/json') ? JSON.parse(text) : {} };
          check(o, r, url);
          resolveRes(r as unknown as request.Response);
        });
      }).on('error', reject);
    });
  }

  let address: string | null = null;
  async function listening(): Promise<string> {
    if (!address) {
      await new Promise<void>((r) => tcpdir.server.listen(0, '127.0.0.1', r));
      address = `http://127.0.0.1:${(tcpdir.server.address() as net.AddressInfo).port}`;
    }
    return address;
  }

  test('the event stream: each data line matches ConnectionEventData', async () => {
    const o = opOf('/api/v1/events');
    const base = await listening();
    const events: string[] = [];
    const stream = await new Promise<http.IncomingMessage>((r) => http.get(`${base}/api/v1/events`, r));
    check(o, { status: stream.statusCode!, headers: stream.headers as Record<string, string>, body: null, text: '' }, 'events');
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => events.push(d));
    const frames = (): Json[] => events.join('').split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    const p = await openPair('127.0.0.1');
    const poke = async () => void (await request(tcpdir.server).get('/api/v1/summary'));
    await until(async () => (await poke(), frames().some((f) => f.type === 'OPENED' && f.local.port === p.port)), 'OPENED');
    await p.close();
    await until(async () => (await poke(), frames().some((f) => f.type === 'CLOSED' && f.local.port === p.port)), 'CLOSED');
    stream.destroy();
    const validate = ajv.compile({ $ref: '#/components/schemas/ConnectionEventData', components: doc.components });
    for (const f of frames()) assert.ok(validate(f), `${JSON.stringify(validate.errors)} ${JSON.stringify(f)}`);
  });

  test('error answers match the documented error bodies: 400, 401, 404, 413, 414, 415, 429', async () => {
    const post = opOf('/graphql', 'post');
    const big = await request(tcpdir.server).post('/graphql').send({ query: '{ host { source } }', pad: 'x'.repeat(70 * 1024) });
    assert.equal(big.status, 413);
    check(post, big, 'body too large');
    const text = await request(tcpdir.server).post('/graphql').set('content-type', 'application/xml').send('<q/>');
    assert.equal(text.status, 415);
    check(post, text, 'xml body');
    const badJson = await request(tcpdir.server).post('/graphql').set('content-type', 'application/json').send('{x');
    assert.equal(badJson.status, 400);
    check(post, badJson, 'bad JSON');
    const invalid = await request(tcpdir.server).post('/graphql').send({ query: '{ connections(port: "x") { id } }' });
    check(post, invalid, 'invalid document');
    const csrf = await request(tcpdir.server).get('/graphql?query=%7B%20host%20%7B%20source%20%7D%20%7D');
    assert.equal(csrf.status, 400, 'a browser\'s simple GET is refused (CSRF)');
    check(opOf('/graphql'), csrf, 'GET /graphql without preflight');
    // An unknown parameter on every route that takes parameters (names an object has from its
    // prototype too), and a path that is not UTF-8.
    for (const o of operations()) {
      if (o.method !== 'get' || !o.op.responses['400'] || o.path === '/graphql') continue;
      for (const name of ['bogus', '__proto__', 'constructor', 'toString']) {
        const url = `${concrete(o.path, { id: '1' })}${query({ ...examples(o, (p) => p.required), [name]: 1 })}`;
        const res = o.path === '/api/v1/events' ? await sse(url, o) : await get(o, url, url);
        assert.equal(res.status, 400, url);
        assert.equal(res.body.error.parameter, name);
      }
    }
    check(opOf('/api/v1/connections/{id}'), await request(tcpdir.server).get('/api/v1/connections/%zz').expect(400), 'bad percent-encoding');
    check(opOf('/api/v1/connections/{id}'), await request(tcpdir.server).get(`/api/v1/connections/${'9'.repeat(300)}`).expect(414), 'long id');
    check(opOf('/api/v1/connections/{id}'), await request(tcpdir.server).get('/api/v1/connections/12345').expect(404), 'no such id');
    check(opOf('/api/v1/verdict'), await request(tcpdir.server).get('/api/v1/verdict?local=127.0.0.1:1&remote=127.0.0.1:2').expect(404), 'no such tuple');

    const off = await createServer({ logLevel: 'silent', service: tcpdir.service });
    const locked = await createServer({ logLevel: 'silent', service: tcpdir.service, token: 'sesame' });
    const limited = await createServer({ logLevel: 'silent', service: tcpdir.service, rateLimit: 1 });
    try {
      for (const o of operations()) {
        const url = concrete(o.path, { id: '1' }) + query(examples(o, (p) => p.required));
        const send = (s: TcpdirServer) => (o.method === 'post' ? request(s.server).post(url).send({ query: '{ host { source } }' }) : request(s.server).get(url));
        if (o.op.tags.includes('history')) {
          const r = await send(off);
          assert.equal(r.status, 404, url);
          assert.equal(r.body.error.code, 'HISTORY_OFF');
          check(o, r, `${url} with history off`);
        }
        if (o.path !== '/healthz') {
          const r = await send(locked);
          assert.equal(r.status, 401, url);
          check(o, r, `${url} without the token`);
        }
        await send(limited);
        const r = await send(limited);
        assert.equal(r.status, 429, url);
        check(o, r, `${url} over the rate`);
      }
    } finally {
      await Promise.all([off.close(), locked.close(), limited.close()]);
    }
  });

  test('every documented status of every operation was seen in this suite', () => {
    const missing: string[] = [];
    for (const o of operations()) {
      const got = seen.get(`${o.method} ${o.path}`) ?? new Set();
      // 500 needs tcpdir to fail: not something a test of the contract can make happen honestly.
      for (const s of Object.keys(o.op.responses)) if (s !== '500' && !got.has(s)) missing.push(`${o.method} ${o.path} ${s}`);
    }
    assert.deepEqual(missing, []);
  });

  test('@redocly/cli lints the document with no errors and no warnings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpdir-oa-'));
    try {
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', join(dir, 'openapi.json'), '--format=json'], {
        encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      });
      const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
      assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 }, JSON.stringify(report.problems?.slice(0, 5), null, 1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a client generated by openapi-typescript type-checks against real answers (and refuses a wrong one)', async () => {
    // Generated here from the served document, not committed: the document is made at start-up
    // from the code, so a committed copy would only be a second thing to keep in step.
    const dir = mkdtempSync(join(tmpdir(), 'tcpdir-oa-'));
    try {
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
      const gen = spawnSync(process.execPath, [join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'), join(dir, 'openapi.json'), '-o', join(dir, 'api.d.ts')], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
      const answers: Array<[string, string]> = [
        ['/api/v1/connections', `?port=${pair.port}`], ['/api/v1/connections/{id}', ''], ['/api/v1/connection-count', ''], ['/api/v1/listeners', `?port=${pair.port}`],
        ['/api/v1/verdict', `?local=127.0.0.1:${pair.port}&remote=127.0.0.1:${pair.client.localPort}`], ['/api/v1/summary', ''], ['/api/v1/namespaces', ''],
        ['/api/v1/host', ''], ['/api/v1/history', '?limit=5'], ['/api/v1/flows', '?limit=5'], ['/api/v1/history/gaps', ''], ['/api/v1/history/status', ''], ['/healthz', ''],
      ];
      const id = (await request(tcpdir.server).get(`/api/v1/connections?localPort=${pair.port}`)).body[0].id as string;
      const lines = ["import type { paths } from './api';", 'type Ok<P extends keyof paths> = paths[P] extends { get: { responses: { 200: { content: { "application/json": infer B } } } } } ? B : never;'];
      for (const [i, [path, q]] of answers.entries()) {
        const res = await request(tcpdir.server).get(concrete(path, { id }) + q).expect(200);
        lines.push(`export const a${i}: Ok<'${path}'> = ${JSON.stringify(res.body)};`);
      }
      writeFileSync(join(dir, 'answers.ts'), `${lines.join('\n')}\n`);
      const host = (await request(tcpdir.server).get('/api/v1/host')).body;
      writeFileSync(join(dir, 'wrong.ts'), `${lines.slice(0, 2).join('\n')}\nexport const w: Ok<'/api/v1/host'> = ${JSON.stringify({ ...host, source: 'CARRIER_PIGEON' })};\n`);
      const tsc = (file: string) => spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--module', 'commonjs', '--skipLibCheck', join(dir, file)], { encoding: 'utf8' });
      const ok = tsc('answers.ts');
      assert.equal(ok.status, 0, ok.stdout.slice(0, 2000));
      const wrong = tsc('wrong.ts');
      assert.notEqual(wrong.status, 0, 'a host with an unknown source must not type-check');
      assert.match(wrong.stdout, /CARRIER_PIGEON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
