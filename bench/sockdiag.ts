// readSockDiag() (netlink dump + decode) vs `ss -tan` over the same sockets, in the same run.
// Usage: node dist/bench/sockdiag.js [connections=20000] [rounds=7]
// Each connection is two sockets, so 20000 connections = ~40k sockets. Each round also dumps with
// tcp_info (what the collector asks for without kernel evidence) to print what it costs.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { decodeSockDiag } from '../src/collectors/sockdiag';
import { loadSockDiag } from '../src/collectors/native';
import { spawnLoopbackLoads } from './loopback-load';
import { median } from './measure';


async function main(): Promise<void> {
  const connections = Number(process.argv[2] ?? 20000);
  const rounds = Number(process.argv[3] ?? 7);
  const t0 = performance.now();
  const children = await spawnLoopbackLoads(connections);
  console.log(`opened ${connections} loopback connections in ${(performance.now() - t0).toFixed(0)} ms`);
  try {
    const binding = loadSockDiag();
    const dumpMs: number[] = [], decodeMs: number[] = [], totalMs: number[] = [], ssMs: number[] = [];
    const infoDumpMs: number[] = [], infoTotalMs: number[] = [];
    let sockets = 0, ssLines = 0;
    for (let i = 0; i < rounds; i++) {
      const a = performance.now();
      const res = await binding.dump();
      const b = performance.now();
      sockets = decodeSockDiag(res.records).length;
      const c = performance.now();
      dumpMs.push(b - a); decodeMs.push(c - b); totalMs.push(c - a);
      const ia = performance.now();
      const ires = await binding.dump({ tcpInfo: true });
      const ib = performance.now();
      decodeSockDiag(ires.records);
      infoDumpMs.push(ib - ia); infoTotalMs.push(performance.now() - ia);
      const s = performance.now();
      const ss = spawnSync('ss', ['-tan'], { maxBuffer: 64 << 20 });
      ssMs.push(performance.now() - s);
      if (ss.status !== 0) throw new Error(`ss -tan failed: ${ss.stderr}`);
      ssLines = ss.stdout.toString().split('\n').filter((l) => l.length > 0).length - 1;
    }
    console.log(`sockets: readSockDiag ${sockets}, ss -tan ${ssLines}`);
    console.log(`median of ${rounds}: native dump ${median(dumpMs).toFixed(1)} ms, decode ${median(decodeMs).toFixed(1)} ms, ` +
      `readSockDiag total ${median(totalMs).toFixed(1)} ms; ss -tan ${median(ssMs).toFixed(1)} ms ` +
      `(ratio ${(median(totalMs) / median(ssMs)).toFixed(2)})`);
    console.log(`with tcp_info: native dump ${median(infoDumpMs).toFixed(1)} ms, readSockDiag total ${median(infoTotalMs).toFixed(1)} ms ` +
      `(x${(median(infoTotalMs) / median(totalMs)).toFixed(2)} of the dump without; ratio to ss -tan ${(median(infoTotalMs) / median(ssMs)).toFixed(2)})`);
  } finally {
    await Promise.all(children.map((c) => c.close()));
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
