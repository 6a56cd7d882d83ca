// bench:events-pipeline: the recorder's own cost, in one process and without the kernel: drained
// tracepoint batches (struct tcpdir_event[], built here as a loopback connection's two sockets
// produce them: connect, handshake, reset) go through what `tcpdir serve` runs on each drain
// (birth store, decode, recorder, store with its timers) into a SQLite file. Snapshots, other
// processes' sockets and the machine's other load stay out, so it isolates what bench:events
// cannot on a shared host. Prints CPU (user+system of this process) per life.
//   node dist/bench/events-pipeline.js [connections=200000] [per-second=8000]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelBirthStore } from '../src/collectors/kernel/birth-store';
import { kernelEventsIn } from '../src/collectors/kernel/decode';
import { AF_INET, EVT, KERNEL_EVENT_SIZE, KERNEL_LAYOUT_VERSION } from '../src/collectors/kernel/layout';
import { HistoryStore, Recorder } from '../src/history';
import { TcpStateCode as S } from '../src/model/tcp-state';

const total = Number(process.argv[2] ?? 200_000);
const perSecond = Number(process.argv[3] ?? 8000);
const DRAIN_MS = 200; // the kernel source's drain timer with lifecycle events (the recorder's)
const LISTEN_PORT = 40_000;

/** The six events of one loopback connection (client cookie c, server child cookie c+1). */
function writeConnection(buf: Buffer, at: number, cookie: number, ns: bigint, port: number): number {
  const ev = (cookie: number, oldS: number, newS: number, sport: number, dport: number, pid: number, bytes: number): void => {
    buf.fill(0, at, at + KERNEL_EVENT_SIZE);
    buf.writeUInt32LE(cookie, at + EVT.cookie);
    buf.writeBigUInt64LE(ns, at + EVT.tsNs);
    if (sport !== 0) buf.writeUInt32BE(0x7f000001, at + EVT.localAddress);
    buf.writeUInt32BE(0x7f000001, at + EVT.remoteAddress);
    buf.writeUInt16LE(sport, at + EVT.sport);
    buf.writeUInt16LE(dport, at + EVT.dport);
    buf[at + EVT.family] = AF_INET;
    buf[at + EVT.oldState] = oldS;
    buf[at + EVT.newState] = newS;
    buf[at + EVT.version] = KERNEL_LAYOUT_VERSION;
    buf.writeUInt32LE(pid, at + EVT.pid);
    buf.writeUInt32LE(4026531840, at + EVT.netns);
    buf.writeUInt32LE(bytes, at + EVT.bytesAcked);
    buf.writeUInt32LE(bytes, at + EVT.bytesReceived);
    buf.write('node', at + EVT.comm, 'latin1');
    at += KERNEL_EVENT_SIZE;
  };
  ev(cookie, S.CLOSE, S.SYN_SENT, 0, LISTEN_PORT, 4242, 0);
  ev(cookie + 1, S.LISTEN, S.SYN_RECV, LISTEN_PORT, port, 0, 0);
  ev(cookie, S.SYN_SENT, S.ESTABLISHED, port, LISTEN_PORT, 0, 0);
  ev(cookie + 1, S.SYN_RECV, S.ESTABLISHED, LISTEN_PORT, port, 0, 0);
  ev(cookie + 1, S.ESTABLISHED, S.CLOSE, LISTEN_PORT, port, 0, 1);
  ev(cookie, S.ESTABLISHED, S.CLOSE, port, LISTEN_PORT, 0, 1);
  return at;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-bench-pipeline-'));
  const path = join(dir, 'history.sqlite');
  const store = HistoryStore.open({ path });
  const recorder = new Recorder({ store, mode: 'KERNEL', intervalMs: 5000 });
  const births = new KernelBirthStore();
  const perDrain = Math.max(1, Math.round((perSecond * DRAIN_MS) / 1000));
  // Every batch built first: the CPU measured is tcpdir's, not the generator's.
  const batches: Buffer[] = [];
  let cookie = 1_000_000, made = 0;
  let ns = BigInt(Math.round(performance.now() * 1e6));
  while (made < total) {
    const n = Math.min(perDrain, total - made);
    const buf = Buffer.alloc(n * 6 * KERNEL_EVENT_SIZE);
    let at = 0;
    for (let i = 0; i < n; i++, made++, cookie += 2) {
      ns += BigInt(Math.round(1e9 / perSecond));
      at = writeConnection(buf, at, cookie, ns, 10_000 + (made % 50_000));
    }
    batches.push(buf);
  }
  const rss: number[] = [];
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  let fed = 0;
  for (const raw of batches) {
    // What a drain runs: the birth store, then the recorder's decoded feed.
    births.ingestRaw(raw, Date.now());
    const offset = Date.now() - Number(process.hrtime.bigint()) / 1e6;
    recorder.ingest(kernelEventsIn(raw), offset);
    fed += raw.length / (6 * KERNEL_EVENT_SIZE);
    if (rss.length < (Date.now() - t0) / 1000) rss.push(process.memoryUsage.rss() / 1048576);
    // Paced as the connections would come: the store's timers flush meanwhile.
    const due = t0 + (fed / perSecond) * 1000 - Date.now();
    await new Promise((r) => (due > 0 ? setTimeout(r, due) : setImmediate(r)));
  }
  store.flush();
  while (store.status().queued > 0) { await new Promise((r) => setTimeout(r, 10)); store.flush(); }
  const cpu = process.cpuUsage(cpu0);
  const wall = Date.now() - t0;
  const st = store.status();
  const lives = 2 * made;
  const sec = (cpu.user + cpu.system) / 1e6;
  store.close();
  const bytes = statSync(path).size;
  console.log(`bench:events-pipeline, ${made} connections (${lives} lives) in batches of ${perDrain}`);
  console.log(`stored ${st.records}, not stored ${st.droppedWrites}, wall ${(wall / 1000).toFixed(1)} s`);
  console.log(`CPU ${sec.toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}): ${((sec / lives) * 1e6).toFixed(2)} µs per life, ${((sec / made) * 1e6).toFixed(2)} µs per connection`);
  const edge = Math.max(1, Math.min(5, Math.floor(rss.length / 3)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  console.log(`RSS ${mean(rss.slice(0, edge)).toFixed(0)} MiB over the first ${edge} s, ${mean(rss.slice(-edge)).toFixed(0)} MiB over the last ${edge} s`);
  console.log(`database ${(bytes / 1048576).toFixed(1)} MiB: ${((bytes / Math.max(1, st.records)) * 1e6 / 1048576).toFixed(0)} MiB per million lives`);
  rmSync(dir, { recursive: true, force: true });
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
