import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket as NetSocket } from 'node:net';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { collectSnapshot } from '../../src/collectors/snapshot';
import { ProcessResolver } from '../../src/collectors/proc-fd';
import { KernelEvidenceSource } from '../../src/collectors/kernel';
import { scanSockets } from '../../src/collectors/kernel';
import type { Snapshot, Socket } from '../../src/model';

// Live sockets opened here; both sources must report exactly these, owned by the right process.
const closers: Array<() => void> = [];
after(() => { for (const c of closers.reverse()) c(); });

interface Opened { server: Server; port: number; accepted: NetSocket[] }

async function listen(host: string, opts: { ipv6Only?: boolean } = {}): Promise<Opened> {
  const accepted: NetSocket[] = [];
  const server = createServer((s) => accepted.push(s));
  server.listen({ port: 0, host, ipv6Only: opts.ipv6Only });
  await once(server, 'listening');
  closers.push(() => { for (const s of accepted) s.destroy(); server.close(); });
  return { server, port: (server.address() as { port: number }).port, accepted };
}

async function dial(port: number, host: string): Promise<NetSocket> {
  const c = connect(port, host);
  await once(c, 'connect');
  closers.push(() => c.destroy());
  return c;
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'timed out waiting for the kernel to accept');
}

/** A python3 child that listens with a backlog and never accepts: connections stay queued. */
async function stuckListener(): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawn('python3', ['-c', `
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`]);
  closers.push(() => child.kill('SIGKILL'));
  const [buf] = (await once(child.stdout, 'data')) as [Buffer];
  return { child, port: Number(buf.toString().trim()) };
}

const key = (s: Pick<Socket, 'family' | 'state' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>): string =>
  `${s.family} ${s.state} ${s.localAddress}:${s.localPort} ${s.remoteAddress}:${s.remotePort}`;

let ports: Set<number>;
let expected: Map<string, number | 'none'>; // key -> owner pid ('none' = inode 0)
let stuckPid: number;

before(async () => {
  const me = process.pid;
  const v4 = await listen('127.0.0.1');
  const c4 = await dial(v4.port, '127.0.0.1');
  const v6 = await listen('::1');
  const c6 = await dial(v6.port, '::1');
  const dual = await listen('::', { ipv6Only: false });
  const cd = await dial(dual.port, '127.0.0.1'); // IPv4 client -> dual-stack listener
  const stuck = await stuckListener();
  stuckPid = stuck.child.pid!;
  const cq = await dial(stuck.port, '127.0.0.1'); // completes the handshake, then sits in the queue
  await waitFor(() => v4.accepted.length === 1 && v6.accepted.length === 1 && dual.accepted.length === 1);
  ports = new Set([v4.port, v6.port, dual.port, stuck.port]);
  const lp = (s: NetSocket) => s.localPort!;
  expected = new Map<string, number | 'none'>([
    [`IPV4 LISTEN 127.0.0.1:${v4.port} 0.0.0.0:0`, me],
    [`IPV4 ESTABLISHED 127.0.0.1:${lp(c4)} 127.0.0.1:${v4.port}`, me],
    [`IPV4 ESTABLISHED 127.0.0.1:${v4.port} 127.0.0.1:${lp(c4)}`, me],
    [`IPV6 LISTEN ::1:${v6.port} :::0`, me],
    [`IPV6 ESTABLISHED ::1:${lp(c6)} ::1:${v6.port}`, me],
    [`IPV6 ESTABLISHED ::1:${v6.port} ::1:${lp(c6)}`, me],
    [`IPV6 LISTEN :::${dual.port} :::0`, me],
    [`IPV4 ESTABLISHED 127.0.0.1:${lp(cd)} 127.0.0.1:${dual.port}`, me],
    // The accepted end of an IPv4 connection to a dual-stack listener is an IPv6 socket.
    [`IPV6 ESTABLISHED ::ffff:127.0.0.1:${dual.port} ::ffff:127.0.0.1:${lp(cd)}`, me],
    [`IPV4 LISTEN 127.0.0.1:${stuck.port} 0.0.0.0:0`, stuckPid],
    [`IPV4 ESTABLISHED 127.0.0.1:${lp(cq)} 127.0.0.1:${stuck.port}`, me],
    // Still in the accept queue: no file, so inode 0 and no owner.
    [`IPV4 ESTABLISHED 127.0.0.1:${stuck.port} 127.0.0.1:${lp(cq)}`, 'none'],
  ]);
});

/** Sockets on the test's ports. TIME_WAIT is left out: earlier runs may have left some on a reused port. */
function ours(snap: Snapshot): Socket[] {
  return snap.sockets.filter((s) => (ports.has(s.localPort) || ports.has(s.remotePort)) && s.state !== 'TIME_WAIT');
}

