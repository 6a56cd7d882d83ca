// bench:user-path — big answers as users get them, against ss in the same run: `tcpdir serve`
// with its default options (every namespace, history on, a snapshot per second with
// stale-while-revalidate), asked over HTTP with requests spaced past max-age (so each is answered
// from the last snapshot, at most about two seconds old, while the next is built, or waits for one
// in progress), and the one-shot CLI (a cold process: start-up, kernel programs, snapshot, owners).
// Then the same server with --max-age-ms 0 (nothing else changed): every summary there is
// collected and classified for that request, a truly fresh one.
// Usage: node dist/bench/user-path.js [--sockets 40000,100000] [--rounds 5] [--cli-only]
// --cli-only: only `ss -tanp` and the one-shot CLI, no server (quicker, for work on the CLI).
// Each size: children hold sockets/2 loopback pairs (bench/loopback-load.ts); rounds alternate
// tcpdir and ss so load from anything else hits both alike; the table shows medians (and the highest of the rounds' RSS peaks).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

/** `tcpdir serve` with its default options plus `extra`, once /api/v1/summary answers (the first snapshot is built). */
async function startServer(dataDir: string, extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/tcpdir.js', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn', ...extra], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
  });
  for (let i = 0; ; i++) {
    try {
      await timeRequest(port, '/api/v1/summary');
      return { child, port };
    } catch {
      if (i > 300 || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error('tcpdir serve did not come up');
      }
      await sleep(100);
    }
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const sizes = arg('sockets', '40000,100000').split(',').map(Number);
  const rounds = Number(arg('rounds', '5'));
  const rows: string[] = [];
  if (process.argv.includes('--cli-only')) {
    for (const sockets of sizes) rows.push(...(await cliOnly(sockets, rounds)));
    printRows(rounds, rows);
    return;
  }
  for (const sockets of sizes) {
    const loads = await spawnLoopbackLoads(sockets / 2);
    const dataDir = mkdtempSync(join(tmpdir(), 'tcpdir-bench-'));
    let server = await startServer(dataDir, []);
    try {
      const t: Record<string, number[]> = { tan: [], tanp: [], summary: [], fresh: [], freshGql: [], metrics: [], restList: [], gqlProc: [], cli: [], rss: [], rssBefore: [] };
      let listBytes = 0;
      let metricsBytes = 0;
      for (let r = 0; r < rounds; r++) {
        t.tan.push(timeCommand('ss', ['-tan']));
        t.tanp.push(timeCommand('ss', ['-tanp']));
        await sleep(1100);
        t.summary.push((await timeRequest(server.port, '/api/v1/summary')).ms);
        await sleep(1100);
        const scrape = await timeRequest(server.port, '/metrics');
        t.metrics.push(scrape.ms);
        metricsBytes = scrape.bytes;
        await sleep(1100);
        const { value, before, peak } = await peakRssDuring(server.child.pid!, () => timeRequest(server.port, '/api/v1/connections?limit=100000'));
        t.restList.push(value.ms);
        t.rss.push(peak);
        t.rssBefore.push(before);
        listBytes = value.bytes;
        await sleep(1100);
        t.gqlProc.push((await timeRequest(server.port, '/graphql', LIST_WITH_PROCESSES)).ms);
        t.cli.push(timeCommand(process.execPath, CLI_LIST));
      }
      // A fresh summary: the same server but with --max-age-ms 0, so every request collects and
      // classifies a snapshot of its own (history on, so its recorder runs beside it as it would).
      await stopServer(server.child);
      server = await startServer(join(dataDir, 'fresh'), ['--max-age-ms', '0']);
      await sleep(3000); // past the first snapshot's history records
      // More rounds than the rest: each answer is cheap, and one answer moves by up to 2x from the
      // next (98-190 ms at 100k over 24 requests, history on or off), enough to swing a median of three.
      for (let r = 0; r < Math.max(rounds, 9); r++) {
        t.tan.push(timeCommand('ss', ['-tan']));
        await sleep(1100);
        t.fresh.push((await timeRequest(server.port, '/api/v1/summary')).ms);
        // Spaced as the REST one is: right after it, it would share the CPU with the work the
        // previous snapshot leaves for after its answer (history, collection of its garbage).
        await sleep(1100);
        t.freshGql.push((await timeRequest(server.port, '/graphql', gql('{ summary { total inbound outbound unknown } }'))).ms);
      }
      const tan = median(t.tan), tanp = median(t.tanp);
      const row = tableRow(sockets);
      rows.push(
        row('REST summary (stale-while-revalidate)', median(t.summary), 'ss -tan', tan),
        row('REST summary, fresh snapshot (--max-age-ms 0)', median(t.fresh), 'ss -tan', tan),
        row('GraphQL summary, fresh snapshot (--max-age-ms 0)', median(t.freshGql), 'ss -tan', tan),
        row(`/metrics scrape (${(metricsBytes / 1024).toFixed(0)} KiB)`, median(t.metrics), 'ss -tan', tan),
        row(`REST list with evidence (${(listBytes / 2 ** 20).toFixed(0)} MiB; RSS ${median(t.rssBefore).toFixed(0)} MiB before, peak ${median(t.rss).toFixed(0)} MiB, highest peak ${Math.max(...t.rss).toFixed(0)} MiB)`, median(t.restList), 'ss -tanp', tanp),
        row('GraphQL list { id processes { pid } }', median(t.gqlProc), 'ss -tanp', tanp),
        row('CLI list --json, cold process', median(t.cli), 'ss -tanp', tanp),
      );
    } finally {
      await stopServer(server.child);
      await Promise.all(loads.map((l) => l.close()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  printRows(rounds, rows);
}

const CLI_LIST = [...NODE_FLAGS, 'bin/tcpdir.js', 'list', '--json', '--limit', '100000'];

const tableRow = (sockets: number) => (what: string, ms: number, vs: string, base: number): string =>
  `| ${sockets.toLocaleString('en-US')} | ${what} | ${(ms / 1000).toFixed(3)} | ${vs} ${(base / 1000).toFixed(3)} | ${(ms / base).toFixed(2)}x |`;

function printRows(rounds: number, rows: string[]): void {
  console.log(`\nbench:user-path, ${rounds} rounds, medians (seconds); load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  console.log('| sockets | what | tcpdir | against | ratio |\n|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

/** The one-shot CLI against `ss -tanp` alone, alternating, with no server running. */
async function cliOnly(sockets: number, rounds: number): Promise<string[]> {
  const loads = await spawnLoopbackLoads(sockets / 2);
  try {
    const tanp: number[] = [];
    const cli: number[] = [];
    for (let r = 0; r < rounds; r++) {
      tanp.push(timeCommand('ss', ['-tanp']));
      cli.push(timeCommand(process.execPath, CLI_LIST));
    }
    return [tableRow(sockets)('CLI list --json, cold process', median(cli), 'ss -tanp', median(tanp))];
  } finally {
    await Promise.all(loads.map((l) => l.close()));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
