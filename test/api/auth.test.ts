import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createServer } from '../../src';
import { assertSafeBind, UnsafeBindError } from '../../src/server';

test('with a token every route but /healthz needs the bearer token', async () => {
  const s = await createServer({ logLevel: 'silent', token: 's3cret' });
  try {
    await request(s.server).get('/healthz').expect(200);
    for (const url of ['/api/v1/host', '/metrics', '/api/openapi.json']) {
      const res = await request(s.server).get(url).expect(401);
      assert.equal(res.body.error.code, 'UNAUTHENTICATED');
      await request(s.server).get(url).set('authorization', 'Bearer wrong').expect(401);
      await request(s.server).get(url).set('authorization', 'Bearer s3cret').expect(200);
    }
    await request(s.server).post('/graphql').send({ query: '{ host { source } }' }).expect(401);
    const ok = await request(s.server).post('/graphql').set('authorization', 'Bearer s3cret').send({ query: '{ host { source } }' }).expect(200);
    assert.match(ok.body.data.host.source, /^(EBPF|NETLINK|PROCFS)$/);
  } finally {
    await s.close();
  }
});

test('refuses to listen on a non-loopback address without a token', async () => {
  const s = await createServer({ logLevel: 'silent', host: '0.0.0.0', port: 0 });
  try {
    await assert.rejects(s.listen(), UnsafeBindError);
  } finally {
    await s.close();
  }
  assert.throws(() => assertSafeBind('::', undefined), /without a token/);
  assert.doesNotThrow(() => assertSafeBind('127.0.0.1', undefined));
  assert.doesNotThrow(() => assertSafeBind('::1', undefined));
  assert.doesNotThrow(() => assertSafeBind('0.0.0.0', 'tok'));
  const withToken = await createServer({ logLevel: 'silent', host: '0.0.0.0', port: 0, token: 'tok' });
  try {
    assert.match(await withToken.listen(), /^http:\/\//);
  } finally {
    await withToken.close();
  }
});

test('the CLI refuses 0.0.0.0 without a token and says why', async () => {
  const { spawnSync } = await import('node:child_process');
  const { resolve } = await import('node:path');
  const bin = resolve(__dirname, '..', '..', '..', 'bin', 'tcpdir.js');
  const r = spawnSync(process.execPath, [bin, 'serve', '--host', '0.0.0.0', '--port', '0', '--log-level', 'silent'], { encoding: 'utf8', env: { ...process.env, TCPDIR_TOKEN: '' }, timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
});
