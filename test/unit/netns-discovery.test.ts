// Incremental namespace discovery against real namespaces: a named one seen through the /run/netns
// watch (added, then deleted), a process's own one found when it starts and dropped when it
// exits, a discovery where nothing changed reading no pid's link, and a process that unshare()s
// in place found by the check of its namespace's first pid or by the full rescan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { discoverNamespaces, NetnsDiscovery } from '../../src/collectors/netns-discovery';

const root = process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0 && spawnSync('unshare', ['--version']).status === 0;
const skip = root ? false : 'needs root, iproute2 and unshare';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * python3 in a namespace of its own (unshare -n), or in `join`'s (nsenter); on a line on stdin
 * it unshare()s again in place.
 */
function unsharedChild(join?: number): Promise<{ child: ChildProcess; next: () => Promise<string> }> {
  const py = 'import ctypes,sys\nlibc=ctypes.CDLL(None,use_errno=True)\nprint("ready",flush=True)\nsys.stdin.readline()\n' +
    'assert libc.unshare(0x40000000)==0\nprint("moved",flush=True)\nsys.stdin.read()';
  const [cmd, ...args] = join === undefined ? ['unshare', '-n'] : ['nsenter', `--net=/proc/${join}/ns/net`];
  const child = spawn(cmd, [...args, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value as string;
  return next().then((l) => {
    assert.equal(l, 'ready');
    return { child, next };
  });
}

const linkOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);

test('NetnsDiscovery: named namespaces through the watch, processes as they come and go, no pid read when nothing changed', { skip }, async () => {
  const d = new NetnsDiscovery();
  const name = `tcpdir-disc-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let c: Awaited<ReturnType<typeof unsharedChild>> | null = null;
  try {
    const first = await d.discover();
    assert.ok(first.namespaces[0].self, 'own namespace first');
    assert.ok(d.lastReads > 10, `the first discovery reads every pid (${d.lastReads})`);
    await d.discover();
    const idle = d.lastReads;
    assert.ok(idle <= first.namespaces.length, `nothing changed: at most one link per namespace read, not per pid (${idle} reads, ${first.namespaces.length} namespaces)`);

    execFileSync('ip', ['netns', 'add', name]);
    await sleep(50); // inotify delivers the event to the loop
    const added = await d.discover();
    const named = added.namespaces.find((n) => n.name === name);
    assert.ok(named, 'a namespace added with ip netns add is found');
    assert.equal(named.id, `net:[${statSync(`/run/netns/${name}`).ino}]`);
    assert.deepEqual(named.pids, []);

    c = await unsharedChild();
    const pid = c.child.pid!;
    const own = linkOf(pid);
    const withChild = await d.discover();
    const ns = withChild.namespaces.find((n) => n.id === own);
    assert.ok(ns, 'the namespace of a new process is found');
    assert.ok(ns.pids.includes(pid));
    assert.equal(ns.path, `/proc/${ns.pids[0]}/ns/net`);

    // Moved in place: the namespace's first pid now links elsewhere, which forces a full rescan.
    c.child.stdin!.write('go\n');
    assert.equal(await c.next(), 'moved');
    const moved = linkOf(pid);
    assert.notEqual(moved, own);
    const after = await d.discover();
    assert.ok(after.namespaces.find((n) => n.id === moved)?.pids.includes(pid), 'the process is found in the namespace it moved to');
    assert.equal(after.namespaces.find((n) => n.id === own), undefined, 'the namespace it left, held by nothing, is gone');

    execFileSync('ip', ['netns', 'del', name]);
    await sleep(50);
    assert.equal((await d.discover()).namespaces.find((n) => n.name === name), undefined, 'a deleted namespace is gone');

    c.child.kill('SIGKILL');
    await new Promise((r) => c!.child.once('exit', r));
    c = null;
    assert.equal((await d.discover()).namespaces.find((n) => n.id === moved), undefined, 'an exited process takes its namespace with it');
  } finally {
    d.close();
    c?.child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  }
});

test('NetnsDiscovery: a process that moves in place, not its namespace\'s first pid, is found by the full rescan', { skip }, async () => {
  let clock = 0;
  const d = new NetnsDiscovery({ fullRescanMs: 10_000, now: () => clock });
  const a = await unsharedChild();
  const b = await unsharedChild(a.child.pid!); // joins a's namespace, with a higher pid
  try {
    const shared = linkOf(a.child.pid!);
    assert.equal(linkOf(b.child.pid!), shared);
    assert.deepEqual((await d.discover()).namespaces.find((n) => n.id === shared)?.pids, [a.child.pid, b.child.pid]);
    b.child.stdin!.write('go\n');
    assert.equal(await b.next(), 'moved');
    const moved = linkOf(b.child.pid!);
    // No event says so, and the namespace's first pid did not move: listed where it was...
    const stale = await d.discover();
    assert.equal(stale.namespaces.find((n) => n.id === moved), undefined, 'until the rescan, a move in place is not seen (documented)');
    // ...until the full rescan reads every link again.
    clock += 10_001;
    const full = await d.discover();
    assert.ok(d.lastReads > 10, `a full rescan reads every pid again (${d.lastReads})`);
    assert.deepEqual(full.namespaces.find((n) => n.id === moved)?.pids, [b.child.pid]);
    assert.deepEqual(full.namespaces.find((n) => n.id === shared)?.pids, [a.child.pid]);
    const fresh = await discoverNamespaces();
    const key = (ns: { id: string; name: string | null; pids: number[] }) => `${ns.id} ${ns.name} ${ns.pids.join(',')}`;
    const mine = [a.child.pid, b.child.pid];
    const pick = (list: typeof full.namespaces) => list.filter((n) => n.pids.some((p) => mine.includes(p))).map(key).sort();
    assert.deepEqual(pick(full.namespaces), pick(fresh.namespaces), 'kept state agrees with a one-shot discovery');
  } finally {
    d.close();
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  }
});
