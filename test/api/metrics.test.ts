// /metrics of a real server on a real port, with real loopback connections: names a stock
// dashboard expects, tcpdir's own gauges, bounded labels, and a clean `promtool check metrics`
// (promtool comes with Debian's prometheus package, which .ci/run installs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type TcpdirServer } from '../../src';

const PKG = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
const noPromtool = spawnSync('promtool', ['--version']).status === 0 ? false : 'promtool is not installed (apt-get install prometheus)';

/** A listener with `n` accepted loopback connections. */
async function listenerWith(n: number): Promise<{ port: number; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients = await Promise.all(Array.from({ length: n }, () => new Promise<net.Socket>((r, j) => {
    const c = net.connect(port, '127.0.0.1', () => r(c)).once('error', j);
  })));
  while (accepted.length < n) await new Promise((r) => setImmediate(r));
  return {
    port,
    async close() {
      for (const s of [...clients, ...accepted]) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** `name{labels} value` lines of one metric, as [labels text, value]. */
function series(text: string, name: string): Array<[string, number]> {
  return [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => [m[1] ?? '', Number(m[2])]);
}
const value = (text: string, name: string, labels: string): number | undefined => series(text, name).find(([l]) => l === labels)?.[1];

describe('/metrics on a live server', () => {
  let s: TcpdirServer;
  let base: string;
  // 30, 20 and 10 inbound connections; with the top 2 exported, the third is left out.
  let big: Awaited<ReturnType<typeof listenerWith>>, mid: typeof big, small: typeof big;
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  before(async () => {
    [big, mid, small] = [await listenerWith(30), await listenerWith(20), await listenerWith(10)];
    // Every scrape here checks the state the test just made, so none answers from an older snapshot.
    s = await createServer({ logLevel: 'silent', port: 0, maxAgeMs: 0, metricsTopListeners: 2, metricsMaxAgeMs: 0 });
    base = (await s.listen()).replace('0.0.0.0', '127.0.0.1');
  });
  after(async () => {
    await s.close();
    await Promise.all([big, mid, small].map((l) => l.close()));
  });

  test('standard process_* and nodejs_* names (no prefix), build info, kernel evidence state', async () => {
    const text = await scrape();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(series(text, name).length > 0, name);
    }
    assert.doesNotMatch(text, /^tcpdir_process_/m);
    assert.doesNotMatch(text, /^nodejs_active_handles_total/m, 'a gauge named _total fails promtool');
    const k = s.service.kernel.available;
    assert.equal(value(text, 'tcpdir_build_info', `{version="${PKG.version}",node_version="${process.version}",kernel_evidence="${k ? 'available' : 'unavailable'}"}`), 1);
    assert.equal(value(text, 'tcpdir_kernel_evidence_available', ''), k ? 1 : 0);
    if (k) assert.equal(series(text, 'tcpdir_kernel_ringbuf_dropped_events_total').length, 2);
    else assert.equal(series(text, 'tcpdir_kernel_evidence_unavailable').length, 1);
    // conntrack: read (as root: an entry count, 0 without NAT rules) or why not; never both.
    const ct = series(text, 'tcpdir_conntrack_entries').length, ctNot = series(text, 'tcpdir_conntrack_unavailable').length;
    assert.equal(ct + ctNot, 1, 'exactly one of tcpdir_conntrack_entries and tcpdir_conntrack_unavailable');
    if (process.getuid?.() === 0) assert.equal(ct, 1, 'root reads conntrack');
  });

  test('connections by direction and certainty count the loopback pairs (each end certain)', async () => {
    const text = await scrape();
    const n = (d: string, c: string) => value(text, 'tcpdir_connections', `{direction="${d}",certain="${c}"}`);
    // Every combination is exported, so a rate or a ratio never meets a missing series.
    for (const d of ['INBOUND', 'OUTBOUND', 'UNKNOWN']) for (const c of ['true', 'false']) assert.notEqual(n(d, c), undefined, `${d} ${c}`);
    assert.ok(n('INBOUND', 'true')! >= 60, text);
    assert.ok(n('OUTBOUND', 'true')! >= 60, text);
    assert.ok(value(text, 'tcpdir_sockets', '{state="ESTABLISHED"}')! >= 120);
    assert.ok(value(text, 'tcpdir_sockets', '{state="LISTEN"}')! >= 3);
    assert.equal(series(text, 'tcpdir_sockets').length, 12, 'one series per TCP state, always');
    assert.equal(series(text, 'tcpdir_netns_connections').length, 0, 'per-namespace series are off by default');
  });

  test('top listeners: only the N busiest; a listener that leaves the top N loses its series', async (t) => {
    // The top N is the host's: another listener with as many connections as the test's takes a place.
    const others = (await (await fetch(`${base}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ listeners { local { port } connectionCount } }' }),
    })).json()) as { data: { listeners: { local: { port: number }; connectionCount: number }[] } };
    const busy = others.data.listeners.filter((l) => l.connectionCount >= 10 && ![big.port, mid.port, small.port].includes(l.local.port));
    if (busy.length > 0) return t.skip(`the host has busier listeners than the test's: ports ${busy.map((l) => l.local.port).join(', ')}`);
    const lc = (text: string, port: number) => value(text, 'tcpdir_listener_connections', `{address="127.0.0.1",port="${port}"}`);
    let text = await scrape();
    assert.equal(series(text, 'tcpdir_listener_connections').length, 2, text);
    assert.deepEqual([lc(text, big.port), lc(text, mid.port), lc(text, small.port)], [30, 20, undefined]);
    await big.close();
    text = await scrape();
    assert.equal(series(text, 'tcpdir_listener_connections').length, 2, text);
    assert.deepEqual([lc(text, big.port), lc(text, mid.port), lc(text, small.port)], [undefined, 20, 10]);
  });

  test('request latency by route template; an unmatched URL is one label value, never the URL itself', async () => {
    await fetch(`${base}/no/such/path-${'x'.repeat(20)}?secret=1`);
    await fetch(`${base}/api/v1/connections/no-such-id`);
    await fetch(`${base}/healthz`, { method: 'POST' });
    const text = await scrape();
    assert.doesNotMatch(text, /no\/such|secret|no-such-id/);
    const count = (labels: string) => value(text, 'tcpdir_http_request_duration_seconds_count', labels) ?? 0;
    assert.ok(count('{route="unmatched",method="GET",status_class="4xx"}') >= 1, text);
    // A method the path does not take is that route's 405, under its template.
    assert.ok(count('{route="/healthz",method="POST",status_class="4xx"}') >= 1, text);
    assert.ok(count('{route="/api/v1/connections/:id",method="GET",status_class="4xx"}') >= 1, text);
    assert.ok(count('{route="/metrics",method="GET",status_class="2xx"}') >= 1, text);
    assert.ok(series(text, 'tcpdir_http_request_duration_seconds_bucket').some(([l]) => l.includes('le="+Inf"')));
  });

  test('promtool check metrics passes on a scrape', { skip: noPromtool }, async () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(), encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  test('the history recorder hook: its counters appear at the first event', async () => {
    assert.equal(series(await scrape(), 'tcpdir_connections_opened_total').length, 0);
    const sink = s.metrics.connectionEvents();
    sink.opened('INBOUND');
    sink.opened('INBOUND');
    sink.closed('OUTBOUND');
    const text = await scrape();
    assert.equal(value(text, 'tcpdir_connections_opened_total', '{direction="INBOUND"}'), 2);
    assert.equal(value(text, 'tcpdir_connections_closed_total', '{direction="OUTBOUND"}'), 1);
    assert.equal(s.metrics.connectionEvents(), sink);
  });
});

test('metricsPerNetns adds connections by namespace; metricsTopListeners 0 drops the listener series', async () => {
  const l = await listenerWith(1);
  const s = await createServer({ logLevel: 'silent', maxAgeMs: 0, metricsPerNetns: true, metricsTopListeners: 0, metricsMaxAgeMs: 0 });
  try {
    const text = (await s.app.inject({ url: '/metrics' })).body;
    const ns = series(text, 'tcpdir_netns_connections');
    assert.ok(ns.some(([labels, v]) => /^\{netns="net:\[\d+\]",direction="INBOUND"\}$/.test(labels) && v >= 1), text);
    assert.equal(series(text, 'tcpdir_listener_connections').length, 0);
  } finally {
    await s.close();
    await l.close();
  }
});

test('by default a scrape answers from the newest snapshot at once and starts the next one behind it', async () => {
  // maxAgeMs 0: any other request would collect anew; the scrape still takes the snapshot it has.
  const s = await createServer({ logLevel: 'silent', maxAgeMs: 0, metricsTopListeners: 1000 });
  let l: Awaited<ReturnType<typeof listenerWith>> | null = null;
  try {
    const scrape = async () => (await s.app.inject({ url: '/metrics' })).body;
    const lc = (text: string) => value(text, 'tcpdir_listener_connections', `{address="127.0.0.1",port="${l!.port}"}`);
    const first = await scrape(); // no snapshot yet: this one waits for it
    assert.ok(value(first, 'tcpdir_snapshot_age_seconds', '')! >= 0, first);
    l = await listenerWith(3);
    await new Promise((r) => setTimeout(r, 50));
    const second = await scrape();
    assert.equal(lc(second), undefined, 'answered from the snapshot taken before the listener opened');
    assert.ok(value(second, 'tcpdir_snapshot_age_seconds', '')! >= 0.05, second);
    // The scrape started a collection behind it: a later scrape sees the listener without anyone
    // else asking for a snapshot.
    let text = second;
    for (let i = 0; i < 100 && lc(text) === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      text = await scrape();
    }
    assert.equal(lc(text), 3, text);
  } finally {
    await s.close();
    await l?.close();
  }
});
