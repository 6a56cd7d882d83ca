// bench:events: a load generator opens and closes loopback connections of known direction as
// fast as it can (both ends local: each connection gives one INBOUND and one OUTBOUND life) while
// `tcpdir serve` records history; then the store is read directly. Prints connections made,
// records stored, missing, wrong direction, ring-buffer drops, tcpdir's CPU per 1,000
// connections, its peak RSS, and database size per million records.
//   node dist/bench/events.js [seconds=60] [concurrency=8]
// TCPDIR_BENCH_SERVER_FLAGS adds node flags to the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
// TCPDIR_BENCH_SERVER_ARGS arguments to `tcpdir serve`. On a host shared with other work, run it in
// a namespace of its own with "--no-all-namespaces", so that the snapshots (and their /proc scans)
// are not of other programs' sockets: `ip netns add b; ip -n b link set lo up;
// TCPDIR_BENCH_SERVER_ARGS=--no-all-namespaces ip netns exec b node dist/bench/events.js 30 8`.
// The tracepoint still reports every namespace's connections: all are recorded and counted below.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { HistoryStore } from '../src/history';
import type { StoredLife } from '../src/history/record';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { freePort } from './loopback-load';

const ROOT = resolve(__dirname, '..', '..');
const seconds = Number(process.argv[2] ?? 60);
const concurrency = Number(process.argv[3] ?? 8);

// Connects to its own listener `concurrency` at a time. The server side writes one byte once it
// has accepted; the client resets the connection when it reads it (so both ends were established,
// and no TIME_WAIT piles up). Prints its port, then on stdin's end the number made.
const GENERATOR = `
const net = require('node:net');
let made = 0, stopped = false;
const srv = net.createServer((s) => { s.on('error', () => {}); s.write('x'); });
srv.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const port = srv.address().port;
  process.stdout.write(JSON.stringify({ port }) + '\\n');
  const one = () => {
    if (stopped) return;
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.once('data', () => { made++; c.resetAndDestroy(); setImmediate(one); });
  };
  for (let i = 0; i < Number(process.argv[1]); i++) one();
});
process.stdin.on('end', () => { stopped = true; setTimeout(() => { process.stdout.write(JSON.stringify({ made }) + '\\n'); process.exit(0); }, 300); });
process.stdin.resume();
`;

