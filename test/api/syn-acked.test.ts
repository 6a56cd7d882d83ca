// The syn-acked rule end to end, kernel evidence off (netlink source, the collector then asks for
// tcp_info): real connections between this namespace and a peer namespace over a veth, so that
// each socket here is alone (its peer is not on this host), as on a real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import request from 'supertest';
import { createServer } from '../../src/server/create-server';
import { addNamespace, deleteNamespace, ip } from '../scenarios/netns';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// The peer: a listener that never reads (data sent to it stays in flight), and one client that
// connects to HERE:port and then only holds the connection.
const PEER = `
import socket, sys, time
here, port, bind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
l = socket.socket(); l.bind((bind, 0)); l.listen(8)
print(l.getsockname()[1], flush=True)
c = socket.create_connection((here, port))
held = []
while True:
    k, _ = l.accept(); held.append(k)
`;

/** A new namespace joined to this one by a veth pair: `here` on our side, `there` inside it. */
function vethPeer(prefix: string, subnet: number): { ns: string; here: string; there: string } {
  const tag = randomBytes(3).toString('hex');
  const ns = addNamespace(`${prefix}${tag}`);
  const veth = `td${prefix}${tag}`;
  const octet = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
  const here = `10.${subnet}.${octet}.1`, there = `10.${subnet}.${octet}.2`;
  ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  ip(['addr', 'add', `${here}/30`, 'dev', veth]);
  ip(['link', 'set', veth, 'up']);
  ip(['-n', ns, 'addr', 'add', `${there}/30`, 'dev', 'eth0']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  return { ns, here, there };
}

test('kernel evidence off: syn-acked settles lone sockets from tcp_info', { skip: process.getuid!() !== 0 && 'needs root (netns)' }, async () => {
  const { ns, here, there } = vethPeer('sa', 233);
  let peer: ChildProcess | null = null;
  const socks: net.Socket[] = [];
  const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, kernelEvidence: false, source: 'netlink', allNamespaces: false });
  try {

    // Inbound: a listener here, the peer connects; the listener closes before the snapshot.
    const l = net.createServer((s) => socks.push(s));
    await new Promise<void>((r) => l.listen(0, here, r));
    const lport = (l.address() as net.AddressInfo).port;
    peer = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', PEER, here, String(lport), there], { stdio: ['ignore', 'pipe', 'inherit'] });
    const peerPort = Number(String(await new Promise((r) => peer!.stdout!.once('data', r))).trim());
    while (socks.length < 1) await sleep(20);
    const idleChild = socks[0];
    l.close(); // stops listening now; its callback would wait for the children to end

    // Outbound: a client here with data sent and acked; a second one stuck with data in flight.
    const dial = async () => {
      const c = net.connect(peerPort, there);
      await new Promise((r) => c.once('connect', r));
      socks.push(c);
      return c;
    };
    const client = await dial();
    await new Promise<void>((r) => client.write(Buffer.alloc(1000, 1), () => r()));
    const stuck = await dial();
    stuck.write(Buffer.alloc(8 << 20, 2)); // the peer never reads: window and buffers fill
    // An accepted child with data sent (and acked) whose listener is closed too.
    const dataChild = idleChild;
    await sleep(300);

    const q = `query($p: Int) { connections(port: $p) { local { port } remote { port } state verdict { direction confidence certain evidence { rule favors detail } } } }`;
    const get = async (port: number) => {
      const r = await request(app.server).post('/graphql').send({ query: q, variables: { p: port } });
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data.connections as Array<{ local: { port: number }; remote: { port: number }; state: string; verdict: { direction: string; confidence: number; certain: boolean; evidence: Array<{ rule: string; favors: string; detail: string }> } }>;
    };
    const byLocal = async (s: net.Socket) => (await get(s.localPort!)).find((c) => c.local.port === s.localPort && c.remote.port === s.remotePort)!;

    // The idle child of a closed listener: no SYN counted, nothing else, so accepted.
    let v = (await byLocal(dataChild)).verdict;
    const fact = v.evidence.find((e) => e.rule === 'syn-acked');
    assert.ok(fact, JSON.stringify(v));
    assert.equal(fact.favors, 'INBOUND');
    assert.match(fact.detail, /acknowledged 0 bytes for 0 bytes of data: no SYN counted/);
    assert.equal(v.direction, 'INBOUND', JSON.stringify(v));
    // Held below 0.9 with no listener: a client restored by CRIU would read the same.
    assert.ok(v.confidence >= 0.85 && v.confidence < 0.9 && !v.certain, JSON.stringify(v));

    // Now with data: it sends 300 bytes, acked by the peer.
    await new Promise<void>((r) => dataChild.write(Buffer.alloc(300, 3), () => r()));
    await sleep(200);
    v = (await byLocal(dataChild)).verdict;
    assert.match(v.evidence.find((e) => e.rule === 'syn-acked')!.detail, /acknowledged 300 bytes for 300 bytes/);
    assert.equal(v.direction, 'INBOUND');

    // The lone client with data: its SYN is the extra acknowledged byte.
    v = (await byLocal(client)).verdict;
    const out = v.evidence.find((e) => e.rule === 'syn-acked');
    assert.ok(out && out.favors === 'OUTBOUND', JSON.stringify(v));
    assert.match(out.detail, /acknowledged 1001 bytes for 1000 bytes of data: the extra one is this side's SYN/);
    assert.equal(v.direction, 'OUTBOUND');
    assert.ok(v.confidence >= 0.9 && !v.certain);

    // Data in flight: the arithmetic does not hold, the rule is silent.
    const s = await byLocal(stuck);
    assert.equal(s.verdict.evidence.some((e) => e.rule === 'syn-acked'), false, JSON.stringify(s.verdict));
  } finally {
    for (const s of socks) s.destroy();
    peer?.kill();
    await app.close();
    deleteNamespace(ns); // takes the veth with it
  }
});

