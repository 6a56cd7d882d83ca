// The console's and GraphiQL's pages as HTTP: content types, Content-Security-Policy, cache
// headers, gzip, what a token guards, and that unknown paths keep the JSON 404. Needs the web
// bundles (npm run build, which npm ci runs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import Fastify from 'fastify';
import { createServer, type TcpdirServer } from '../../src';
import { registerConsole } from '../../src/server/console';

describe('console and GraphiQL pages', () => {
  let tcpdir: TcpdirServer;
  const token = `t-${Math.random().toString(36).slice(2)}`;
  before(async () => {
    tcpdir = await createServer({ logLevel: 'silent', token });
  });
  after(() => tcpdir.close());

  test('/ is the console: no-cache HTML under a CSP allowing only this origin, no inline script or style; its bundle is immutable and gzipped', async () => {
    const r = await request(tcpdir.server).get('/').expect(200);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.equal(r.headers['cache-control'], 'no-cache');
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(r.text, /<script>|<style>| style=|https?:\/\//);
    const js = /src="(\/assets\/console\/[^"]+\.js)"/.exec(r.text)?.[1];
    assert.ok(js, r.text);
    const a = await request(tcpdir.server).get(js).set('accept-encoding', 'gzip').expect(200);
    assert.match(a.headers['content-type'], /^text\/javascript/);
    assert.equal(a.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(a.headers['content-encoding'], 'gzip');
  });

  test('GET /graphql gives GraphiQL to a browser only; other GETs and POSTs are still Apollo (with its CSRF check, behind the token)', async () => {
    const page = await request(tcpdir.server).get('/graphql').set('accept', 'text/html,application/xhtml+xml,*/*;q=0.8').expect(200);
    assert.match(page.text, /\/assets\/graphiql\/graphiql-[^"]+\.js/);
    assert.match(page.headers['content-security-policy'], /script-src 'self';/);
    const api = await request(tcpdir.server).get('/graphql').query({ query: '{ host { socketCount } }' }).set('authorization', `Bearer ${token}`);
    assert.equal(api.status, 400);
    assert.match(api.text, /Cross-Site Request Forgery/);
    await request(tcpdir.server).post('/graphql').send({ query: '{ host { socketCount } }' }).expect(401);
    await request(tcpdir.server).post('/graphql').set('authorization', `Bearer ${token}`).send({ query: '{ host { socketCount } }' }).expect(200);
  });

  test('pages and bundles need no token; the API does; unknown paths and assets are JSON 404s', async () => {
    await request(tcpdir.server).get('/api/v1/summary').expect(401);
    const nope = await request(tcpdir.server).get('/api/v1/nope').set('authorization', `Bearer ${token}`).expect(404);
    assert.equal(nope.body.error.code, 'NOT_FOUND');
    const asset = await request(tcpdir.server).get('/assets/console/nope.js').expect(404);
    assert.equal(asset.body.error.code, 'NOT_FOUND');
    for (const p of ['/assets/../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/console/../../console/index.html']) {
      const r = await request(tcpdir.server).get(p);
      assert.notEqual(r.status, 200, p);
      assert.doesNotMatch(r.text, /"name": "tcpdir"/);
    }
  });
});

test('without a build of the web code, / and GraphiQL say so in the JSON error envelope', async () => {
  const app = Fastify();
  registerConsole(app, '/nonexistent-tcpdir-web');
  await app.ready();
  for (const [url, accept] of [['/', '*/*'], ['/graphql', 'text/html']]) {
    const r = await app.inject({ url, headers: { accept } });
    assert.equal(r.statusCode, 404, url);
    assert.match(r.json().error.message, /not built here \(run npm run build\)/);
  }
  await app.close();
});
