// Another namespace where the kernel counted no TCP change since its last read is not read again
// (collectors/netns-walks.ts), and yet every answer shows its sockets as they are: new and closed
// connections, an accept that changes no state, TIME_WAIT, and a request socket that came in
// without a state change, all asked through GraphQL with fresh snapshots.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import request from 'supertest';
import type { TcpdirServer } from '../../src';
import { kernelServer } from '../helpers/kernel-server';

const NS = `tcpdir-nw-${process.pid}`;
const HOST_IF = `tnw${process.pid % 100000}h`;
const NS_IF = `tnw${process.pid % 100000}n`;
const HOST_IP = `10.${(process.pid >> 8) % 200 + 20}.${process.pid % 250}.1`;
const NS_IP = HOST_IP.replace(/\.1$/, '.2');

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  spawnSync('ip', ['link', 'del', HOST_IF]);
  spawnSync('ip', ['netns', 'del', NS]);
});

function sh(cmd: string[], input?: string): void {
  const r = spawnSync(cmd[0], cmd.slice(1), { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
}

/** A new namespace `ns` joined to this one by a veth pair, each end addressed in a /30, lo up. */
function vethTo(ns: string, hostIf: string, nsIf: string, hostIp: string, nsIp: string): void {
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
  sh(['ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
  sh(['ip', 'link', 'set', hostIf, 'up']);
  sh(['ip', '-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
  sh(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

// A server in the namespace, driven line by line: each command answers one line when done.
const PY = `
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('0.0.0.0', 0)); l.listen(16)
port = l.getsockname()[1]
held = []
def pair():
    c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept(); held.extend([c, a]); return c, a
pair()
print(port, flush=True)
pending = None
for cmd in sys.stdin:
    cmd = cmd.strip()
    if cmd == 'connect':
        c, a = pair(); print(c.getsockname()[1], flush=True)
    elif cmd == 'pending':
        pending = socket.create_connection(('127.0.0.1', port)); held.append(pending); print(pending.getsockname()[1], flush=True)
    elif cmd == 'accept':
        a, _ = l.accept(); held.append(a); print(a.getpeername()[1], flush=True)
    elif cmd == 'server-closes':
        c, a = pair(); a.close(); c.close(); print('ok', flush=True)
`;

interface Ns { name: string | null; readAt: string | null }
interface Conn { state: string; local: { port: number }; remote: { port: number }; processes: { pid: number }[]; verdict: { direction: string; certain: boolean } }

async function look(app: TcpdirServer): Promise<{ collectedAt: string; readAt: string | null; conns: Conn[] }> {
  const res = await request(app.server).post('/graphql').send({
    query: `query($ns: String!) { host { collectedAt } namespaces { name readAt }
      connections(netns: $ns, limit: 1000) { state local { port } remote { port } processes { pid } verdict { direction certain } } }`,
    variables: { ns: NS },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
  const ns = (res.body.data.namespaces as Ns[]).find((n) => n.name === NS);
  assert.ok(ns, `namespace ${NS} listed`);
  return { collectedAt: res.body.data.host.collectedAt, readAt: ns.readAt, conns: res.body.data.connections };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an unchanged namespace keeps its last read, and every change in it still shows at once', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (ip netns)');
  const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: false });
  if (!app) return;
  try {
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    const child = spawn('ip', ['netns', 'exec', NS, 'python3', '-c', PY], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ask = async (cmd: string): Promise<string> => {
      child.stdin.write(`${cmd}\n`);
      return String((await lines.next()).value);
    };
    const port = Number((await lines.next()).value);
    const established = (c: Conn[]) => c.filter((x) => x.state === 'ESTABLISHED').length;

    // Idle: the second fresh answer serves the first read of the namespace, with the same sockets.
    const a = await look(app);
    assert.equal(a.readAt, a.collectedAt, 'read when first seen');
    assert.equal(established(a.conns), 2);
    await wait(50);
    const b = await look(app);
    assert.notEqual(b.collectedAt, a.collectedAt);
    assert.equal(b.readAt, a.readAt, 'nothing changed in it: not read again');
    assert.equal(established(b.conns), 2);
    const metrics = (await request(app.server).get('/metrics')).text;
    assert.match(metrics, /^tcpdir_netns\{read="kept"\} [1-9]/m, 'counted as kept');

    // A new connection (state changes there): read again, and both its ends are listed.
    const client = Number(await ask('connect'));
    const c = await look(app);
    assert.equal(c.readAt, c.collectedAt);
    assert.equal(established(c.conns), 4);
    assert.ok(c.conns.some((x) => x.local.port === client && x.verdict.direction === 'OUTBOUND' && x.verdict.certain));

    // Waiting in the accept queue (no inode yet), then accepted: accept() changes no state, and the
    // server's end must still get its process.
    const queued = Number(await ask('pending'));
    const d = await look(app);
    const serverEnd = (x: Conn) => x.local.port === port && x.remote.port === queued;
    assert.deepEqual(d.conns.filter(serverEnd).map((x) => x.processes.length), [0], 'queued: no process holds it yet');
    await wait(50);
    const e = await look(app);
    assert.equal(e.readAt, e.collectedAt, 'a queued connection keeps the namespace read each time');
    await ask('accept');
    const f = await look(app);
    assert.equal(f.conns.filter(serverEnd).map((x) => x.processes.length).join(), '1', 'accepted: its process shows');
    await wait(50);
    const g = await look(app);
    assert.equal(g.readAt, f.readAt, 'settled again: kept');

    // TIME_WAIT expires without a state change: a namespace holding one is read every time.
    await ask('server-closes');
    const h = await look(app);
    assert.ok(h.conns.some((x) => x.state === 'TIME_WAIT'), 'the closing side waits');
    await wait(50);
    const i = await look(app);
    assert.equal(i.readAt, i.collectedAt);
  } finally {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await app.close();
  }
});

test('a request socket that arrived without a state change shows by its first SYN-ACK sent again', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (ip netns)');
  const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: false });
  if (!app) return;
  const ns = `${NS}-r`;
  try {
    vethTo(ns, HOST_IF, NS_IF, HOST_IP, NS_IP);
    // The handshake's last ACK never reaches the namespace: its request socket stays.
    sh(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], 'table inet tcpdir_test {\n chain in {\n  type filter hook input priority 0;\n  tcp flags & (syn | ack | fin | rst) == ack drop\n }\n}\n');
    const py = `import socket, sys\nl = socket.socket(); l.bind(('${NS_IP}', 0)); l.listen(8); print(l.getsockname()[1], flush=True); sys.stdin.read()`;
    const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const port = Number((await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next()).value);

    const lookNs = async () => {
      const res = await request(app.server).post('/graphql').send({
        query: `query($ns: String!) { host { collectedAt } namespaces { name readAt } connections(netns: $ns, limit: 100) { state local { port } } }`,
        variables: { ns },
      });
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      return { collectedAt: res.body.data.host.collectedAt as string, readAt: (res.body.data.namespaces as Ns[]).find((n) => n.name === ns)?.readAt, conns: res.body.data.connections as Conn[] };
    };
    const a = await lookNs();
    await wait(50);
    const b = await lookNs();
    assert.equal(b.readAt, a.readAt, 'idle namespace kept');
    assert.equal(b.conns.length, 0);

    // The client's end is in this namespace (its changes count here); the server's request socket
    // is the only change over there.
    const c = net.connect(port, NS_IP);
    c.on('error', () => undefined);
    let seen = false;
    const t0 = Date.now();
    while (!seen && Date.now() - t0 < 5000) {
      await wait(200);
      const r = await lookNs();
      seen = r.conns.some((x) => x.state === 'SYN_RECV' && x.local.port === port);
    }
    c.destroy();
    assert.ok(seen, 'the half-open connection is listed within a few seconds');
  } finally {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await app.close();
    spawnSync('ip', ['link', 'del', HOST_IF]);
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('across a veth, both ends in either direction are right and certain; the other namespace is listed by its own pass', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (ip netns)');
  const app = await kernelServer(t, { logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: false });
  if (!app) return;
  const ns = `${NS}-v`;
  const hostIf = `${HOST_IF}v`, nsIf = `${NS_IF}v`;
  const hostIp = HOST_IP.replace(/^10\.\d+/, '10.240'), nsIp = NS_IP.replace(/^10\.\d+/, '10.240');
  const held: net.Socket[] = [];
  let hostServer: net.Server | null = null;
  try {
    vethTo(ns, hostIf, nsIf, hostIp, nsIp);
    // Host side: a listener the namespace connects to.
    hostServer = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => hostServer!.listen(0, hostIp, r));
    const hostPort = (hostServer.address() as net.AddressInfo).port;
    // Namespace side: a listener the host connects to, and a client of the host's listener.
    const py = `import socket, sys
l = socket.socket(); l.bind(('${nsIp}', 0)); l.listen(8)
c = socket.create_connection(('${hostIp}', ${hostPort}))
print(l.getsockname()[1], c.getsockname()[1], flush=True)
a, _ = l.accept()
sys.stdin.read()`;
    const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const [nsPort, nsClientPort] = String((await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next()).value).split(' ').map(Number);
    const client = net.connect(nsPort, nsIp);
    await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
    held.push(client);

    const res = await request(app.server).post('/graphql').send({
      query: `query($ns: String!, $hp: Int!, $np: Int!) { namespaces { name source }
        inNs: connections(netns: $ns, state: ESTABLISHED) { local { port } remote { port } verdict { direction certain } }
        hs: connections(port: $hp, state: ESTABLISHED) { local { address port } remote { port } verdict { direction certain } }
        hc: connections(port: $np, state: ESTABLISHED) { local { address port } remote { port } verdict { direction certain } } }`,
      variables: { ns, hp: hostPort, np: nsPort },
    });
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.equal((res.body.data.namespaces as { name: string; source: string }[]).find((n) => n.name === ns)?.source, 'EBPF');
    type Row = { local: { address?: string; port: number }; remote: { port: number }; verdict: { direction: string; certain: boolean } };
    const inNs = (res.body.data.inNs as Row[]).map((r) => [r.local.port, r.verdict.direction, r.verdict.certain]).sort();
    assert.deepEqual(inNs, [[nsClientPort, 'OUTBOUND', true], [nsPort, 'INBOUND', true]].sort());
    const onHost = [...res.body.data.hs, ...res.body.data.hc as Row[]]
      .filter((r) => r.local.address === hostIp)
      .map((r) => [r.local.port === hostPort ? 'server' : 'client', r.verdict.direction, r.verdict.certain]).sort();
    assert.deepEqual(onHost, [['client', 'OUTBOUND', true], ['server', 'INBOUND', true]]);
  } finally {
    for (const s of held) s.destroy();
    hostServer?.close();
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await app.close();
    spawnSync('ip', ['link', 'del', hostIf]);
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
