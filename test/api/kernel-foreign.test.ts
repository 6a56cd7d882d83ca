// Kernel evidence reaches sockets of other network namespaces: the iterator is read inside each
// namespace entered (its pass is also its socket list) and its records join the refresh's table
// by cookie. A pair
// whose listener closed inside a fresh namespace is decided only by the kernel there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { KernelEvidenceSource } from '../../src/collectors/kernel';
import { TcpdirService } from '../../src/service';

const NS = `tcpdir-kf-${process.pid}`;
const probe = KernelEvidenceSource.open({ events: false });
const skip = !probe.available ? `kernel evidence unavailable (${probe.code})` : process.getuid?.() !== 0 ? 'needs root (ip netns)' : false;
if (probe.available) probe.close();

let child: ChildProcess | null = null;
after(() => {
  child?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', NS]);
});

test('a pair inside another namespace, its listener closed, is certain from that namespace\'s iterator pass', { skip }, async () => {
  assert.equal(spawnSync('ip', ['netns', 'add', NS]).status, 0, 'ip netns add');
  assert.equal(spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']).status, 0);
  const py = `
import socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(4)
c = socket.socket(); c.connect(l.getsockname()); a, _ = l.accept(); l.close()
print(a.getsockname()[1], flush=True)
sys.stdin.read()`;
  child = spawn('ip', ['netns', 'exec', NS, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const port = Number(line);

  const s = new TcpdirService({ maxAgeMs: 0, history: false, allNamespaces: true });
  try {
    const v = await s.current();
    const ns = v.snapshot.namespaces?.find((n) => n.name === NS);
    assert.ok(ns, `namespace ${NS} discovered`);
    assert.equal(ns.source, 'ebpf', String(ns.reason)); // its pass is its socket list too
    const rows: Array<[string, string, boolean, string | null]> = [];
    for (let i = 0; i < v.connectionCount; i++) {
      const c = v.ctx.conns[i];
      if (c.netns !== ns.id || (c.localPort !== port && c.remotePort !== port) || c.state !== 'ESTABLISHED') continue;
      rows.push([c.localPort === port ? 'server' : 'client', v.verdicts.direction(i), v.verdicts.certain(i), v.kernelFacts({ socket: c, index: i } as never)?.rule ?? null]);
    }
    rows.sort();
    assert.deepEqual(rows, [
      ['client', 'OUTBOUND', true, 'kernel-connect-bind'],
      ['server', 'INBOUND', true, 'kernel-inherited-backlog'],
    ]);
  } finally {
    s.close();
  }
});
