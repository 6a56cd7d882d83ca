import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket as NetSocket } from 'node:net';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { nativeSocketFds } from '../../src/collectors/native';
import { ProcessResolver, parseStatStarttime, parseSocketLink, type ProcessResolverOptions } from '../../src/collectors/proc-fd';
import { readProcNetTcp } from '../../src/collectors/proc-net-tcp';

const closers: Array<() => void> = [];
after(() => { for (const c of closers.reverse()) c(); });

async function listen(): Promise<{ server: Server; port: number; accepted: NetSocket[] }> {
  const accepted: NetSocket[] = [];
  const server = createServer((s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => { for (const s of accepted) s.destroy(); server.close(); });
  return { server, port: (server.address() as { port: number }).port, accepted };
}

async function dial(port: number): Promise<NetSocket> {
  const c = connect(port, '127.0.0.1');
  await once(c, 'connect');
  closers.push(() => c.destroy());
  return c;
}

/** Inodes of every socket on `port` (either end), read from /proc/net/tcp, independent of the resolver. */
async function inodesOnPort(port: number): Promise<number[]> {
  const all = await readProcNetTcp();
  return all.filter((s) => (s.localPort === port || s.remotePort === port) && s.inode !== 0).map((s) => s.inode);
}

test('parseStatStarttime copes with spaces and parentheses in comm', () => {
  const stat = '123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10';
  assert.equal(parseStatStarttime(stat), '987654');
  assert.equal(parseStatStarttime('garbage'), null);
  assert.equal(parseSocketLink('socket:[4242]'), 4242);
  assert.equal(parseSocketLink('pipe:[4242]'), 0);
});

/** A python child that connects to `port`, prints "up", then on each stdin line swaps its socket. */
function pythonClient(port: number): ChildProcessWithoutNullStreams {
  const code = `
import socket, sys
s = socket.create_connection(('127.0.0.1', ${port}))
print('up', flush=True)
for line in sys.stdin:
    s.close()
    s = socket.create_connection(('127.0.0.1', ${port}))  # same fd number, same fd count
    print('up', flush=True)
`;
  const child = spawn('python3', ['-c', code]);
  closers.push(() => child.kill('SIGKILL'));
  return child;
}

async function nextLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  const [buf] = (await once(child.stdout, 'data')) as [Buffer];
  return buf.toString().trim();
}

