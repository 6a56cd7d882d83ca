// All-namespace snapshot vs `ip netns exec NAME ss -tan` run in every namespace, in the same run.
// Usage: node dist/bench/namespaces.js [namespaces=50] [connections=200] [runs=7]
// Creates `namespaces` network namespaces (tcpdir-bench-ns-PID-i), each with one python child
// holding a loopback listener and `connections` client connections to it (2 sockets each), then
// alternates: collectAllNamespaces() with discovery state kept between runs, as the service keeps
// it (sock_diag + port range inside each namespace, through the addon's setns thread), discovery
// alone (every pid read, and kept state with nothing changed), and a loop of `ss -tan` over the same namespaces (the own one with plain
// `ss -tan`, so both sides read the same sockets). Reports medians and the ratio; the target is
// tcpdir <= 0.5x the loop. Then, as the service collects with kernel evidence (Collector: the
// eBPF iterator inside each namespace too), `runs` collections with nothing changed (namespaces
// whose change count did not move keep their last walk) against `runs` where every bench namespace
// first made one more connection. Every namespace is deleted at the end, also on failure or Ctrl-C.
// Needs root (CAP_SYS_ADMIN), iproute2, ss and python3.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { classify } from '../src/classifier';
import { collectAllNamespaces, discoverNamespaces, NetnsDiscovery } from '../src/collectors';
import { Collector } from '../src/collectors/collector';

const CHILD = `
import socket, sys
n = int(sys.argv[1])
l = socket.socket(); l.bind(('127.0.0.1', 8000)); l.listen(4096)
keep = [l]
for i in range(n):
    c = socket.socket(); c.connect(('127.0.0.1', 8000)); a, _ = l.accept(); keep += [c, a]
print('ready', flush=True)
for line in sys.stdin:
    c = socket.socket(); c.connect(('127.0.0.1', 8000)); a, _ = l.accept(); keep += [c, a]
    print('ok', flush=True)
`;

const PREFIX = `tcpdir-bench-ns-${process.pid}-`;
const created: string[] = [];
const children: ChildProcess[] = [];

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of created.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

