// Connection churn with the kernel-evidence tracepoint on vs off: a python child does `n`
// loopback connect/accept/close cycles and times itself; "on" rounds run while a separate tcpdir
// process (this file with --hold) has the eBPF source loaded with its state-change tracepoint
// and drains events as the service does. Rounds alternate (and swap order) so host noise hits both alike.
//   node dist/bench/kernel-churn.js [connections=20000] [rounds=5]
// Needs root (CAP_BPF + CAP_PERFMON) and python3. Used by bench:snapshot.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { KernelEvidenceSource } from '../src/collectors/kernel';
import { median } from './measure';

// The accepted end closes first, so TIME_WAIT lands on the listener's port (one per 4-tuple)
// and rounds do not run out of ephemeral ports. A fresh listener per round.
const CHURN_PY = `
import socket, sys, time
n = int(sys.argv[1])
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1024)
addr = l.getsockname()
t = time.perf_counter()
for i in range(n):
    c = socket.socket(); c.connect(addr); a, _ = l.accept(); a.close(); c.close()
print(time.perf_counter() - t, flush=True)
`;

export interface ChurnResult {
  connections: number;
  offMs: number[];
  onMs: number[];
  /** Events the holder drained and lost, summed over the "on" rounds. */
  events: number;
  kernelDrops: number;
  userDrops: number;
}


function churnOnce(n: number): number {
  const r = spawnSync('python3', ['-c', CHURN_PY, String(n)], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`churn child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return Number(r.stdout.trim()) * 1000;
}

/** A tcpdir-like process with the tracepoint attached, until stop() (which returns its counts). */
async function startHolder(): Promise<{ stop(): Promise<{ events: number; kernelDrops: number; userDrops: number }> }> {
  const child = spawn(process.execPath, [__filename, '--hold'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    waiters.shift()?.();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => { r(); for (const w of waiters.splice(0)) w(); }));
  const nextLine = async (): Promise<string> => {
    if (!lines.length) await new Promise<void>((r) => waiters.push(r));
    const l = lines.shift();
    if (l === undefined) throw new Error(`kernel-churn holder exited: ${stderr.trim()}`);
    return l;
  };
  const ready = await nextLine();
  if (ready !== 'ready') throw new Error(`kernel-churn holder: ${ready} ${stderr.trim()}`);
  return {
    async stop() {
      child.stdin.end();
      const out = JSON.parse(await nextLine()) as { events: number; kernelDrops: number; userDrops: number };
      await exited;
      return out;
    },
  };
}

export async function runChurnBench(connections: number, rounds: number): Promise<ChurnResult> {
  const res: ChurnResult = { connections, offMs: [], onMs: [], events: 0, kernelDrops: 0, userDrops: 0 };
  churnOnce(Math.min(2000, connections)); // warm up python and the loopback path
  const on = async (): Promise<void> => {
    const h = await startHolder();
    try {
      res.onMs.push(churnOnce(connections));
    } finally {
      const s = await h.stop();
      res.events += s.events;
      res.kernelDrops += s.kernelDrops;
      res.userDrops += s.userDrops;
    }
  };
  // Which goes first alternates, so a drift in host load does not favour either.
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      res.offMs.push(churnOnce(connections));
      await on();
    } else {
      await on();
      res.offMs.push(churnOnce(connections));
    }
  }
  return res;
}

export function printChurn(r: ChurnResult): void {
  const off = median(r.offMs), on = median(r.onMs);
  console.log(`\n## Connection churn: ${r.connections} loopback connect/accept/close in a python child, ${r.offMs.length} rounds each`);
  console.log('| tracepoint | median ms | all rounds ms | per connection µs |');
  console.log('|---|---:|---|---:|');
  console.log(`| off | ${off.toFixed(0)} | ${r.offMs.map((x) => x.toFixed(0)).join(', ')} | ${((1000 * off) / r.connections).toFixed(1)} |`);
  console.log(`| on (tcpdir holding it, draining every 500 ms) | ${on.toFixed(0)} | ${r.onMs.map((x) => x.toFixed(0)).join(', ')} | ${((1000 * on) / r.connections).toFixed(1)} |`);
  console.log(`slowdown with the tracepoint: ${(((on / off) - 1) * 100).toFixed(1)}% (target <= 10%); ` +
    `${r.events} birth events drained, ${r.kernelDrops} dropped in the ring buffer, ${r.userDrops} in the native buffer`);
}

/** --hold: load the source as the service does and drain until stdin closes. */
async function hold(): Promise<void> {
  const src = KernelEvidenceSource.open();
  if (!src.available) throw new Error(`kernel evidence unavailable: ${src.code}: ${src.reason}`);
  let events = 0;
  const timer = setInterval(() => (events += src.drain().length), 500);
  process.stdout.write('ready\n');
  process.stdin.resume();
  await new Promise<void>((r) => process.stdin.once('end', r));
  clearInterval(timer);
  events += src.drain().length;
  const s = src.stats() ?? { kernelDrops: -1, userDrops: -1 };
  src.close();
  process.stdout.write(`${JSON.stringify({ events, kernelDrops: s.kernelDrops, userDrops: s.userDrops })}\n`);
}

if (require.main === module && process.argv[2] === '--hold') {
  hold().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else if (require.main === module) {
  runChurnBench(Number(process.argv[2] ?? 20000), Number(process.argv[3] ?? 5)).then(printChurn, (e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
