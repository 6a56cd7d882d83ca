// Pods from a CRI runtime socket: a process in its own network namespace and in a cgroup named as
// containerd names a container's (cri-containerd-<id>.scope), a CRI runtime (a gRPC server on a
// unix socket serving the vendored runtime.v1 RuntimeService) whose ListContainers has that id
// with the kubelet's labels, and tcpdir reading every namespace with criSocket. Netns.pod,
// Connection.pod and REST /api/v1/namespaces must name the pod; other namespaces have none.
// Then `tcpdir serve` itself: $TCPDIR_CRI_SOCKET is read and the runtime named in the log, and a
// --cri-socket that is no CRI server is one warning while the server keeps answering.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from '../../src';
import { FakeCriRuntime, kubeletLabels } from '../helpers/cri-server';
import { assertPodNamed, CONTAINER_SKIP, containerScope, startContainerProcess, stopContainerProcess } from './container';
import { addNamespace, deleteNamespace } from './netns';

const REPO = resolve(__dirname, '..', '..', '..');

const skip = CONTAINER_SKIP;
if (skip) console.log(`# pods-cri suite skipped: ${skip}`);


describe('pods from a CRI runtime socket', { skip: skip ?? false, timeout: 60_000 }, () => {
  test('a container in its own cgroup and netns is named by pod on Netns, Connection and REST', async () => {
    const id = randomBytes(32).toString('hex');
    const uid = randomUUID();
    const { scope, remove: removeScope } = containerScope(id);
    const ns = addNamespace(`cri-${randomBytes(3).toString('hex')}`);
    // What containerd lists on a node: the pod's sandbox (pause) container and its app container,
    // another pod's, and a container no kubelet made (no labels).
    const runtime = new FakeCriRuntime([
      { id: randomBytes(32).toString('hex'), labels: { ...kubeletLabels({ name: 'other-0', namespace: 'kube-system', uid: randomUUID() }, 'other') }, metadata: { name: 'other' } },
      { id: randomBytes(32).toString('hex'), labels: { 'io.kubernetes.pod.name': 'web-7d4b9c-x2k8q', 'io.kubernetes.pod.namespace': 'shop', 'io.kubernetes.pod.uid': uid, 'io.cri-containerd.kind': 'sandbox' } },
      { id, labels: { ...kubeletLabels({ name: 'web-7d4b9c-x2k8q', namespace: 'shop', uid }, 'web'), 'io.cri-containerd.kind': 'container' }, metadata: { name: 'web' } },
      { id: randomBytes(32).toString('hex') },
    ]);
    await runtime.start();
    let child: ChildProcess | null = null;
    const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: false, criSocket: runtime.socket });
    try {
      const started = await startContainerProcess(scope, ns, id);
      child = started.child;
      const { serverPort, clientPort } = started;

      await assertPodNamed(app.server, { ns, id, pod: { name: 'web-7d4b9c-x2k8q', namespace: 'shop', uid, containerName: 'web' }, serverPort, clientPort });
      assert.equal(runtime.calls.Version, 1, 'Version once, at start');
      assert.ok(runtime.calls.ListContainers >= 1 && runtime.calls.ListContainers <= 3, `listed once per refresh, not per lookup: ${runtime.calls.ListContainers}`);
    } finally {
      await stopContainerProcess(child);
      await app.close();
      await runtime.stop();
      deleteNamespace(ns);
      removeScope();
    }
  });
});

/** `tcpdir serve` on a free loopback port; resolves with its base URL and the log lines so far. */
async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcessWithoutNullStreams; base: string; logs: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, [join(REPO, 'bin/tcpdir.js'), 'serve', '--port', '0', '--no-history', '--no-kernel-evidence', '--no-conntrack', '--log-level', 'info', ...args],
    { cwd: REPO, env: { ...process.env, TCPDIR_KUBELET_PODS_URL: '', TCPDIR_CRI_SOCKET: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      logs.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      logs.push({ msg: l });
    }
  });
  for (const end = Date.now() + 20_000; Date.now() < end; ) {
    const m = logs.map((l) => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(l.msg))).find(Boolean);
    if (m) return { child, base: m[1], logs };
    if (child.exitCode !== null) throw new Error(`tcpdir serve exited ${child.exitCode}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`tcpdir serve did not listen within 20 s: ${stderr}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ok(), what);
}

describe('tcpdir serve with a CRI socket', { skip: process.getuid?.() === 0 ? false : 'needs root (sock_diag of every namespace)', timeout: 60_000 }, () => {
  test('$TCPDIR_CRI_SOCKET: the runtime is asked Version at start and named in the log', async () => {
    const runtime = new FakeCriRuntime([]);
    await runtime.start();
    const { child, logs } = await serve([], { TCPDIR_CRI_SOCKET: runtime.socket });
    try {
      await until(() => logs.some((l) => l.msg === `pods named by fake-runtime 9.9.9 (CRI v1) at ${runtime.socket}`), `runtime named: ${JSON.stringify(logs.map((l) => l.msg))}`);
      assert.equal(runtime.calls.Version, 1);
      // Listed for the first snapshot, which takes a while on a busy host.
      await until(() => runtime.calls.ListContainers >= 1, 'containers listed');
    } finally {
      await stop(child);
      await runtime.stop();
    }
  });

  test('--cri-socket that is no CRI server: one warning, and the server answers with pods unnamed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpdir-cri-serve-'));
    const socket = join(dir, 'docker.sock');
    const dockerLike = http.createServer((_req, res) => res.writeHead(404).end('{"message":"page not found"}'));
    await new Promise<void>((r) => dockerLike.listen(socket, r));
    const { child, base, logs } = await serve(['--cri-socket', socket], {});
    try {
      const warned = (): Record<string, unknown>[] => logs.filter((l) => String(l.msg).startsWith('pods unknown:'));
      await until(() => warned().length > 0, 'a warning');
      assert.equal(warned()[0].level, 40, 'warn');
      assert.match(String(warned()[0].msg), new RegExp(`^pods unknown: CRI runtime at ${socket}: not a CRI server \\(Version: Protocol error\\); pods stay unnamed until it answers$`));
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${base}/api/v1/namespaces`);
        assert.equal(r.status, 200);
        for (const n of (await r.json()) as { pod: unknown }[]) assert.equal(n.pod, null);
      }
      assert.equal(warned().length, 1, 'said once');
      assert.equal(child.exitCode, null, 'still running');
    } finally {
      await stop(child);
      dockerLike.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