// Process attribution reads fd tables with the sockdiag addon's socketFds when it is built, else
// with readlink from JavaScript: both ways behave the same.
const socketFds = nativeSocketFds();
const readers: [string, ProcessResolverOptions][] = [['readlink from JS', {}], ['socketFds in C', { socketFds }]];
for (const [how, opts] of readers) {
  test(`${how}: sockets of this process resolve to this pid and "node"; a warm call re-reads far less`, async () => {
  const { port, accepted } = await listen();
  await dial(port);
  await dial(port);
  while (accepted.length < 2) await new Promise((r) => setTimeout(r, 5));
  const inodes = await inodesOnPort(port);
  assert.equal(inodes.length, 5, 'listener + 2 client ends + 2 accepted ends');

  const r = new ProcessResolver(undefined, opts);
  const cold = await r.resolve([...inodes, 0]);
  const coldStats = r.lastStats!;
  for (const ino of inodes) assert.deepEqual(cold.get(ino), [{ pid: process.pid, command: 'node' }], `inode ${ino}`);
  assert.equal(cold.has(0), false, 'inode 0 has no process');

  // Other processes on the host may churn fds between calls; the cheapest of 3 warm calls
  // shows what the cache saves.
  let warmStats = coldStats;
  for (let i = 0; i < 3; i++) {
    const warm = await r.resolve(inodes);
    for (const ino of inodes) assert.deepEqual(warm.get(ino), [{ pid: process.pid, command: 'node' }]);
    if (r.lastStats!.fdsRead < warmStats.fdsRead) warmStats = r.lastStats!;
  }
  assert.ok(warmStats.fdsRead * 4 < coldStats.fdsRead, `warm read ${warmStats.fdsRead} fds, cold ${coldStats.fdsRead}`);
  assert.ok(warmStats.pidsScanned * 4 < coldStats.pidsScanned, `warm scanned ${warmStats.pidsScanned} pids, cold ${coldStats.pidsScanned}`);

  // A new connection changes this pid's fd count: picked up without a full rescan.
  await dial(port);
  while (accepted.length < 3) await new Promise((r) => setTimeout(r, 5));
  const more = await inodesOnPort(port);
  assert.equal(more.length, 7);
  const m3 = await r.resolve(more);
  for (const ino of more) assert.equal(m3.get(ino)?.[0].pid, process.pid);
  assert.ok(r.lastStats!.pidsScanned < coldStats.pidsScanned);
});

  test(`${how}: a child that opens sockets is found; after it exits it is dropped`, async () => {
  const { port, accepted } = await listen();
  const child = pythonClient(port);
  assert.equal(await nextLine(child), 'up');
  while (accepted.length < 1) await new Promise((r) => setTimeout(r, 5));
  const all = await readProcNetTcp();
  const childEnd = all.find((s) => s.remotePort === port && s.state === 'ESTABLISHED')!;
  assert.ok(childEnd && childEnd.inode !== 0);

  const r = new ProcessResolver(undefined, opts);
  const first = await r.resolve([childEnd.inode]);
  assert.deepEqual(first.get(childEnd.inode), [{ pid: child.pid!, command: 'python3' }]);

  // Swap the socket for another on the same fd: fd count and starttime stay equal, so the new
  // inode is found by the search for unknown inodes, not by the change detection.
  child.stdin.write('swap\n');
  assert.equal(await nextLine(child), 'up');
  while (accepted.length < 2) await new Promise((r) => setTimeout(r, 5));
  const now = await readProcNetTcp();
  const swapped = now.find((s) => s.remotePort === port && s.state === 'ESTABLISHED' && s.inode !== childEnd.inode && s.inode !== 0)!;
  assert.ok(swapped);
  const second = await r.resolve([swapped.inode]);
  assert.deepEqual(second.get(swapped.inode), [{ pid: child.pid!, command: 'python3' }]);

  child.kill('SIGKILL');
  await once(child, 'exit');
  const third = await r.resolve([childEnd.inode, swapped.inode]);
  assert.equal(third.has(swapped.inode), false, 'the exited child no longer owns anything');
  assert.equal(third.has(childEnd.inode), false);
});

}

test('socketFds reads the socket links readlink does, in batches that resume where they stopped', async () => {
  assert.ok(socketFds, 'the sockdiag addon is built');
  const { port, accepted } = await listen();
  for (let i = 0; i < 5; i++) await dial(port);
  while (accepted.length < 5) await new Promise((r) => setTimeout(r, 5));
  const byJs: number[][] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let ino = 0;
    try {
      ino = parseSocketLink(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      continue;
    }
    if (ino !== 0) byJs.push([Number(fd), ino]);
  }
  const pairs = (f: Float64Array) => Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]]);
  const whole = await socketFds('/proc/self/fd', 0, 1 << 20);
  assert.equal(whole.next, -1);
  const sort = (x: number[][]) => [...x].sort((p, q) => p[0] - q[0]);
  assert.deepEqual(sort(pairs(whole.sockets)), sort(byJs));
  assert.ok(byJs.length >= 11, 'the listener and both ends of five connections');
  const batched: number[][] = [];
  let reads = 0;
  for (let pos = 0, n = 0; pos >= 0; n++) {
    const b = await socketFds('/proc/self/fd', pos, 3);
    assert.ok(b.read <= 3);
    reads += b.read;
    batched.push(...pairs(b.sockets));
    pos = b.next;
    assert.ok(n < 1000);
  }
  assert.deepEqual(sort(batched), sort(pairs(whole.sockets)));
  assert.ok(Math.abs(reads - whole.read) <= 2, `${reads} links read in batches, ${whole.read} at once`);
  await assert.rejects(socketFds('/proc/999999999/fd', 0, 10), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('a /proc root without processes yields an empty map, not an error', async () => {
  const r = new ProcessResolver(`${__dirname}`);
  assert.equal((await r.resolve([1, 2, 3])).size, 0);
});
