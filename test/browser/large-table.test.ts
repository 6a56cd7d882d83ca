// 100,000 connections in the console's table, from a synthetic snapshot (a real host with that
// many would need 200,000 sockets held open): the page must stay light (only the rows in view are
// in the DOM), scrolling to the middle and the end must show those rows, fetched a page at a time.
// Times are printed, not asserted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HTTPRequest } from 'puppeteer-core';
import { createServer, TcpdirService, type TcpdirServer } from '../../src';
import { listen, snap, sock } from '../helpers/fake-snapshot';
import { chromiumMissing, launch, openPage, screenshot } from '../helpers/browser';

const N = 100_000;
const ip = (a: number, i: number) => `${a}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function hundredThousand() {
  const sockets = [listen('10.0.0.1', 443)];
  for (let i = 0; i < N / 2; i++) {
    sockets.push(sock({ localAddress: '10.0.0.1', localPort: 443, remoteAddress: ip(172, i), remotePort: 40000 + (i % 20000), inode: 10 + i }));
    sockets.push(sock({ localAddress: '10.0.0.1', localPort: 32768 + (i % 28000), remoteAddress: ip(192, i), remotePort: 5432, inode: 100_000 + i }));
  }
  return snap(sockets);
}

describe('the connections table with 100,000 rows', { skip: chromiumMissing() ?? false }, () => {
  let app: TcpdirServer;
  let base: string;
  let browser: Awaited<ReturnType<typeof launch>>;
  before(async () => {
    const s = hundredThousand();
    const service = new TcpdirService({ collect: async () => s, maxAgeMs: 600_000, kernelEvidence: false, resolveProcesses: async () => new Map() });
    app = await createServer({ logLevel: 'silent', port: 0, service });
    base = await app.listen();
    browser = await launch();
  });
  after(async () => {
    await browser?.cleanup();
    await app?.close();
  });

  test('shows any part of the list a page at a time, with only the rows in view in the page', async () => {
    const page = await openPage(browser);
    const limits: number[] = [];
    page.on('request', (r: HTTPRequest) => {
      if (r.method() === 'POST' && r.url().endsWith('/graphql')) {
        const v = (JSON.parse(r.postData() ?? '{}') as { variables?: { limit?: number } }).variables;
        if (typeof v?.limit === 'number') limits.push(v.limit);
      }
    });
    const t0 = Date.now();
    await page.goto(`${base}/?view=connections&sort=REMOTE`);
    await page.waitForSelector('.tbody .tr .c-dir .badge');
    const firstMs = Date.now() - t0;
    assert.match(await page.$eval('[data-testid=row-count]', (e) => (e as unknown as { textContent: string }).textContent), /^100,000 connections/);

    // Jump to a row far down: the rows there are fetched and shown; the DOM stays small.
    const show = async (row: number): Promise<{ ms: number; remote: string; inDom: number }> => {
      const t = Date.now();
      await page.$eval('.tbody', (el, y) => { (el as unknown as { scrollTop: number }).scrollTop = y; }, row * 30);
      const cell = `.tbody .tr[data-row="${row}"] .c-ep:nth-child(5)`;
      await page.waitForSelector(cell, { timeout: 15_000 });
      const remote = await page.$eval(cell, (e) => (e as unknown as { textContent: string }).textContent);
      return { ms: Date.now() - t, remote, inDom: (await page.$$('.tbody .tr')).length };
    };
    const middle = await show(N / 2);
    const end = await show(N - 1);
    // Sorted by remote address: the first half are the 172.x peers, the second the 192.168.x ones.
    assert.match(middle.remote, /^192\.0\.0\.0:5432$/);
    assert.match(end.remote, /^192\.0\.195\.79:5432$/);
    for (const r of [middle, end]) assert.ok(r.inDom <= 60, `${r.inDom} rows in the DOM`);
    assert.ok(limits.length > 0 && limits.every((l) => l <= 200), `row limits asked: ${limits.join(',')}`);
    await screenshot(page, 'large-table');
    console.log(`# 100,000 connections: table shown ${firstMs} ms after navigation; row 50,000 shown ${middle.ms} ms after the jump, row 100,000 ${end.ms} ms; ${limits.length} page requests of <= 200 rows`);
    assert.deepEqual(page.problems, []);
    await page.close();
  });
});
