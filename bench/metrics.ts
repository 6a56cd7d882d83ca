// bench:metrics — /metrics as Prometheus scrapes it: `tcpdir serve` with its default options
// (every namespace, history on, kernel evidence) holding N loopback sockets, scraped every
// `--interval-ms` like a Prometheus job, each scrape timed end to end over HTTP; `ss -tan` runs
// in the same rounds. A scrape answers from the newest snapshot (at most --metrics-max-age-ms
// old) while the next is collected, so the time is counting and rendering, not collecting.
// Usage: node dist/bench/metrics.js [--sockets 10000,100000] [--scrapes 15] [--interval-ms 2000]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { freePort, spawnLoopbackLoads } from './loopback-load';
import { arg, median } from './measure';

const ROOT = resolve(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(base: string): Promise<{ ms: number; bytes: number; age: number }> {
  const t = performance.now();
  const res = await fetch(`${base}/metrics`);
  const text = await res.text();
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  const age = Number(/^tcpdir_snapshot_age_seconds (\S+)$/m.exec(text)?.[1] ?? NaN);
  return { ms, bytes: Buffer.byteLength(text), age };
}

function timeSs(): number {
  const t = performance.now();
  const r = spawnSync('ss', ['-tan'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.status !== 0) throw new Error(`ss -tan failed: ${r.status}`);
  return performance.now() - t;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function main(): Promise<void> {
  const sizes = arg('sockets', '10000,100000').split(',').map(Number);
  const scrapes = Number(arg('scrapes', '15'));
  const interval = Number(arg('interval-ms', '2000'));
  const rows: string[] = [];
  for (const sockets of sizes) {
    const loads = await spawnLoopbackLoads(sockets / 2);
    const dataDir = mkdtempSync(join(tmpdir(), 'tcpdir-bench-metrics-'));
    const port = await freePort();
    const server = spawn(process.execPath, [...NODE_FLAGS, 'bin/tcpdir.js', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; ; i++) {
        try {
          await scrape(base); // the first scrape waits for the first snapshot
          break;
        } catch {
          if (i > 300) throw new Error('tcpdir serve did not come up');
          await sleep(100);
        }
      }
      const ms: number[] = [], ss: number[] = [], ages: number[] = [];
      let bytes = 0;
      for (let i = 0; i < scrapes; i++) {
        await sleep(interval);
        const s = await scrape(base);
        ms.push(s.ms);
        ages.push(s.age);
        bytes = s.bytes;
        ss.push(timeSs());
      }
      const m = median(ms), tan = median(ss);
      rows.push(`| ${sockets.toLocaleString('en-US')} | ${m.toFixed(1)} | ${pct(ms, 0.95).toFixed(1)} | ${Math.max(...ms).toFixed(1)} | ${(bytes / 1024).toFixed(1)} KiB | ${median(ages).toFixed(2)} s | ${tan.toFixed(1)} | ${(m / tan).toFixed(2)}x |`);
      console.error(`${sockets} sockets: scrapes ${ms.map((x) => x.toFixed(0)).join(' ')} ms`);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
      await Promise.all(loads.map((l) => l.close()));
    }
  }
  console.log(`\n/metrics every ${interval} ms, ${scrapes} scrapes per size; load average ${spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ')}\n`);
  console.log('| sockets | scrape median ms | p95 ms | max ms | exposition | snapshot age (median) | ss -tan ms | median / ss -tan |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
