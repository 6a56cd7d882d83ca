import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Collector } from '../../src/collectors/collector';
import { decodeOwners, inInitialPidNamespace, KERNEL_OWNER_SIZE, KernelEvidenceSource, OWN } from '../../src/collectors/kernel';
import { ProcessResolver } from '../../src/collectors/proc-fd';
import { nativeSocketFds } from '../../src/collectors/native';
import { readProcNetTcp } from '../../src/collectors/proc-net-tcp';

/** struct tcpdir_owner_rec[] as the iter/task_file program writes them. */
function records(rows: Array<[tgid: number, fd: number, inode: number, comm: string]>): Buffer {
  const b = Buffer.alloc(rows.length * KERNEL_OWNER_SIZE);
  rows.forEach(([tgid, fd, inode, comm], i) => {
    const o = i * KERNEL_OWNER_SIZE;
    b.writeUInt32LE(tgid, o + OWN.tgid);
    b.writeUInt32LE(fd, o + OWN.fd);
    b.writeUInt32LE(inode, o + OWN.inode);
    b.write(comm, o + OWN.comm, 16, 'latin1');
  });
  return b;
}

describe('decodeOwners', () => {
  it('lists each holder of a socket once, in the order the kernel visited them', () => {
    const m = decodeOwners(records([
      [10, 3, 100, 'nginx'], [10, 4, 101, 'nginx'], [10, 9, 101, 'nginx'], // 101 dup'ed within pid 10
      [11, 3, 100, 'nginx'], // forked worker shares 100
      [20, 5, 200, 'fifteen-chars-x'], [21, 6, 201, 'sixteen-chars-xy'], // comm with no NUL left
      [10, 7, 102, 'nginx'], // pid 10 again, after another (a thread with a files table of its own)
    ]));
    assert.deepEqual(m.get(100), [{ pid: 10, command: 'nginx' }, { pid: 11, command: 'nginx' }]);
    assert.deepEqual(m.get(101), [{ pid: 10, command: 'nginx' }]);
    assert.deepEqual(m.get(102), [{ pid: 10, command: 'nginx' }]);
    assert.deepEqual(m.get(200), [{ pid: 20, command: 'fifteen-chars-x' }]);
    assert.deepEqual(m.get(201), [{ pid: 21, command: 'sixteen-chars-xy' }]);
    assert.equal(m.size, 5);
    assert.ok(Object.isFrozen(m.get(100)) && Object.isFrozen(m.get(100)![0]), 'owner lists are shared: frozen');
  });

  it('ignores a torn record at the end', () => {
    const whole = records([[1, 3, 7, 'a']]);
    assert.equal(decodeOwners(Buffer.concat([whole, whole.subarray(0, 12)])).size, 1);
    assert.equal(decodeOwners(Buffer.alloc(0)).size, 0);
  });

  it('knows the initial pid namespace by its fixed inode', () => {
    assert.equal(inInitialPidNamespace(() => 'pid:[4026531836]'), true);
    assert.equal(inInitialPidNamespace(() => 'pid:[4026532999]'), false);
    assert.equal(inInitialPidNamespace(() => { throw new Error('ENOENT'); }), false);
  });
});

// ---- real kernel ----

const opened = KernelEvidenceSource.open({ events: false, drainIntervalMs: 0 });
const PYTHON = spawnSync('python3', ['-c', 'print(1)']).status === 0;
const skip = !opened.available ? `kernel evidence unavailable (${opened.code})` : !PYTHON ? 'python3 not found' : false;
const source = opened.available ? opened : null;
after(() => source?.close());

/**
 * A python process named `comm` holding: a listener, a connection to it (both ends), a UDP and a
 * unix socket (not TCP), a dup of the client end, and a forked child sharing every descriptor.
 * Prints its listener port, then on each stdin line closes its client end (and the dup) and
 * connects again:
 * the same fd number and fd count, the case a /proc scan that trusts fd counts gets wrong.
 */
const HOLDER = (comm: string) => `
import os, socket, sys
open('/proc/self/comm', 'w').write(${JSON.stringify(comm)})
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8)
port = l.getsockname()[1]
c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept()
d = os.dup(c.fileno())
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))
x, y = socket.socketpair()
r, w = os.pipe()
if os.fork() == 0:
    os.close(w); os.read(r, 1); os._exit(0)
print(port, u.getsockname()[1], flush=True)
for line in sys.stdin:
    fd = c.fileno(); c.close(); os.close(d)
    c = socket.create_connection(('127.0.0.1', port)); a2, _ = l.accept()
    d = os.dup(c.fileno())
    print(port, fd == c.fileno(), flush=True)
`;