function checkAgainstOpened(snap: Snapshot): void {
  const got = ours(snap);
  assert.deepEqual(got.map(key).sort(), [...expected.keys()].sort());
  assert.equal(new Set(snap.sockets.map((s) => s.id)).size, snap.sockets.length, 'ids unique');
  for (const s of got) {
    const owner = expected.get(key(s))!;
    if (owner === 'none') {
      assert.equal(s.inode, 0, key(s));
      continue;
    }
    assert.notEqual(s.inode, 0, key(s));
    const procs = snap.processes!.get(s.inode);
    assert.ok(procs?.some((p) => p.pid === owner), `${key(s)} owned by ${owner}, got ${JSON.stringify(procs)}`);
  }
  const stuckListenerRow = got.find((s) => s.state === 'LISTEN' && expected.get(key(s)) === stuckPid)!;
  assert.equal(stuckListenerRow.rqueue, 1, 'one connection waits in the accept queue');
}

test('netlink and procfs report the same sockets, equal to those opened, with owners', async () => {
  const resolver = new ProcessResolver();
  const nl = await collectSnapshot({ source: 'netlink', processes: true, resolver });
  const pf = await collectSnapshot({ source: 'procfs', processes: true, resolver });
  assert.equal(nl.source, 'netlink');
  assert.equal(pf.source, 'procfs');
  checkAgainstOpened(nl);
  checkAgainstOpened(pf);
  assert.deepEqual(ours(nl).map(key).sort(), ours(pf).map(key).sort());
  // Same inodes from both sources for the same tuple.
  const pfInode = new Map(ours(pf).map((s) => [key(s), s.inode]));
  for (const s of ours(nl)) assert.equal(s.inode, pfInode.get(key(s)), key(s));
  for (const s of ours(nl)) assert.ok(s.cookie !== null && s.id !== pfInode.get(key(s))?.toString());
});

test('auto prefers netlink and fills host facts', async () => {
  const snap = await collectSnapshot();
  assert.equal(snap.source, 'netlink');
  assert.equal(snap.fallbackReason, null);
  assert.equal(snap.processes, null, 'processes only when asked');
  assert.match(snap.host.netns ?? '', /^net:\[\d+\]$/);
  assert.ok(snap.host.ephemeralPortRange && snap.host.ephemeralPortRange.low <= snap.host.ephemeralPortRange.high);
  assert.ok(Array.isArray(snap.host.reservedPorts));
  assert.ok(snap.durationMs >= 0 && Math.abs(snap.collectedAt - Date.now()) < 60_000);
  assert.deepEqual(ours(snap).map(key).sort(), [...expected.keys()].sort());
});

test('auto falls back to procfs when netlink cannot be used, and says why', async () => {
  const snap = await collectSnapshot({ nativeDir: '/nonexistent-tcpdir-addon-dir', processes: true });
  assert.equal(snap.source, 'procfs');
  assert.match(snap.fallbackReason ?? '', /^netlink: .*nonexistent-tcpdir-addon-dir/);
  checkAgainstOpened(snap);
  await assert.rejects(collectSnapshot({ source: 'netlink', nativeDir: '/nonexistent-tcpdir-addon-dir' }), /nonexistent-tcpdir-addon-dir/);
});

// The eBPF iterator as the socket list (what the service uses when kernel evidence is loaded).
const kernel = KernelEvidenceSource.open({ events: false });
after(() => { if (kernel.available) kernel.close(); });
const noKernel = kernel.available ? false : `kernel evidence unavailable here (${kernel.code}): ${kernel.reason}`;

test('ebpf reports the same sockets as netlink, field for field (timers, tcp_info and connection queues aside)', { skip: noKernel }, async () => {
  const k = kernel as KernelEvidenceSource;
  const eb = await collectSnapshot({ source: 'ebpf', ebpf: () => scanSockets(k), processes: true });
  const nl = await collectSnapshot({ source: 'netlink' });
  assert.equal(eb.source, 'ebpf');
  checkAgainstOpened(eb);
  const fields = (s: Socket) => JSON.stringify([s.id, s.cookie, s.family, s.state, s.localAddress, s.localPort, s.remoteAddress,
    s.remotePort, s.inode, s.uid, s.state === 'LISTEN' ? [s.rqueue, s.wqueue] : null, s.v6only, s.netns]);
  assert.deepEqual(ours(eb).map(fields).sort(), ours(nl).map(fields).sort());
});

test('auto prefers the iterator when given one, and falls back to netlink when it fails, saying why', { skip: noKernel }, async () => {
  const k = kernel as KernelEvidenceSource;
  const snap = await collectSnapshot({ ebpf: () => scanSockets(k) });
  assert.deepEqual([snap.source, snap.fallbackReason], ['ebpf', null]);
  const failed = await collectSnapshot({ ebpf: () => Promise.reject(new Error('iterator broke')) });
  assert.equal(failed.source, 'netlink');
  assert.match(failed.fallbackReason ?? '', /^ebpf: iterator broke$/);
  assert.deepEqual(ours(failed).map(key).sort(), [...expected.keys()].sort());
  await assert.rejects(collectSnapshot({ source: 'ebpf' }), /needs the kernel-evidence source/);
});