test('kernel evidence off: sockets of other namespaces (read by entering them) carry tcp_info too', { skip: process.getuid!() !== 0 && 'needs root (netns)' }, async () => {
  const { ns, here, there } = vethPeer('sb', 234);
  let peer: ChildProcess | null = null;
  const socks: net.Socket[] = [];
  const l = net.createServer((s) => socks.push(s));
  const app = await createServer({ logLevel: 'silent', maxAgeMs: 0, kernelEvidence: false, source: 'netlink', allNamespaces: true });
  try {
    await new Promise<void>((r) => l.listen(0, here, r));
    const lport = (l.address() as net.AddressInfo).port;
    peer = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', PEER, here, String(lport), there], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => peer!.stdout!.once('data', r));
    while (socks.length < 1) await sleep(20);
    await sleep(200);
    // The peer's client, in the other namespace: its SYN is the one acknowledged byte it has.
    const r = await request(app.server).post('/graphql').send({
      query: `query($ns: String, $p: Int) { connections(netns: $ns, remotePort: $p) { netns verdict { direction evidence { rule favors detail } } } }`,
      variables: { ns, p: lport },
    });
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    const [c] = r.body.data.connections as Array<{ verdict: { direction: string; evidence: Array<{ rule: string; favors: string; detail: string }> } }>;
    assert.ok(c, `no connection to port ${lport} in ${ns}: ${JSON.stringify(r.body)}`);
    const fact = c.verdict.evidence.find((e) => e.rule === 'syn-acked');
    assert.ok(fact && fact.favors === 'OUTBOUND', JSON.stringify(c.verdict));
    assert.match(fact.detail, /the extra one is this side's SYN/);
    assert.equal(c.verdict.direction, 'OUTBOUND');
  } finally {
    for (const s of socks) s.destroy();
    l.close();
    peer?.kill();
    await app.close();
    deleteNamespace(ns);
  }
});