async function line(child: ChildProcessWithoutNullStreams): Promise<string> {
  let text = '';
  while (!text.includes('\n')) {
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [Buffer | number];
    if (typeof chunk === 'number' || chunk === null) throw new Error('holder exited');
    text += chunk.toString();
  }
  return text.trim();
}

describe('kernel owner pass on real processes', { skip }, () => {
  it('names the same owners as /proc/PID/fd for every TCP socket, and only TCP sockets', async () => {
    const comm = `own${process.pid}`.slice(0, 15);
    const child = spawn('python3', ['-c', HOLDER(comm)]);
    try {
      const [port] = (await line(child)).split(' ').map(Number);
      const onPort = (await readProcNetTcp()).filter((s) => s.localPort === port || s.remotePort === port);
      assert.equal(onPort.length, 3, 'listener and both ends of the connection');

      const kernel = (await source!.owners())!;
      assert.ok(kernel, 'the owner program is attached');
      const proc = await new ProcessResolver(undefined, { socketFds: nativeSocketFds() }).resolve(onPort.map((s) => s.inode));
      for (const s of onPort) {
        const k = kernel.get(s.inode);
        assert.ok(k, `inode ${s.inode} (${s.state}) has owners`);
        assert.deepEqual([...k].sort((a, b) => a.pid - b.pid), [...proc.get(s.inode)!].sort((a, b) => a.pid - b.pid));
        assert.deepEqual(new Set(k.map((p) => p.command)), new Set([comm]), 'the leader\'s comm');
        assert.equal(k.length, 2, 'the holder and its forked child, each once (the dup is not a second owner)');
        assert.ok(k.some((p) => p.pid === child.pid));
      }
      const mine = [...kernel].filter(([, ps]) => ps.some((p) => p.pid === child.pid));
      assert.equal(mine.length, 3, `only the TCP sockets: ${JSON.stringify(mine)}`);

      // A socket closed and replaced on the same fd (same fd count): the new one is owned at once,
      // the old one by nobody.
      child.stdin.write('swap\n');
      assert.equal((await line(child)).split(' ')[1], 'True', 'same fd number');
      const now = (await readProcNetTcp()).filter((s) => (s.localPort === port || s.remotePort === port) && s.state === 'ESTABLISHED');
      const after = (await source!.owners())!;
      const fresh = now.filter((s) => !onPort.some((o) => o.inode === s.inode));
      assert.equal(fresh.length, 2, 'both ends of the new connection');
      for (const s of fresh) assert.ok(after.get(s.inode)?.some((p) => p.pid === child.pid), `new inode ${s.inode} owned by the holder`);
      // The old client end lives on in the forked child only.
      const client = onPort.find((s) => s.localPort !== port && s.state === 'ESTABLISHED')!;
      const left = after.get(client.inode) ?? [];
      assert.equal(left.length, 1, `the old client end: ${JSON.stringify(left)}`);
      assert.notEqual(left[0].pid, child.pid, 'no longer held by the holder');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('a failed kernel owner pass', { skip: skip || (!inInitialPidNamespace() && 'not in the initial pid namespace') }, () => {
  it('does not fail processes: /proc answers, that time and from then on', async () => {
    source?.close(); // the addon holds one set of programs at a time: the collector loads its own
    const c = new Collector({ conntrack: false });
    assert.ok(c.kernel.available, `the collector's kernel source: ${c.kernel.available ? '' : c.kernel.reason}`);
    const server = createServer();
    try {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      const listener = (await readProcNetTcp()).find((s) => s.localPort === port && s.state === 'LISTEN')!;
      assert.ok(listener, 'the listener is in /proc/net/tcp');
      let passes = 0;
      // What a kernel refusing the task_file iterator would give: the pass rejects (or throws).
      const k = c.kernel as KernelEvidenceSource;
      k.owners = () => {
        passes++;
        return passes === 1 ? Promise.reject(Object.assign(new Error('iterator refused'), { code: 'EPERM' })) : (() => { throw new Error('again'); })();
      };
      const first = await c.processes([listener.inode]);
      assert.equal(passes, 1, 'the kernel pass was tried');
      assert.ok(first.get(listener.inode)?.some((p) => p.pid === process.pid), `/proc names this process: ${JSON.stringify(first.get(listener.inode))}`);
      await c.warmProcesses();
      const second = await c.processes([listener.inode]);
      assert.equal(passes, 1, 'not tried again');
      assert.ok(second.get(listener.inode)?.some((p) => p.pid === process.pid));
    } finally {
      server.close();
      c.close();
    }
  });
});
