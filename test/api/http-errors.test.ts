// Every way a request can fail before tcpdir's own code runs (the router, body parsers, Node's
// HTTP parser, a method a path does not take) answers in tcpdir's envelope with tcpdir's codes:
// no FST_ERR_* code, no Fastify wording, and never the URL echoed back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createServer, type TcpdirServer } from '../../src';
import { ERROR_CODES } from '../../src/server/http-errors';

/** A request as raw bytes (clients would fix some of these), and the status and body it got. */
async function raw(port: number, text: string): Promise<{ status: number; headers: string; body: string }> {
  const answer = await new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      // One answer is enough: its body is as long as its content-length says.
      const [head, body = ''] = got.split('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(head);
      if (len && Buffer.byteLength(body) >= Number(len[1])) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  const [head, body = ''] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head, body };
}

const MARK = 'echo-me-not';

describe('errors before tcpdir code runs use its envelope and codes', () => {
  let tcpdir: TcpdirServer;
  let port: number;
  before(async () => {
    tcpdir = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, bodyLimit: 1024 });
    await new Promise<void>((r) => tcpdir.server.listen(0, '127.0.0.1', r));
    port = (tcpdir.server.address() as net.AddressInfo).port;
  });
  after(() => tcpdir.close());

  const json = (body: string, extra = ''): string => `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`;
  const cases: Array<[string, string, number, string]> = [
    ['bad percent-encoding in a path parameter', `GET /api/v1/connections/%zz${MARK} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 400, 'BAD_REQUEST'],
    ['bad percent-encoding in a path', `GET /api/v1/%zz/${MARK} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 400, 'BAD_REQUEST'],
    ['a path parameter over 200 characters', `GET /api/v1/connections/${MARK}${'a'.repeat(300)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 414, 'URI_TOO_LONG'],
    ['no such route', `GET /api/v1/${MARK}?${MARK}=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 404, 'NOT_FOUND'],
    ['a body over the limit', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json(`{"query":"${MARK}${'x'.repeat(2000)}"}`)}`, 413, 'PAYLOAD_TOO_LARGE'],
    ['a body that is not JSON', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json(`{${MARK}`)}`, 400, 'BAD_REQUEST'],
    ['an empty JSON body', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json('')}`, 400, 'BAD_REQUEST'],
    ['a JSON body with __proto__', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json(`{"__proto__":{"${MARK}":1}}`)}`, 400, 'BAD_REQUEST'],
    ['an unsupported content type', `POST /graphql HTTP/1.1\r\nHost: a\r\nContent-Type: application/${MARK}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab`, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a gzip-coded body', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json('\x1f\x8b\x08\x00', 'Content-Encoding: gzip\r\n')}`, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a plain body labelled br', `POST /graphql HTTP/1.1\r\nHost: a\r\n${json('{"query":"{ host { source } }"}', 'Content-Encoding: br\r\n')}`, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['two Content-Length headers', `POST /graphql HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, 400, 'BAD_REQUEST'],
    ['not HTTP at all', `${MARK} \x00\x01 nonsense\r\n\r\n`, 400, 'BAD_REQUEST'],
    ['a request head over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: a\r\nX-${MARK}: ${'y'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['a method a REST path does not take', `DELETE /api/v1/host?${MARK}=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 405, 'METHOD_NOT_ALLOWED'],
    ['POST on a REST path', `POST /api/v1/connections?${MARK}=1 HTTP/1.1\r\nHost: a\r\n${json('{}')}`, 405, 'METHOD_NOT_ALLOWED'],
    ['PUT on /graphql', `PUT /graphql HTTP/1.1\r\nHost: a\r\n${json('{}')}`, 405, 'METHOD_NOT_ALLOWED'],
  ];

  for (const [what, request, status, code] of cases) {
    test(what, async () => {
      const r = await raw(port, request);
      assert.equal(r.status, status, `${r.headers}\n${r.body}`);
      assert.match(r.headers, /content-type: application\/json/i);
      const body = JSON.parse(r.body) as { error: { code: string; message: string; parameter: null } };
      assert.deepEqual(Object.keys(body), ['error']);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'parameter']);
      assert.equal(body.error.code, code);
      assert.ok(body.error.code in ERROR_CODES);
      assert.doesNotMatch(r.body, /FST_|echo-me-not/i);
      if (status === 405) assert.match(r.headers, /\r\nallow: [A-Z, ]*GET/i);
      if (what.includes('-coded') || what.includes('labelled')) assert.match(r.headers, /\r\naccept-encoding: identity\r\n/i);
    });
  }

  test('the server still answers after all of them', async () => {
    const r = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200);
  });
});
