// Snapshot cost against `ss` in the same run, at growing numbers of loopback sockets; then
// connection churn with the kernel-evidence tracepoint on vs off (bench/kernel-churn.ts).
// Usage: node dist/bench/snapshot.js [sizes=10000,50000,100000] [rounds=5] [churn=20000] [churnRounds=7]
// (churn=0 skips the churn part).
// Sizes count sockets (each loopback connection is two). Children hold the load (<= 9000
// connections each: one process may hold 20k fds); IPv4 and IPv6 children alternate.
import { readdirSync, readlinkSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { collectSnapshot } from '../src/collectors/snapshot';
import { scanSockets } from '../src/collectors/kernel';
import { ProcessResolver } from '../src/collectors/proc-fd';
import type { Snapshot } from '../src/model';
import { TcpdirService } from '../src/service/tcpdir-service';
import { NODE_FLAGS } from '../src/cli/node-flags';
import { printChurn, runChurnBench } from './kernel-churn';
import { spawnLoopbackLoad, type LoadChild } from './loopback-load';
import { median } from './measure';

export interface BenchOptions {
  sizes: number[];
  rounds: number;
  /** Optional extra step timed on each netlink snapshot (e.g. the classifier), reported as its own row. */
  classify?: (snapshot: Snapshot) => unknown;
  /** Loopback connect/accept/close cycles for the tracepoint churn test; 0 skips it. */
  churn?: number;
  churnRounds?: number;
}

/**
 * What the server does per request with maxAgeMs 0, measured in server-like processes of their
 * own (this bench process holds ss output, procfs snapshots and caches, and a big heap makes
 * every collection pay for GC it would not pay in the server), one process per step. "kernel": TcpdirService with
 * source auto (one eBPF iterator pass that is both the socket list and the evidence) and, on
 * the same loaded kernel source, the ebpf snapshot alone. "plain": the netlink snapshot alone,
 * and TcpdirService with kernel evidence off. Each step is asked for over stdin, one at a time,
 * so the rounds still interleave with ss.
 */
interface StepResult { ms: number; blockMs: number; info: Record<string, number | string> }
interface StepChild { run(step: string): Promise<StepResult>; close(): void; note: string }

let profiled = 0;
async function spawnSteps(kind: 'kernel' | 'plain'): Promise<StepChild> {
  // TCPDIR_BENCH_PROFILE=dir writes a CPU profile of each step child there (node --cpu-prof).
  const prof = process.env.TCPDIR_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.TCPDIR_BENCH_PROFILE}`, `--cpu-prof-name=steps-${kind}-${++profiled}.cpuprofile`] : [];
  // Run as the server runs (its V8 flags), since each step child stands for one.
  const child = spawn(process.execPath, [...NODE_FLAGS, ...prof, __filename, '--steps', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<{ res: (l: string) => void; rej: (e: Error) => void }> = [];
  lines.on('line', (l) => waiting.shift()?.res(l));
  child.once('exit', (c) => { for (const w of waiting.splice(0)) w.rej(new Error(`bench step child (${kind}) exited ${c}`)); });
  const next = (): Promise<string> => new Promise((res, rej) => waiting.push({ res, rej }));
  const hello = JSON.parse(await next()) as { note: string };
  return {
    note: hello.note,
    run: async (step) => {
      const reply = next();
      child.stdin!.write(`${step}\n`);
      return JSON.parse(await reply) as StepResult;
    },
    close: () => child.stdin!.end(),
  };
}

async function stepsMain(kind: 'kernel' | 'plain'): Promise<void> {
  const svc = new TcpdirService({ source: kind === 'kernel' ? 'auto' : 'netlink', maxAgeMs: 0, history: false, kernelEvidence: kind === 'kernel' });
  const k = svc.kernel;
  const note = kind === 'kernel' && !k.available ? `KERNEL EVIDENCE UNAVAILABLE (${k.code}: ${k.reason})` : '';
  process.stdout.write(`${JSON.stringify({ note })}\n`);
  const h = monitorEventLoopDelay({ resolution: 1 });
  for await (const line of createInterface({ input: process.stdin })) {
    const info: Record<string, number | string> = {};
    h.reset(); h.enable();
    const cpu = process.cpuUsage();
    const t = performance.now();
    if (line === 'snapshot') {
      const snap = k.available
        ? await collectSnapshot({ source: 'ebpf', ebpf: () => scanSockets(k) })
        : await collectSnapshot({ source: 'netlink' });
      info.sockets = snap.sockets.length;
    } else if (line === 'service') {
      const view = await svc.current();
      info.source = view.snapshot.source;
      info.records = view.snapshot.kernel?.records.size ?? 0;
      info.conns = view.connectionCount;
      let certain = 0;
      for (let c = 0; c < view.connectionCount; c++) if (view.verdicts.certain(c)) certain++;
      info.certain = certain;
    } else throw new Error(`unknown step ${line}`);
    const ms = performance.now() - t;
    h.disable();
    info.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    // CPU of every thread of the process (the kernel's walk included), less noisy than wall time.
    const used = process.cpuUsage(cpu);
    info.cpuMs = Math.round((used.user + used.system) / 1000);
    process.stdout.write(`${JSON.stringify({ ms, blockMs: h.max / 1e6, info })}\n`);
  }
  svc.close();
}

interface Row { name: string; ms: number; ratioTo?: string; ratio?: number; note?: string }

// Every round in the order run: the spread says how far to trust the median on a noisy host.
const roundsText = (xs: number[]): string => `${xs.map((x) => x.toFixed(0)).join('/')} ms`;

function timeSs(args: string[]): { ms: number; lines: number } {
  const t = performance.now();
  const r = spawnSync('ss', args, { maxBuffer: 256 << 20 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`ss ${args.join(' ')} failed: ${r.stderr?.toString() ?? r.error}`);
  return { ms, lines: r.stdout.toString().split('\n').length - 2 };
}

/** Runs `fn` `rounds` times; returns the median ms and the worst event-loop block seen. */
async function timeIt<T>(rounds: number, fn: () => Promise<T>): Promise<{ ms: number; blockMs: number; last: T }> {
  const ms: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let last!: T;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    last = await fn();
    ms.push(performance.now() - t);
  }
  h.disable();
  return { ms: median(ms), blockMs: h.max / 1e6, last };
}

/** Ways to read every /proc/<pid>/fd link, to choose how the resolver reads (see proc-fd.ts). */
async function fdScanMethods(): Promise<Row[]> {
  const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  const syncAll = (): number => {
    let n = 0;
    for (const p of pids) {
      let fds: string[];
      try { fds = readdirSync(`/proc/${p}/fd`); } catch { continue; }
      for (const fd of fds) { try { readlinkSync(`/proc/${p}/fd/${fd}`); n++; } catch { /* closed */ } }
    }
    return n;
  };
  const asyncAll = async (): Promise<number> => {
    let n = 0;
    for (const p of pids) {
      let fds: string[];
      try { fds = await readdir(`/proc/${p}/fd`); } catch { continue; }
      // Bounded concurrency: unbounded Promise.all over 19k links is slower still.
      for (let i = 0; i < fds.length; i += 64) {
        const got = await Promise.all(fds.slice(i, i + 64).map((fd) => readlink(`/proc/${p}/fd/${fd}`).catch(() => null)));
        n += got.filter((x) => x !== null).length;
      }
    }
    return n;
  };
  const t1 = performance.now(); const links = syncAll(); const sync = performance.now() - t1;
  const a = await timeIt(1, asyncAll);
  const c = await timeIt(1, () => new ProcessResolver().resolve([1]));
  return [
    { name: `fd scan: readlinkSync loop (${links} links)`, ms: sync, note: `blocks the loop ${sync.toFixed(0)} ms` },
    { name: 'fd scan: fs.promises, 64 at a time', ms: a.ms, note: `worst loop block ${a.blockMs.toFixed(0)} ms` },
    { name: 'fd scan: resolver (sync, 8 ms slices)', ms: c.ms, note: `worst loop block ${c.blockMs.toFixed(0)} ms` },
  ];
}

// A snapshot step and a service step never share a process: the garbage of one would be
// collected on the other's time (a server runs only the service's refreshes).
interface Steps { kernel: StepChild; plain: StepChild; kernelSnap: StepChild; plainSnap: StepChild }

async function measure(size: number, rounds: number, opts: BenchOptions, svc: Steps): Promise<Row[]> {
  // Rounds interleave every step so that load from other processes on the host hits all alike.
  const t: Record<string, number[]> = { tan: [], tanp: [], nl: [], eb: [], pf: [], cold: [], warm: [], cls: [], svcK: [], svc: [] };
  let ssLines = 0, nlCount = 0, ebCount = 0, pfCount = 0, owned = 0, kernRecords = 0, kernDecided = 0, kernConns = 0;
  let svcKSource = '', svcRss = 0;
  const kernelOn = svc.kernel.note === '';
  const cpu: Record<string, number[]> = {};
  const blocks: Record<string, number> = {};
  // A step run in a step child: its own time, CPU and loop block, as the child measured them.
  const remote = async (name: string, child: StepChild, step: string): Promise<StepResult> => {
    const r = await child.run(step);
    t[name].push(r.ms);
    (cpu[name] ??= []).push(Number(r.info.cpuMs));
    blocks[name] = Math.max(blocks[name] ?? 0, r.blockMs);
    return r;
  };
  // One untimed run of each step child at this size first: a server refreshes again and again,
  // and its first refresh (JIT compilation; at a new size, every socket new to the decoder) is
  // reported on its own row rather than mixed into the median of five.
  const first = await svc.kernel.run('service');
  for (const c of [svc.plain, svc.kernelSnap, svc.plainSnap]) await c.run(c === svc.plain ? 'service' : 'snapshot');
  const warmResolver = new ProcessResolver();
  await collectSnapshot({ source: 'netlink', processes: true, resolver: warmResolver }); // prime
  const h = monitorEventLoopDelay({ resolution: 1 });
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    h.reset(); h.enable();
    const a = performance.now();
    await fn();
    t[name].push(performance.now() - a);
    h.disable();
    blocks[name] = Math.max(blocks[name] ?? 0, h.max / 1e6);
  };
  for (let i = 0; i < rounds; i++) {
    const a = timeSs(['-tan']); t.tan.push(a.ms); ssLines = a.lines;
    nlCount = Number((await remote('nl', svc.plainSnap, 'snapshot')).info.sockets);
    if (opts.classify) {
      const snap = await collectSnapshot({ source: 'netlink' });
      const c = performance.now();
      opts.classify(snap);
      t.cls.push(performance.now() - c);
    }
    if (kernelOn) ebCount = Number((await remote('eb', svc.kernelSnap, 'snapshot')).info.sockets);
    const k = (await remote('svcK', svc.kernel, 'service')).info;
    svcKSource = String(k.source);
    kernRecords = Number(k.records);
    kernConns = Number(k.conns);
    kernDecided = Number(k.certain);
    svcRss = Number(k.maxRssMb);
    await remote('svc', svc.plain, 'service');
    await step('pf', async () => { pfCount = (await collectSnapshot({ source: 'procfs' })).sockets.length; });
    await step('warm', async () => {
      owned = (await collectSnapshot({ source: 'netlink', processes: true, resolver: warmResolver })).processes!.size;
    });
    if (i < 3) await step('cold', async () => { await collectSnapshot({ source: 'netlink', processes: true, resolver: new ProcessResolver() }); });
    t.tanp.push(timeSs(['-tanp']).ms);
  }
  const tan = median(t.tan), tanp = median(t.tanp);
  const m = (k: string): number => median(t[k]);
  const ws = warmResolver.lastStats!;
  const rows: Row[] = [
    { name: 'ss -tan', ms: tan, note: `${ssLines} sockets; rounds ${roundsText(t.tan)}` },
    { name: 'ss -tanp', ms: tanp },
    { name: 'snapshot netlink', ms: m('nl'), ratioTo: 'ss -tan', ratio: m('nl') / tan, note: `${nlCount} sockets, loop block ${blocks.nl.toFixed(0)} ms` },
    ...(kernelOn ? [{ name: 'snapshot ebpf (iterator pass as the socket list)', ms: m('eb'), ratioTo: 'ss -tan', ratio: m('eb') / tan,
      note: `${ebCount} sockets, loop block ${blocks.eb.toFixed(0)} ms` }] : []),
    { name: 'service: snapshot + kernel evidence + classification', ms: m('svcK'), ratioTo: 'ss -tan', ratio: m('svcK') / tan,
      note: svc.kernel.note || `source ${svcKSource}; ${kernRecords} iterator records, ${kernDecided}/${kernConns} connections certain; target <= 0.5x; CPU ${median(cpu.svcK)} ms (all threads); loop block ${blocks.svcK.toFixed(0)} ms; rounds ${roundsText(t.svcK)}` },
    { name: 'service: the same, first refresh at this size (not in the median above)', ms: first.ms, ratioTo: 'ss -tan', ratio: first.ms / tan,
      note: `peak RSS of this service process ${svcRss} MB` },
    { name: 'service: snapshot + classification, kernel off', ms: m('svc'), ratioTo: 'ss -tan', ratio: m('svc') / tan, note: `CPU ${median(cpu.svc)} ms (all threads); loop block ${blocks.svc.toFixed(0)} ms` },
    { name: 'snapshot procfs', ms: m('pf'), ratioTo: 'ss -tan', ratio: m('pf') / tan, note: `${pfCount} sockets, loop block ${blocks.pf.toFixed(0)} ms` },
    { name: 'snapshot netlink + processes cold', ms: m('cold'), ratioTo: 'ss -tanp', ratio: m('cold') / tanp, note: `loop block ${blocks.cold.toFixed(0)} ms` },
    { name: 'snapshot netlink + processes warm', ms: m('warm'), ratioTo: 'ss -tanp', ratio: m('warm') / tanp,
      note: `${owned} inodes owned; last: ${ws.pidsScanned} pids / ${ws.fdsRead} fds re-read; loop block ${blocks.warm.toFixed(0)} ms` },
  ];
  if (opts.classify) rows.push({ name: 'classify (on netlink snapshot)', ms: m('cls'), ratioTo: 'ss -tan', ratio: m('cls') / tan });
  return rows;
}

/**
 * Peak RSS of a fresh process doing what a server does: repeated netlink snapshots with warm
 * process attribution. (The bench process itself also holds ss output and procfs text.)
 */
function rssProbe(rounds: number): number {
  const r = spawnSync(process.execPath, [__filename, '--rss-probe', String(rounds)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rss probe failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function print(size: number, actual: number, rows: Row[], probeRss: number): void {
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`\n## ${size} loopback sockets requested (${actual} TCP sockets on the host)`);
  console.log(`peak RSS: snapshot+processes process ${probeRss.toFixed(0)} MB; this bench process ${rss.toFixed(0)} MB`);
  console.log('| step | median ms | ratio | note |');
  console.log('|---|---:|---:|---|');
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x ${r.ratioTo}`;
    console.log(`| ${r.name} | ${r.ms.toFixed(1)} | ${ratio} | ${r.note ?? ''} |`);
  }
}

export async function runSnapshotBench(opts: BenchOptions): Promise<void> {
  const children: LoadChild[] = [];
  const hosts = ['127.0.0.1', '::1'];
  let connections = 0;
  const svc: Steps = {
    kernel: await spawnSteps('kernel'), plain: await spawnSteps('plain'),
    kernelSnap: await spawnSteps('kernel'), plainSnap: await spawnSteps('plain'),
  };
  const kernelNote = svc.kernel.note;
  if (kernelNote) console.log(`\n${kernelNote}: the kernel rows measure heuristics only`);
  try {
    for (const size of opts.sizes) {
      const t0 = performance.now();
      while (connections < size / 2) {
        const n = Math.min(9000, size / 2 - connections);
        children.push(await spawnLoopbackLoad(hosts[children.length % 2], n));
        connections += n;
      }
      console.log(`\nopened ${connections} connections in ${children.length} children (+${(performance.now() - t0).toFixed(0)} ms)`);
      const rows = await measure(size, opts.rounds, opts, svc);
      const actual = (await collectSnapshot({ source: 'netlink' })).sockets.length;
      if (size === opts.sizes[opts.sizes.length - 1]) rows.push(...(await fdScanMethods()));
      print(size, actual, rows, rssProbe(opts.rounds));
    }
  } finally {
    for (const c of [svc.kernel, svc.plain, svc.kernelSnap, svc.plainSnap]) c.close();
    await Promise.all(children.map((c) => c.close()));
  }
  // After the load is gone and this process's tracepoint detached: "off" must mean off.
  if (opts.churn && opts.churn > 0) {
    if (kernelNote) console.log(`\nchurn with the tracepoint skipped: ${kernelNote}`);
    else printChurn(await runChurnBench(opts.churn, opts.churnRounds ?? 7));
  }
}

async function rssProbeMain(rounds: number): Promise<void> {
  const resolver = new ProcessResolver();
  for (let i = 0; i < rounds + 1; i++) await collectSnapshot({ source: 'netlink', processes: true, resolver });
  process.stdout.write(`${process.resourceUsage().maxRSS / 1024}\n`);
}

if (require.main === module && process.argv[2] === '--steps') {
  stepsMain(process.argv[3] === 'kernel' ? 'kernel' : 'plain').catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else if (require.main === module && process.argv[2] === '--rss-probe') {
  rssProbeMain(Number(process.argv[3] ?? 5)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else if (require.main === module) {
  const sizes = (process.argv[2] ?? '10000,50000,100000').split(',').map(Number);
  const rounds = Number(process.argv[3] ?? 5);
  const churn = Number(process.argv[4] ?? 20000);
  const churnRounds = Number(process.argv[5] ?? 7);
  runSnapshotBench({ sizes, rounds, churn, churnRounds }).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
