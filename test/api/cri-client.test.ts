// The CRI client against real unix sockets: a gRPC server serving the vendored RuntimeService
// (what containerd and CRI-O answer), and everything else a configured path can turn out to be:
// nothing, a plain file, Docker's HTTP/1 API, a gRPC server without the CRI, a server that never
// answers, a socket tcpdir may not open. Each failure is one line naming the socket and what to
// do; the pod sources report it once and keep answering (no pod), never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CriClient, CriError, CriPodReader, findCriSocket } from '../../src/collectors';
import { podSources } from '../../src/service';
import { FakeCriRuntime, kubeletLabels } from '../helpers/cri-server';

const dir = mkdtempSync(join(tmpdir(), 'tcpdir-cri-client-'));
const path = (name: string): string => join(dir, `${name}-${randomBytes(3).toString('hex')}.sock`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The CriError a call raises (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<CriError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CriError, `a CriError, not ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return e;
  }
  throw new Error('expected a failure');
}

function listen(server: net.Server, socket: string): Promise<void> {
  return new Promise((resolve) => server.listen(socket, resolve));
}

test('Version and ListContainers over a unix socket: the runtime, and each container with its kubelet labels', async () => {
  const id = randomBytes(32).toString('hex');
  const uid = randomUUID();
  const rt = new FakeCriRuntime([
    { id, labels: { ...kubeletLabels({ name: 'web-0', namespace: 'shop', uid }, 'web'), app: 'web' }, metadata: { name: 'web' } },
    { id: 'b'.repeat(64), labels: { 'io.containerd.image.config.stop-signal': 'SIGTERM' } },
  ]);
  await rt.start();
  const c = new CriClient(rt.socket);
  try {
    assert.deepEqual(await c.version(), { version: '0.1.0', runtimeName: 'fake-runtime', runtimeVersion: '9.9.9', runtimeApiVersion: 'v1' });
    const list = await c.listContainers();
    assert.deepEqual(list.map((x) => [x.id, x.labels?.['io.kubernetes.pod.name'] ?? null, x.metadata?.name ?? null]), [[id, 'web-0', 'web'], ['b'.repeat(64), null, null]]);
    const pods = await new CriPodReader(c).read();
    assert.deepEqual([...pods], [[id, { name: 'web-0', namespace: 'shop', uid, containerName: 'web' }]], 'a container the kubelet did not create names no pod');
    assert.deepEqual(rt.calls, { Version: 2, ListContainers: 2 }, 'the reader asks Version itself before its first list');
  } finally {
    c.close();
    await rt.stop();
  }
});

test('a socket that does not exist, and a path that is no socket', async () => {
  const missing = path('missing');
  const e = await failure(new CriClient(missing).version());
  assert.equal(e.kind, 'missing');
  assert.equal(e.message, `CRI runtime at ${missing}: no such socket (is the runtime running, and the socket mounted?)`);
  const file = path('file');
  writeFileSync(file, '');
  const f = await failure(new CriClient(file).listContainers());
  assert.equal(f.kind, 'not-cri');
  assert.match(f.message, /not a socket$/);
});

test("not a CRI server: Docker's HTTP/1 API, and a gRPC server without RuntimeService", async () => {
  const dockerLike = http.createServer((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"page not found"}'));
  const s1 = path('http1');
  await listen(dockerLike, s1);
  const bare = new grpc.Server();
  const s2 = path('grpc');
  await new Promise<void>((resolve, reject) => bare.bindAsync(`unix:${s2}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const c1 = new CriClient(s1, 3000);
  const c2 = new CriClient(s2, 3000);
  try {
    const e1 = await failure(c1.version());
    assert.equal(e1.kind, 'not-cri', e1.message);
    assert.match(e1.message, new RegExp(`^CRI runtime at ${s1}: not a CRI server \\(Version: Protocol error\\)$`));
    const e2 = await failure(c2.version());
    assert.equal(e2.kind, 'not-cri', e2.message);
    assert.equal(e2.message, `CRI runtime at ${s2}: not a CRI v1 runtime (Version: unimplemented; is its CRI plugin off?)`);
  } finally {
    c1.close();
    c2.close();
    dockerLike.close();
    bare.forceShutdown();
  }
});

test('a server that accepts and never answers: the deadline, not a hang', async () => {
  const held: net.Socket[] = [];
  const silent = net.createServer((s) => void held.push(s));
  const s = path('silent');
  await listen(silent, s);
  const c = new CriClient(s, 300);
  try {
    const t0 = Date.now();
    const e = await failure(c.version());
    assert.equal(e.kind, 'timeout');
    assert.equal(e.message, `CRI runtime at ${s}: Version not answered within 300 ms`);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  } finally {
    c.close();
    for (const h of held) h.destroy();
    silent.close();
  }
});

test('permission denied: a root-owned socket (0660) asked by another user', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to make a socket another user may not open');
  const rt = new FakeCriRuntime([]);
  await rt.start();
  try {
    chmodSync(rt.dir, 0o711); // as /run/containerd: traversable, not listable
    chmodSync(rt.socket, 0o660); // as containerd.sock: root:root rw-rw----
    const script = `const { CriClient } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'collectors'))});
      new CriClient(${JSON.stringify(rt.socket)}, 3000).version().then(() => console.log('answered'), (e) => console.log(JSON.stringify({ kind: e.kind, message: e.message })));`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0 && /EACCES|Cannot find module/.test(r.stderr)) return t.skip(`user nobody cannot run this build: ${r.stderr.split('\n')[0]}`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      kind: 'denied',
      message: `CRI runtime at ${rt.socket}: permission denied (the socket is root-owned: run tcpdir as root or in the socket's group)`,
    });
    assert.equal(rt.calls.Version, 0);
  } finally {
    await rt.stop();
  }
});

