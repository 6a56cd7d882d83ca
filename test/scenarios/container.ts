// A process made to look like a Kubernetes container to tcpdir: in a cgroup named as containerd
// names a container's (cri-containerd-<id>.scope) and in a network namespace of its own, holding
// a loopback connection to itself. Shared by the pod scenarios (kubelet list and CRI socket).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Server } from 'node:http';
import request from 'supertest';
import { unsupportedReason } from './netns';

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
function cgroup2Root(): string | null {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1];
  }
  return null;
}

/** Why no child cgroup can be made here (a read-only cgroupfs in a container), or null. */
function cgroupUnwritable(root: string): string | null {
  const probe = join(root, `tcpdir-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return null;
  } catch (e) {
    return `cannot create a cgroup under ${root}: ${(e as Error).message}`;
  }
}

export const CGROUP_ROOT = process.platform === 'linux' ? cgroup2Root() : null;
/** Why the container scenarios cannot run here (no netns, no writable cgroup v2), or null. */
export const CONTAINER_SKIP = unsupportedReason() ?? (CGROUP_ROOT ? cgroupUnwritable(CGROUP_ROOT) : 'no cgroup v2 mount');

// Listens and connects to itself inside its namespace, holds both ends, prints the ports.
const HOLD_PY = `
import socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
c = socket.create_connection(('127.0.0.1', l.getsockname()[1])); a, _ = l.accept()
print(l.getsockname()[1], c.getsockname()[1], flush=True)
sys.stdin.readline()
c.close(); a.close()
`;

/** A containerd-named cgroup scope for container `id`, under a slice of this test's own. */
export function containerScope(id: string): { scope: string; remove(): void } {
  const slice = join(CGROUP_ROOT!, `tcpdir-test-${process.pid}-${randomBytes(3).toString('hex')}.slice`);
  const scope = join(slice, `cri-containerd-${id}.scope`);
  mkdirSync(scope, { recursive: true });
  return {
    scope,
    remove() {
      rmdirSync(scope);
      rmdirSync(slice);
    },
  };
}

/**
 * Starts the holding process in the cgroup scope first, then in namespace `ns` (so every socket it
 * opens is the container's); resolves once it holds its connection, with the two ports.
 */
export async function startContainerProcess(scope: string, ns: string, id: string): Promise<{ child: ChildProcess; serverPort: number; clientPort: number }> {
  const child = spawn('sh', ['-c', `echo $$ > ${join(scope, 'cgroup.procs')} && exec ip netns exec ${ns} python3 -c "$0"`, HOLD_PY], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const [serverPort, clientPort] = line.split(' ').map(Number);
  assert.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), new RegExp(`cri-containerd-${id}\\.scope`));
  return { child, serverPort, clientPort };
}

/** Stops the holding process and waits for it to exit. */
export async function stopContainerProcess(child: ChildProcess | null): Promise<void> {
  child?.kill();
  if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
}

/**
 * POSTs `query` until its `connections` has the container's two sockets: a snapshot already under
 * way when the process started is shared by the request, so the first answers may miss them.
 */
export async function queryUntilBothSockets(server: Server, query: string): Promise<request.Response> {
  let r = await request(server).post('/graphql').send({ query });
  for (let i = 0; i < 50 && r.body.data?.connections?.length !== 2; i++) {
    await new Promise((res) => setTimeout(res, 100));
    r = await request(server).post('/graphql').send({ query });
  }
  return r;
}

/** What the pod scenarios expect tcpdir to say of the container's namespace and connections. */
export interface PodExpectation {
  ns: string;
  /** The container id. */
  id: string;
  pod: { name: string; namespace: string; uid: string; containerName: string };
  serverPort: number;
  clientPort: number;
}

/**
 * Whichever source named the pod (the kubelet's list, the CRI runtime): asks until the container's
 * two sockets are listed, then checks that its namespace, and no other, carries the container and
 * the pod, and that both connections and the REST namespace list name the pod. Returns the
 * namespace's id.
 */
export async function assertPodNamed(server: Server, e: PodExpectation): Promise<string> {
  const q = `{ namespaces { id name container { runtime id } pod { name namespace uid containerName } }
    connections(netns: "${e.ns}") { local { port } remote { port } pod { name namespace containerName } } }`;
  const r = await queryUntilBothSockets(server, q);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const mine = r.body.data.namespaces.find((n: { name: string | null }) => n.name === e.ns);
  assert.ok(mine, `namespace ${e.ns} listed`);
  assert.deepEqual(mine.container, { runtime: 'containerd', id: e.id });
  assert.deepEqual(mine.pod, e.pod);
  for (const other of r.body.data.namespaces) if (other.name !== e.ns) assert.equal(other.pod, null, `${other.id} is no pod's`);
  const conns = r.body.data.connections as { local: { port: number }; remote: { port: number }; pod: unknown }[];
  assert.deepEqual(conns.map((c) => [c.local.port, c.remote.port]).sort(), [[e.clientPort, e.serverPort], [e.serverPort, e.clientPort]].sort());
  for (const c of conns) assert.deepEqual(c.pod, { name: e.pod.name, namespace: e.pod.namespace, containerName: e.pod.containerName });
  const rest = await request(server).get('/api/v1/namespaces');
  assert.deepEqual(rest.body.find((n: { name: string | null }) => n.name === e.ns).pod, e.pod);
  return mine.id as string;
}
