// Kernel-evidence iterator vs `ss -tanH` on the same sockets, in the same run.
// Usage: node dist/bench/kernel-iterate.js [connections=20000] [runs=7]
// Opens `connections` loopback connections (2 sockets each, plus listeners) spread over python
// children of at most 5,000 connections (10k fds) each, then times load+attach, iterate(),
// decode+classify, and ss. Needs root (CAP_BPF+CAP_PERFMON) and python3.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { decodeKernelRecords, KernelEvidenceSource } from '../src/collectors/kernel';
import type { KernelBinding } from '../src/collectors/kernel';
import { loadNative } from '../src/collectors/native';
import { kernelDirection } from '../src/classifier';

const PER_CHILD = 5000;
const CHILD = `
import socket, sys
n = int(sys.argv[1])
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4096)
keep = [l]
for i in range(n):
    c = socket.socket(); c.connect(l.getsockname()); a, _ = l.accept(); keep += [c, a]
print('ready', flush=True)
sys.stdin.read()
# Reset, not FIN: a FIN close leaves a TIME_WAIT socket per connection for 60 s, weighing on
# whatever runs next on this host.
import struct
for s in keep[1:]: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;

async function main(): Promise<void> {
  const connections = Number(process.argv[2] ?? 20000);
  const runs = Number(process.argv[3] ?? 7);
  const children: ChildProcess[] = [];
  try {
    for (let left = connections; left > 0; left -= PER_CHILD) {
      const c = spawn('python3', ['-c', CHILD, String(Math.min(PER_CHILD, left))], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(c);
    }
    await Promise.all(children.map(async (c) => {
      const [line] = (await once(c.stdout!, 'data')) as [Buffer];
      if (!line.toString().startsWith('ready')) throw new Error(`child said ${line.toString()}`);
    }));

    const t0 = performance.now();
    const src = KernelEvidenceSource.open({ drainIntervalMs: 0 });
    const openMs = performance.now() - t0;
    if (!src.available) throw new Error(`kernel evidence unavailable: ${src.code}: ${src.reason}`);
    const binding = loadNative<KernelBinding>('tcpdir_kernel');

    const iter: number[] = [], decode: number[] = [], classify: number[] = [], ss: number[] = [];
    let count = 0, ssCount = 0, unknown = 0;
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      const buf = await binding.iterate();
      iter.push(performance.now() - t);
      t = performance.now();
      const recs = decodeKernelRecords(buf);
      decode.push(performance.now() - t);
      t = performance.now();
      unknown = 0;
      for (const r of recs) if (kernelDirection(r).direction === 'UNKNOWN' && r.state !== 'LISTEN') unknown++;
      classify.push(performance.now() - t);
      count = recs.length;
      t = performance.now();
      const out = spawnSync('ss', ['-tanH'], { maxBuffer: 1 << 28 });
      ss.push(performance.now() - t);
      ssCount = out.stdout.toString().split('\n').filter(Boolean).length;
    }
    src.close();
    console.log(`sockets: iterator ${count}, ss ${ssCount} (${connections} connections in ${children.length} children)`);
    console.log(`load+attach: ${openMs.toFixed(1)} ms`);
    console.log(`iterate(): ${fmt(iter)}`);
    console.log(`decode:    ${fmt(decode)}`);
    console.log(`classify:  ${fmt(classify)} (${unknown} non-listener sockets unknown)`);
    console.log(`ss -tanH:  ${fmt(ss)}`);
    console.log(`ratio iterate/ss: ${(median(iter) / median(ss)).toFixed(2)}; iterate+decode+classify/ss: ${((median(iter) + median(decode) + median(classify)) / median(ss)).toFixed(2)}`);
  } finally {
    for (const c of children) c.stdin?.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