test('pod sources: a failing CRI socket is one status line, lookups answer null; it recovers when the runtime starts', async () => {
  const rt = new FakeCriRuntime([{ id: 'c'.repeat(64), labels: kubeletLabels({ name: 'p', namespace: 'n', uid: 'u' }, 'c') }]);
  const errors: [string | null, string][] = [];
  const everRead: boolean[] = [];
  const sourceLines: string[] = [];
  // The socket path is known before the runtime listens on it, as when tcpdir starts first.
  const { pods, close } = podSources({ criSocket: rt.socket, minRefreshMs: 0, onError: (m, s, e) => { errors.push([m, s]); everRead.push(e); }, onSource: (m) => sourceLines.push(m) });
  try {
    assert.ok(pods);
    assert.equal(await pods.lookup('c'.repeat(64)), null);
    assert.equal(await pods.lookup('c'.repeat(64)), null);
    assert.deepEqual(errors, [[`CRI runtime at ${rt.socket}: no such socket (is the runtime running, and the socket mounted?)`, rt.socket]], 'told once');
    await rt.start();
    assert.deepEqual(await pods.lookup('c'.repeat(64)), { name: 'p', namespace: 'n', uid: 'u', containerName: 'c' });
    assert.deepEqual(errors.at(-1), [null, rt.socket], 'told it works again');
    assert.deepEqual(sourceLines, [`pods named by fake-runtime 9.9.9 (CRI v1) at ${rt.socket}`]);
    assert.equal(rt.calls.Version, 1, 'Version once, then only ListContainers');
    // Down again after a good read: the warning may say the last list answers (not before one).
    await rt.stop();
    assert.equal(await pods.lookup('d'.repeat(64)), null);
    assert.deepEqual(await pods.lookup('c'.repeat(64)), { name: 'p', namespace: 'n', uid: 'u', containerName: 'c' }, 'the last list read answers');
    assert.equal(errors.at(-1)![0] !== null, true);
    assert.deepEqual([everRead[0], everRead.at(-1)], [false, true]);
  } finally {
    close();
    await rt.stop();
  }
});

test('pod sources: a probed socket that is not a CRI server is given up after its first answer', async () => {
  let connections = 0;
  const dockerLike = http.createServer((_req, res) => res.writeHead(404).end());
  dockerLike.on('connection', () => connections++);
  const s = path('probed');
  await listen(dockerLike, s);
  const errors: (string | null)[] = [];
  const { pods, close } = podSources({ criSocket: s, criProbed: true, minRefreshMs: 0, onError: (m) => errors.push(m) });
  try {
    assert.equal(await pods!.lookup('d'.repeat(64)), null);
    const after = connections;
    assert.ok(after >= 1);
    assert.equal(await pods!.lookup('d'.repeat(64)), null);
    assert.equal(await pods!.lookup('e'.repeat(64)), null);
    assert.equal(connections, after, 'not asked again');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^CRI runtime at .*: not a CRI server \(Version: Protocol error\); found by probing, not asked again \(choose with --cri-socket, or --no-cri-socket\)$/);
  } finally {
    close();
    dockerLike.close();
  }
});

test('pod sources: with both a CRI socket and a kubelet list, each names what it knows, the CRI socket first', async () => {
  const uid = randomUUID();
  const fromCri = 'f'.repeat(64);
  const fromKubelet = '1'.repeat(64);
  const both = '2'.repeat(64);
  const rt = new FakeCriRuntime([
    { id: fromCri, labels: kubeletLabels({ name: 'new-pod', namespace: 'a', uid }, 'x') },
    { id: both, labels: kubeletLabels({ name: 'cri-says', namespace: 'a', uid }, 'y') },
  ]);
  await rt.start();
  const list = join(dir, 'pods.json');
  writeFileSync(list, JSON.stringify({ items: [{ metadata: { name: 'old-pod', namespace: 'b', uid: 'u2' }, status: { containerStatuses: [
    { name: 'z', containerID: `containerd://${fromKubelet}` }, { name: 'y', containerID: `containerd://${both}` }] } }] }));
  const { pods, close } = podSources({ criSocket: rt.socket, kubeletPods: list, minRefreshMs: 0 });
  try {
    assert.equal((await pods!.lookup(fromCri))?.name, 'new-pod');
    assert.equal((await pods!.lookup(fromKubelet))?.name, 'old-pod');
    assert.equal((await pods!.lookup(both))?.name, 'cri-says');
    assert.equal(pods!.cached(fromKubelet)?.name, 'old-pod');
    assert.equal(await pods!.lookup('9'.repeat(64)), null);
  } finally {
    close();
    await rt.stop();
  }
});

test('findCriSocket: the first candidate that is a socket; files and absent paths are passed over', async () => {
  const file = path('plain');
  writeFileSync(file, '');
  const server = net.createServer();
  const sock = path('real');
  await listen(server, sock);
  try {
    assert.equal(findCriSocket([path('absent'), file, sock]), sock);
    assert.equal(findCriSocket([path('absent'), file]), null);
  } finally {
    server.close();
  }
});
