// bench:user-path — big answers as users get them, against ss in the same run: `tcpdir serve`
// with its default options (every namespace, history on, a snapshot per second), asked over HTTP
// with requests spaced past max-age (so every answer, /metrics included, is a fresh snapshot), and
// the one-shot CLI (a cold process: start-up, kernel programs, snapshot, owners).
// Usage: node dist/bench/user-path.js [--sockets 40000,100000] [--rounds 5]
// Each size: children hold sockets/2 loopback pairs (bench/loopback-load.ts); rounds alternate
// tcpdir and ss so load from anything else hits both alike; the table shows medians.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { freePort, spawnLoopbackLoads } from './loopback-load';
import { arg, median, peakRssDuring } from './measure';

const ROOT = resolve(__dirname, '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function timeCommand(cmd: string, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.status}`);
  return performance.now() - t;
}

/** One request, the whole body read; ms and bytes. */
function timeRequest(port: number, path: string, body?: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', headers: body ? { 'content-type': 'application/json' } : {} }, (r) => {
      let bytes = 0;
      r.on('data', (d: Buffer) => (bytes += d.length));
      r.on('end', () => (r.statusCode === 200 ? res({ ms: performance.now() - t, bytes }) : rej(new Error(`${path}: ${r.statusCode}`))));
    });
    req.on('error', rej);
    req.end(body);
  });
}

const gql = (query: string) => JSON.stringify({ query });
const LIST_WITH_PROCESSES = gql('{ connections(limit: 100000) { id processes { pid } } }');

async function main(): Promise<void> {
  const sizes = arg('sockets', '40000,100000').split(',').map(Number);
  const rounds = Number(arg('rounds', '5'));
  const rows: string[] = [];
  for (const sockets of sizes) {
    const loads = await spawnLoopbackLoads(sockets / 2);
    const dataDir = mkdtempSync(join(tmpdir(), 'tcpdir-bench-'));
    const port = await freePort();
    const server = spawn(process.execPath, [...NODE_FLAGS, 'bin/tcpdir.js', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      // Ready once /healthz answers and the first snapshot is built.
      for (let i = 0; ; i++) {
        try {
          await timeRequest(port, '/api/v1/summary');
          break;
        } catch {
          if (i > 300) throw new Error('tcpdir serve did not come up');
          await sleep(100);
        }
      }
      const t: Record<string, number[]> = { tan: [], tanp: [], summary: [], metrics: [], restList: [], gqlProc: [], cli: [], rss: [], rssBefore: [] };
      let listBytes = 0;
      let metricsBytes = 0;
      for (let r = 0; r < rounds; r++) {
        t.tan.push(timeCommand('ss', ['-tan']));
        t.tanp.push(timeCommand('ss', ['-tanp']));
        await sleep(1100);
        t.summary.push((await timeRequest(port, '/api/v1/summary')).ms);
        await sleep(1100);
        const scrape = await timeRequest(port, '/metrics');
        t.metrics.push(scrape.ms);
        metricsBytes = scrape.bytes;
        await sleep(1100);
        const { value, before, peak } = await peakRssDuring(server.pid!, () => timeRequest(port, '/api/v1/connections?limit=100000'));
        t.restList.push(value.ms);
        t.rss.push(peak);
        t.rssBefore.push(before);
        listBytes = value.bytes;
        await sleep(1100);
        t.gqlProc.push((await timeRequest(port, '/graphql', LIST_WITH_PROCESSES)).ms);
        t.cli.push(timeCommand(process.execPath, [...NODE_FLAGS, 'bin/tcpdir.js', 'list', '--json', '--limit', '100000']));
      }
      const tan = median(t.tan), tanp = median(t.tanp);
      const row = (what: string, ms: number, vs: string, base: number) =>
        `| ${sockets.toLocaleString('en-US')} | ${what} | ${(ms / 1000).toFixed(3)} | ${vs} ${(base / 1000).toFixed(3)} | ${(ms / base).toFixed(2)}x |`;
      rows.push(
        row('REST summary', median(t.summary), 'ss -tan', tan),
        row(`/metrics scrape (${(metricsBytes / 1024).toFixed(0)} KiB)`, median(t.metrics), 'ss -tan', tan),
        row(`REST list with evidence (${(listBytes / 2 ** 20).toFixed(0)} MiB; RSS ${median(t.rssBefore).toFixed(0)} MiB before, peak ${median(t.rss).toFixed(0)} MiB)`, median(t.restList), 'ss -tanp', tanp),
        row('GraphQL list { id processes { pid } }', median(t.gqlProc), 'ss -tanp', tanp),
        row('CLI list --json, cold process', median(t.cli), 'ss -tanp', tanp),
      );
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      await Promise.all(loads.map((l) => l.close()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  console.log(`\nbench:user-path, ${rounds} rounds, medians (seconds); load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log('| sockets | what | tcpdir | against | ratio |\n|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
