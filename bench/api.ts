// bench:api — tcpdir's HTTP request path at scale, against a reference server on the same stack.
// Usage: node dist/bench/api.js [--connections 10000] [--duration 30] [--clients 50] [--rounds 6]
//        [--max-age-ms 1000] [--swr] [--large 50000 | --large 0]
// Each server gets `duration` seconds per API, in `rounds` slices alternating with the other server,
// so load from anything else on the host hits both alike; the table shows medians of the slices.
// Children hold the loopback load (bench/loopback-load.ts); tcpdir and the reference server each
// run as their own child process, so RSS figures are theirs alone. autocannon drives both from here.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { freePort, spawnLoopbackLoads, type LoadChild } from './loopback-load';
import { arg, median, peakRssDuring, rssMiB } from './measure';
import { REFERENCE_QUERY } from './reference-server';

// autocannon ships no types; this is the part of its result we read.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: object) => Promise<CannonResult>;

const ROOT = resolve(__dirname, '..', '..');

async function waitHttp(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`${url}: no answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  return done;
}

/** A listener here with `n` client connections to it: the "few rows" a filtered query returns. */
async function smallTarget(n: number): Promise<{ port: number; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => c.once('connect', r).once('error', j));
    clients.push(c);
  }
  while (accepted.length < n) await new Promise((r) => setImmediate(r));
  return {
    port,
    async close() {
      for (const s of [...clients, ...accepted]) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

interface RunRow { api: string; server: string; rps: number; p50: number; p99: number; errors: number }

async function cannon(url: string, opts: { method: 'GET' | 'POST'; body?: string }, duration: number, clients: number): Promise<Omit<RunRow, 'api' | 'server'>> {
  const r = await autocannon({
    url,
    method: opts.method,
    body: opts.body,
    headers: opts.body ? { 'content-type': 'application/json' } : {},
    connections: clients,
    duration,
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

async function snapshotStats(base: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const sum = Number(/^tcpdir_snapshot_duration_seconds_sum ([\d.e+-]+)/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^tcpdir_snapshot_duration_seconds_count (\d+)/m.exec(text)?.[1] ?? NaN);
  const host = (await (await fetch(`${base}/api/v1/host`)).json()) as { socketCount: number };
  return `${count} snapshots, mean ${((sum / count) * 1000).toFixed(1)} ms each (collect + classify); ${host.socketCount} sockets on the host in the last one`;
}

async function main(): Promise<void> {
  const total = Number(arg('connections', '10000'));
  const duration = Number(arg('duration', '30'));
  const clients = Number(arg('clients', '50'));
  const maxAge = arg('max-age-ms', '1000');
  const large = Number(arg('large', '50000'));
  const rounds = Number(arg('rounds', '6'));
  const swr = process.argv.includes('--swr');
  const loads: LoadChild[] = [];
  const children: ChildProcess[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'tcpdir-bench-api-'));
  try {
    console.log(`holding ${total} loopback connections (${total * 2} sockets)...`);
    loads.push(...(await spawnLoopbackLoads(total)));
    const target = await smallTarget(2);

    // `tcpdir serve` as it ships, unless an option only ServerOptions has is asked for.
    const tport = await freePort();
    const tcpdir = swr
      ? spawn(process.execPath, [...NODE_FLAGS, join(__dirname, 'serve.js'), JSON.stringify({ port: tport, maxAgeMs: Number(maxAge), staleWhileRevalidate: true })], { stdio: ['ignore', 'ignore', 'inherit'] })
      : spawn(process.execPath, [...NODE_FLAGS, join(ROOT, 'bin', 'tcpdir.js'), 'serve', '--port', String(tport), '--log-level', 'warn', '--max-age-ms', maxAge], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(tcpdir);
    const tbase = `http://127.0.0.1:${tport}`;
    await waitHttp(`${tbase}/healthz`, tcpdir);

    const variables = { port: target.port, minConfidence: 0.9 };
    const gqlBody = JSON.stringify({ query: REFERENCE_QUERY, variables });
    const restPath = `/api/v1/connections?port=${target.port}&minConfidence=0.9`;
    const gql = async (base: string): Promise<unknown[]> => {
      const r = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: gqlBody });
      return ((await r.json()) as { data: { connections: unknown[] } }).data.connections;
    };
    const answer = await gql(tbase);
    if (!Array.isArray(answer) || answer.length === 0) throw new Error(`tcpdir returned no rows for port ${target.port}: ${JSON.stringify(answer)}`);
    const rowsFile = join(tmp, 'rows.json');
    writeFileSync(rowsFile, JSON.stringify(answer));

    const ref = spawn(process.execPath, [...NODE_FLAGS, join(__dirname, 'reference-server.js'), '0', rowsFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(ref);
    const refPort = await new Promise<number>((res, rej) => {
      createInterface({ input: ref.stdout! }).once('line', (l) => res((JSON.parse(l) as { port: number }).port));
      ref.once('exit', (c) => rej(new Error(`reference server exited: ${c}`)));
    });
    const rbase = `http://127.0.0.1:${refPort}`;
    // Same GraphQL question, same bytes, or the comparison means nothing. (tcpdir's REST document
    // selects a few more fields than the reference's REST route, e.g. netns.)
    const refAnswer = await gql(rbase);
    if (JSON.stringify(refAnswer) !== JSON.stringify(answer)) throw new Error('reference and tcpdir answers differ');

    // Warm both (JIT, caches) before measuring.
    for (const base of [tbase, rbase]) await cannon(`${base}/graphql`, { method: 'POST', body: gqlBody }, 3, clients);
    const rssBefore = { tcpdir: rssMiB(tcpdir.pid!), reference: rssMiB(ref.pid!) };
    const mode = `maxAgeMs ${maxAge}${swr ? ', staleWhileRevalidate' : ''}`;
    console.log(`${answer.length} rows per answer; ${duration} s per server and API in ${rounds} slices, ${clients} clients; tcpdir ${mode}`);
    const rows: RunRow[] = [];
    const slice = Math.max(1, Math.round(duration / rounds));
    for (const api of ['GraphQL', 'REST'] as const) {
      const got: Record<string, Array<Omit<RunRow, 'api' | 'server'>>> = { reference: [], tcpdir: [] };
      for (let i = 0; i < rounds; i++) {
        // Alternate which goes first, too.
        const order = i % 2 === 0 ? ([['reference', rbase], ['tcpdir', tbase]] as const) : ([['tcpdir', tbase], ['reference', rbase]] as const);
        for (const [server, base] of order) {
          const r = api === 'GraphQL'
            ? await cannon(`${base}/graphql`, { method: 'POST', body: gqlBody }, slice, clients)
            : await cannon(`${base}${restPath}`, { method: 'GET' }, slice, clients);
          got[server].push(r);
          console.log(`  ${api} ${server} slice ${i + 1}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.errors} errors`);
        }
      }
      for (const server of ['reference', 'tcpdir']) {
        const xs = got[server];
        rows.push({
          api, server, rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)),
          errors: xs.reduce((a, x) => a + x.errors, 0),
        });
      }
    }
    const rssAfter = { tcpdir: rssMiB(tcpdir.pid!), reference: rssMiB(ref.pid!) };
    console.log(`tcpdir: ${await snapshotStats(tbase)}`);

    console.log(`\n#### tcpdir (${mode}) vs reference: ${total} connections held, ${clients} clients, ${duration} s per server and API (medians of ${rounds} slices)\n`);
    console.log('| API | server | req/s | p50 ms | p99 ms | errors | req/s ratio | p99 ratio | target met |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|:---:|');
    for (const r of rows) {
      const ref = rows.find((x) => x.api === r.api && x.server === 'reference')!;
      const isRef = r.server === 'reference';
      const rr = r.rps / ref.rps;
      const pr = r.p99 / Math.max(ref.p99, 1);
      const ok = rr >= 0.6 && pr <= 2 && r.errors === 0;
      console.log(`| ${r.api} | ${r.server} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${isRef ? '1' : rr.toFixed(2)} | ${isRef ? '1' : pr.toFixed(2)} | ${isRef ? '' : ok ? 'yes' : 'NO'} |`);
    }
    console.log(`\nRSS (MiB): tcpdir ${rssBefore.tcpdir.toFixed(0)} -> ${rssAfter.tcpdir.toFixed(0)}, reference ${rssBefore.reference.toFixed(0)} -> ${rssAfter.reference.toFixed(0)} (before -> after the runs)`);
    await stop(ref);

    if (large > 0) {
      // Large answers: enough connections for a 100k-row response.
      const more = large - total;
      if (more > 0) {
        console.log(`\nadding ${more} connections for the large-answer test...`);
        loads.push(...(await spawnLoopbackLoads(more)));
      }
      // A snapshot that is certain to include them.
      await new Promise((r) => setTimeout(r, Number(maxAge) + 50));
      await fetch(`${tbase}/api/v1/summary`);
      console.log(`\n#### One \`connections(limit: 100000)\` answer, tcpdir server process (${large} connections held)\n`);
      console.log('| API | rows | body MiB | ms | RSS before MiB | RSS peak MiB | peak - before MiB | RSS after MiB |');
      console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
      // REST first: V8 keeps the heap it grew for a whole GraphQL answer and lets later garbage
      // fill it, so whichever runs second reads high whatever its live set is.
      for (const api of ['REST', 'GraphQL'] as const) {
        for (let round = 0; round < 1; round++) {
          const t0 = performance.now();
          const m = await peakRssDuring(tcpdir.pid!, async () => {
            const res = api === 'GraphQL'
              ? await fetch(`${tbase}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: REFERENCE_QUERY, variables: { limit: 100000 } }) })
              : await fetch(`${tbase}/api/v1/connections?limit=100000`);
            const text = await res.text();
            if (res.status !== 200) throw new Error(`${api} large answer: ${res.status} ${text.slice(0, 200)}`);
            const parsed = JSON.parse(text) as { data?: { connections: unknown[] } } | unknown[];
            return { bytes: Buffer.byteLength(text), rows: Array.isArray(parsed) ? parsed.length : parsed.data!.connections.length };
          });
          const ms = performance.now() - t0;
          console.log(`| ${api}${round ? ' (again)' : ''} | ${m.value.rows} | ${(m.value.bytes / 2 ** 20).toFixed(1)} | ${ms.toFixed(0)} | ${m.before.toFixed(0)} | ${m.peak.toFixed(0)} | ${(m.peak - m.before).toFixed(0)} | ${m.after.toFixed(0)} |`);
        }
      }
    }
    await target.close();
  } finally {
    await Promise.all(children.map(stop));
    await Promise.all(loads.map((l) => l.close()));
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