function cpuTimes(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(f[11]) / 100, Number(f[12]) / 100]; // utime, stime: clock ticks (100 Hz)
}
const cpuSeconds = (pid: number) => cpuTimes(pid)[0] + cpuTimes(pid)[1];
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const hwmMiB = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-bench-events-'));
  const port = await freePort();
  const server = spawn(process.execPath, [...NODE_FLAGS, ...(process.env.TCPDIR_BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean), join(ROOT, 'bin', 'tcpdir.js'), 'serve', '--port', String(port), '--data-dir', dir, '--log-level', 'warn', ...(process.env.TCPDIR_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; await fetch(`${base}/healthz`).then((r) => !r.ok, () => true); i++) {
      if (i > 300 || server.exitCode !== null) throw new Error('server did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Start-up work (the first snapshot's /proc scan for owners walks every process's
    // descriptors on the host: seconds where other programs hold 100k sockets) is not the
    // recorder's: wait until the server is quiet (under 5% of a core over a second, at most 60 s).
    for (let i = 0; i < 60; i++) {
      const before = cpuSeconds(server.pid!);
      await new Promise((r) => setTimeout(r, 1000));
      if (cpuSeconds(server.pid!) - before < 0.05) break;
    }
    const mode = ((await (await fetch(`${base}/api/v1/history/status`)).json()) as { mode: string }).mode;
    const gen = spawn(process.execPath, ['-e', GENERATOR, String(concurrency)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: gen.stdout! });
    const next = () => new Promise<Record<string, number>>((r) => lines.once('line', (l) => r(JSON.parse(l) as Record<string, number>)));
    const listenPort = (await next()).port;
    const cpu0 = cpuSeconds(server.pid!);
    const [user0, sys0] = cpuTimes(server.pid!);
    const rssSamples: number[] = [];
    const sampler = setInterval(() => rssSamples.push(rssMiB(server.pid!)), 500);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(sampler);
    const done = next();
    gen.stdin!.end();
    const made = (await done).made;
    await new Promise((r) => setTimeout(r, 3000)); // the last events drained and flushed
    const cpu = cpuSeconds(server.pid!) - cpu0;
    const [user1, sys1] = cpuTimes(server.pid!);
    const status = (await (await fetch(`${base}/api/v1/history/status`)).json()) as { droppedEvents: number; notStored: number; records: number };
    const rss = hwmMiB(server.pid!);
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    const path = join(dir, 'history.sqlite');
    // Read through the store's own query code: lives are rows or entries of blocks.
    const store = HistoryStore.open({ path, pruneMs: 1e9 });
    let inRight = 0, inAll = 0, outRight = 0, outAll = 0, failed = 0;
    // Lives by the client's port, each side apart: an extra life is listed below with its twin's.
    const inByPort = new Map<number, StoredLife[]>(), outByPort = new Map<number, StoredLife[]>();
    const add = (m: Map<number, StoredLife[]>, k: number, l: StoredLife) => { const v = m.get(k); if (v) v.push(l); else m.set(k, [l]); };
    let page = store.query({ port: listenPort }, { limit: 10_000 });
    for (;;) {
      for (const l of page.lives) {
        if (l.localPort === listenPort) add(inByPort, l.remotePort, l);
        else if (l.localPort !== 0) add(outByPort, l.localPort, l);
        if (l.localPort === listenPort) { inAll++; if (l.direction === 'INBOUND') inRight++; }
        // A connect() that never got a local port (no ephemeral port free) sent no packet: a failed
        // attempt, recorded, but not one of the connections made.
        else if (l.localPort === 0) failed++;
        else { outAll++; if (l.direction === 'OUTBOUND') outRight++; }
      }
      if (!page.next) break;
      page = store.query({ port: listenPort }, { limit: 10_000, after: page.next });
    }
    const total = store.status().records;
    store.close();
    const bytes = statSync(path).size;
    const recorded = inAll + outAll;
    console.log(`bench:events, ${seconds} s, ${concurrency} connections in flight, recorder mode ${mode}`);
    console.log(`connections made        ${made} (${(made / seconds).toFixed(0)}/s)`);
    console.log(`records stored          ${recorded} of ${2 * made} expected (${inAll} inbound side, ${outAll} outbound side)`);
    console.log(`missing                 ${Math.max(0, made - inAll) + Math.max(0, made - outAll)}`);
    console.log(`extra                   ${Math.max(0, inAll - made) + Math.max(0, outAll - made)} (and ${failed} failed connect() attempts, recorded apart)`);
    console.log(`wrong direction         ${inAll - inRight + outAll - outRight}`);
    console.log(`ring-buffer drops       ${status.droppedEvents}`);
    console.log(`not stored (overload)   ${status.notStored} (marked as gaps in history)`);
    console.log(`tcpdir CPU              ${cpu.toFixed(1)} s (user ${(user1 - user0).toFixed(1)}, system ${(sys1 - sys0).toFixed(1)}), ${((cpu / Math.max(1, 2 * made)) * 1e6).toFixed(1)} µs per record of the generator's`);
    console.log(`all lives recorded      ${total} (other programs' too), ${((cpu / Math.max(1, total)) * 1e6).toFixed(1)} µs of CPU per life`);
    console.log(`load average            ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const edge = Math.min(10, Math.floor(rssSamples.length / 3)); // 5 s of samples at each end
    console.log(`tcpdir peak RSS         ${rss.toFixed(0)} MiB; mean RSS ${mean(rssSamples.slice(0, edge)).toFixed(0)} MiB in the first 5 s, ${mean(rssSamples.slice(-edge)).toFixed(0)} MiB in the last 5 s`);
    if (inAll !== outAll) {
      const brief = (l: StoredLife) => `${l.direction} ${l.localPort}->${l.remotePort} opened ${l.openedAt} closed ${l.closedAt} ${l.observedBy} ${l.rule} key ${l.key}`;
      let shown = 0;
      for (const port of new Set([...inByPort.keys(), ...outByPort.keys()])) {
        const a = inByPort.get(port) ?? [], b = outByPort.get(port) ?? [];
        if (a.length === b.length || shown++ >= 5) continue;
        console.log(`unpaired at client port ${port}: ${a.length} server side, ${b.length} client side`);
        for (const l of [...a, ...b].sort((x, y) => (x.openedAt ?? 0) - (y.openedAt ?? 0)).slice(-6)) console.log(`  ${brief(l)}`);
      }
    }
    const windows: string[] = [];
    for (let i = 0; i < rssSamples.length; i += 20) windows.push(mean(rssSamples.slice(i, i + 20)).toFixed(0));
    console.log(`tcpdir mean RSS by 10 s ${windows.join(', ')} MiB`);
    console.log(`database                ${(bytes / 1048576).toFixed(1)} MiB for ${total} records: ${((bytes / Math.max(1, total)) * 1e6 / 1048576).toFixed(0)} MiB per million`);
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
