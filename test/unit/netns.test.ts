// Namespace discovery (cgroup -> container parsing) and the addon's dumpNamespaces against real
// namespaces: sockets of both families through one walk, the port range read inside the
// namespace, vanished namespaces flagged, no descriptor leaked and no thread left outside home.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseCgroupContainer } from '../../src/collectors/netns-discovery';
import { loadSockDiag } from '../../src/collectors/native';
import { decodeSockDiag, readSockDiag } from '../../src/collectors/sockdiag';

const ID = 'a'.repeat(36) + '0123456789abcdef0123456789ab'; // 64 hex digits

test('parseCgroupContainer: docker, containerd, cri-o, podman; pod UID; plain processes', () => {
  assert.deepEqual(parseCgroupContainer(`0::/system.slice/docker-${ID}.scope\n`), { runtime: 'docker', id: ID, podUid: null });
  assert.deepEqual(parseCgroupContainer(`12:pids:/docker/${ID}\n11:cpu:/docker/${ID}\n`), { runtime: 'docker', id: ID, podUid: null });
  assert.deepEqual(
    parseCgroupContainer(`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_1111_2222_3333_444455556666.slice/cri-containerd-${ID}.scope\n`),
    { runtime: 'containerd', id: ID, podUid: '1b2c3d4e-1111-2222-3333-444455556666' },
  );
  assert.deepEqual(
    parseCgroupContainer(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_1111_2222_3333_444455556666.slice/crio-${ID}.scope\n`),
    { runtime: 'cri-o', id: ID, podUid: '1b2c3d4e-1111-2222-3333-444455556666' },
  );
  assert.deepEqual(
    parseCgroupContainer(`4:memory:/kubepods/besteffort/pod1b2c3d4e-1111-2222-3333-444455556666/${ID}\n`),
    { runtime: 'containerd', id: ID, podUid: '1b2c3d4e-1111-2222-3333-444455556666' },
  );
  assert.deepEqual(parseCgroupContainer(`0::/machine.slice/libpod-${ID}.scope/container\n`), { runtime: 'podman', id: ID, podUid: null });
  assert.equal(parseCgroupContainer('0::/user.slice/user-1000.slice/session-2.scope\n'), null);
  assert.equal(parseCgroupContainer(`0::/system.slice/docker.service\n`), null);
  assert.equal(parseCgroupContainer(`0::/system.slice/docker-${ID.slice(1)}.scope\n`), null, 'a 63-digit id is no container id');
  assert.equal(parseCgroupContainer(''), null);
});

const root = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0;

test('dumpNamespaces reads each namespace inside itself', { skip: root ? false : 'needs root and iproute2' }, async () => {
  const binding = loadSockDiag();
  assert.equal(typeof binding.dumpNamespaces, 'function');
  const name = `tcpdir-u-${process.pid}`;
  const gone = `tcpdir-u-${process.pid}-gone`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['netns', 'add', gone]);
  const child = spawn('ip', ['netns', 'exec', name, 'sh', '-c',
    'ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range="41000 41999" && sysctl -qw net.ipv4.ip_local_reserved_ports=41500 && ' +
    'exec python3 -c "import socket,time\na=socket.socket(); a.bind((\'127.0.0.1\',5001)); a.listen()\n' +
    'b=socket.socket(socket.AF_INET6); b.bind((\'::1\',5002)); b.listen()\nprint(\'ready\',flush=True)\ntime.sleep(60)"'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((res, rej) => {
      createInterface({ input: child.stdout! }).once('line', () => res());
      child.once('exit', (c) => rej(new Error(`namespace child exited ${c}`)));
    });
    const ino = statSync(`/run/netns/${name}`).ino;
    const goneIno = statSync(`/run/netns/${gone}`).ino;
    execFileSync('ip', ['netns', 'del', gone]);
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const res = await binding.dumpNamespaces!([
      { path: `/run/netns/${name}`, inode: ino },
      { path: `/run/netns/${gone}`, inode: goneIno },
      { path: '/proc/self/ns/net', inode: ino }, // exists, but is another namespace
      { path: '/proc/self/ns/net' }, // our own: the one walk equals the per-family dump
    ]);
    assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'no descriptor leaked');
    // Every thread of this process is still in its own namespace.
    const own = readlinkSync('/proc/self/ns/net');
    for (const t of readdirSync('/proc/self/task')) assert.equal(readlinkSync(`/proc/self/task/${t}/ns/net`), own, `thread ${t}`);

    const [ns, vanished, other, self] = res;
    assert.ok(ns.error === undefined, JSON.stringify(ns));
    assert.equal(ns.portRange, '41000\t41999\n');
    assert.equal(ns.reservedPorts, '41500\n');
    const socks = decodeSockDiag(ns.records);
    assert.deepEqual(socks.map((s) => `${s.family} ${s.localAddress}:${s.localPort} ${s.state}`).sort(), ['IPV4 127.0.0.1:5001 LISTEN', 'IPV6 ::1:5002 LISTEN']);
    assert.ok(vanished.error && vanished.vanished, JSON.stringify(vanished));
    assert.equal(vanished.error.code, 'ENOENT');
    assert.ok(other.error && other.vanished, 'an inode mismatch (pid reused) counts as vanished');

    assert.ok(self.error === undefined);
    const viaWalk = new Set(decodeSockDiag(self.records).filter((s) => s.state === 'LISTEN').map((s) => s.id));
    const viaFamilies = new Set((await readSockDiag()).filter((s) => s.state === 'LISTEN').map((s) => s.id));
    assert.deepEqual(viaWalk, viaFamilies, 'TCPDIAG_GETSOCK (both families) sees the same listeners as SOCK_DIAG_BY_FAMILY');
  } finally {
    child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', gone], { stdio: 'ignore' });
  }
});

test('dumpNamespaces rejects bad arguments', async () => {
  const binding = loadSockDiag();
  await assert.rejects(binding.dumpNamespaces!('x' as never), TypeError);
  await assert.rejects(binding.dumpNamespaces!([{ path: 5 }] as never), TypeError);
  assert.deepEqual(await binding.dumpNamespaces!([]), []);
});