async function main(): Promise<void> {
  const nsCount = Number(process.argv[2] ?? 50);
  const perNs = Number(process.argv[3] ?? 200);
  const runs = Number(process.argv[4] ?? 7);
  if (process.getuid?.() !== 0) throw new Error('bench:namespaces needs root (it creates network namespaces)');

  const t0 = performance.now();
  for (let i = 0; i < nsCount; i++) {
    const ns = `${PREFIX}${i}`;
    run('ip', ['netns', 'add', ns]);
    created.push(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  for (const ns of created) {
    children.push(spawn('ip', ['netns', 'exec', ns, 'python3', '-c', CHILD, String(perNs)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }
  await Promise.all(children.map(async (c) => {
    const [line] = (await once(c.stdout!, 'data')) as [Buffer];
    if (!line.toString().startsWith('ready')) throw new Error(`child said ${line.toString()}`);
  }));
  console.log(`setup: ${nsCount} namespaces x (1 listener + ${perNs} connections = ${2 * perNs} connected sockets) in ${(performance.now() - t0).toFixed(0)} ms`);

  const snapMs: number[] = [], classifyMs: number[] = [], ssMs: number[] = [], fullMs: number[] = [], incMs: number[] = [];
  // As the service keeps it: what changed since the last collection is read, not every pid.
  const discovery = new NetnsDiscovery();
  await discovery.discover();
  let incReads = 0, pids = 0;
  let tcpdirInBench = 0, ssInBench = 0, tcpdirTotal = 0, ssTotal = 0, entered = 0;
  const benchIds = new Set<string>();
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    const snap = await collectAllNamespaces({ processes: false, discovery });
    snapMs.push(performance.now() - t);
    // Discovery alone: every pid's ns/net link read (one-shot callers) against the kept state.
    t = performance.now();
    const full = await discoverNamespaces();
    fullMs.push(performance.now() - t);
    pids = full.namespaces.reduce((n, ns) => n + ns.pids.length, 0);
    t = performance.now();
    await discovery.discover();
    incMs.push(performance.now() - t);
    incReads = discovery.lastReads;
    t = performance.now();
    classify(snap);
    classifyMs.push(performance.now() - t);
    benchIds.clear();
    entered = 0;
    for (const n of snap.namespaces ?? []) {
      if (n.name?.startsWith(PREFIX)) {
        benchIds.add(n.id);
        if (n.source === 'netlink') entered++;
      }
    }
    tcpdirInBench = snap.sockets.filter((s) => s.netns !== null && benchIds.has(s.netns)).length;
    tcpdirTotal = snap.sockets.length;

    // The reference: ss in each namespace, the own one included (ss prints a header line).
    t = performance.now();
    let lines = 0, benchLines = 0;
    lines += run('ss', ['-tan']).split('\n').length - 2;
    for (const ns of created) {
      const n = run('ip', ['netns', 'exec', ns, 'ss', '-tan']).split('\n').length - 2;
      lines += n;
      benchLines += n;
    }
    ssMs.push(performance.now() - t);
    ssInBench = benchLines;
    ssTotal = lines;
  }
  discovery.close();
  if (entered !== nsCount) throw new Error(`tcpdir entered ${entered} of ${nsCount} bench namespaces`);
  if (tcpdirInBench !== ssInBench) console.log(`WARNING: bench namespaces: tcpdir saw ${tcpdirInBench} sockets, ss ${ssInBench}`);

  const ratio = median(snapMs) / median(ssMs);
  console.log(`sockets in the bench namespaces: tcpdir ${tcpdirInBench}, ss ${ssInBench}; whole host incl. own namespace: tcpdir ${tcpdirTotal}, ss ${ssTotal}`);
  console.log(`tcpdir all-namespace snapshot: ${fmt(snapMs)}`);
  console.log(`  + classify:                   ${fmt(classifyMs)}`);
  console.log(`namespace discovery, every pid read (${pids} pids): ${fmt(fullMs)}`);
  console.log(`namespace discovery, kept state, nothing changed (${incReads} links read): ${fmt(incMs)}`);
  console.log(`ss -tan loop (${nsCount + 1} namespaces): ${fmt(ssMs)}`);
  console.log(`ratio tcpdir/ss: ${ratio.toFixed(3)}x (target <= 0.5x): ${ratio <= 0.5 ? 'PASS' : 'FAIL'}`);

  // As the service collects, kernel evidence on.
  const collector = new Collector({ allNamespaces: true, conntrack: false });
  if (!collector.kernel.available) {
    console.log(`kernel evidence unavailable (${collector.kernel.code}): no kernel rows`);
    collector.close();
    return;
  }
  const idle: number[] = [], changed: number[] = [];
  let kept = 0, read = 0;
  await collector.collect();
  for (let r = 0; r < runs; r++) {
    await Promise.all(children.map(async (c) => {
      c.stdin!.write('x\n');
      await once(c.stdout!, 'data');
    }));
    let t = performance.now();
    await collector.collect();
    changed.push(performance.now() - t);
    t = performance.now();
    const snap = await collector.collect();
    idle.push(performance.now() - t);
    kept = (snap.namespaces ?? []).filter((n) => !n.self && n.readAt !== undefined && n.readAt < snap.collectedAt).length;
    read = (snap.namespaces ?? []).filter((n) => !n.self && n.readAt === snap.collectedAt).length;
  }
  collector.close();
  console.log(`collect() with kernel evidence, every bench namespace changed: ${fmt(changed)}`);
  console.log(`collect() with kernel evidence, nothing changed (${kept} namespaces kept their last walk, ${read} read): ${fmt(idle)}`);
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (e) => {
    console.error(`bench:namespaces: ${e instanceof Error ? e.message : String(e)}`);
    cleanup();
    process.exit(1);
  },
);
