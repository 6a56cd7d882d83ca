// Every network namespace from the host: tcpdir runs in the test's own namespace and reads three
// it is not in: "agent" (own port range 20000-29999) and "remote", joined by a veth, and a
// "third" with only loopback. Connections run agent <-> remote over the veth in both directions,
// and agent and third each hold a loopback pair with the SAME 4-tuple (client bound to one port)
// so a reader that mixes namespaces up double-counts or mispairs them.
// Asserted: each socket appears once, in its own namespace; the agent's own port range is read
// inside it; the veth pairs are certain on both ends (paired across namespaces); the netns
// filter (id and name) on GraphQL and REST; and an unprivileged tcpdir (setpriv nobody, no caps)
// falls back to /proc/PID/net/tcp for what it can see and says why for the rest.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { collectAllNamespaces } from '../../src/collectors';
import type { Snapshot } from '../../src/model';
import { createServer, type TcpdirServer } from '../../src';
import { Actor, createNetnsPair, NET, NS_PREFIX, REPO_ROOT, unsupportedReason, type ActorSocket, type NetnsPair } from './netns';

const skip = unsupportedReason() ?? (spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv is not installed' : null);
if (skip) console.log(`# namespaces suite skipped: ${skip}`);

const LOOP_PORT = 7070;
const LOOP_CLIENT: [string, number] = ['127.0.0.1', 45070];
const NOBODY_PORT = 7171;

interface Sock { local: [string, number]; remote: [string, number] | null; kind: string }

describe('every network namespace', { skip: skip ?? false, timeout: 120_000 }, () => {
  let pair: NetnsPair;
  let third: string;
  let agent: Actor, remote: Actor, thirdActor: Actor;
  let nobody: ChildProcess | null = null;
  const made = new Map<string, Sock[]>(); // namespace name -> sockets the actors made
  let snap: Snapshot;
  let server: TcpdirServer;

  const add = (ns: string, s: ActorSocket) => {
    const list = made.get(ns) ?? [];
    list.push({ local: s.local!, remote: s.remote, kind: s.kind });
    made.set(ns, list);
  };

  before(async () => {
    pair = createNetnsPair();
    third = `${NS_PREFIX}${process.pid}-third`;
    execFileSync('ip', ['netns', 'add', third]);
    execFileSync('ip', ['-n', third, 'link', 'set', 'lo', 'up']);
    agent = new Actor(pair.agent, 'agent');
    remote = new Actor(pair.remote, 'remote');
    thirdActor = new Actor(third, 'third');

    // agent -> remote over the veth: the agent's port comes from its own range.
    const rl = await remote.listen(NET.remoteV4, 8080, { accept: false });
    add(pair.remote, rl);
    const ac = await agent.connect([NET.remoteV4, 8080]);
    add(pair.agent, ac);
    for (const c of await remote.accept(rl, 1)) add(pair.remote, c);
    // remote -> agent, the other way round.
    const al = await agent.listen(NET.agentV4, 9090, { accept: false });
    add(pair.agent, al);
    add(pair.remote, await remote.connect([NET.agentV4, 9090]));
    for (const c of await agent.accept(al, 1)) add(pair.agent, c);
    // The same loopback 4-tuple in agent and in third.
    for (const [actor, ns] of [[agent, pair.agent], [thirdActor, third]] as const) {
      const l = await actor.listen('127.0.0.1', LOOP_PORT, { accept: false });
      add(ns, l);
      add(ns, await actor.connect(['127.0.0.1', LOOP_PORT], { bind: LOOP_CLIENT }));
      for (const c of await actor.accept(l, 1)) add(ns, c);
    }
    // A listener owned by nobody in third: what an unprivileged tcpdir can still read.
    nobody = spawn('ip', ['netns', 'exec', third, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c',
      `import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",${NOBODY_PORT}))\ns.listen()\nprint("ready",flush=True)\ntime.sleep(120)`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      createInterface({ input: nobody!.stdout! }).once('line', () => res());
      nobody!.once('exit', (c) => rej(new Error(`nobody listener exited ${c}`)));
    });
    made.get(third)!.push({ local: ['127.0.0.1', NOBODY_PORT], remote: null, kind: 'listener' });

    snap = await collectAllNamespaces({ enter: 'auto' });
    server = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, allNamespaces: true, kernelEvidence: false });
  });

  after(async () => {
    nobody?.kill('SIGKILL');
    await Promise.all([agent, remote, thirdActor].map((a) => a?.stop()));
    await server?.close();
    pair?.destroy();
    if (third) spawnSync('ip', ['netns', 'del', third], { stdio: 'ignore' });
  });

  const idOf = (s: Snapshot, name: string) => {
    const ns = s.namespaces?.find((n) => n.name === name);
    assert.ok(ns, `namespace ${name} not in the snapshot: ${JSON.stringify(s.namespaces?.map((n) => [n.id, n.name]))}`);
    return ns;
  };

  test('discovers the namespaces, reads each inside itself, with its own port range', () => {
    const self = snap.namespaces!.filter((n) => n.self);
    assert.equal(self.length, 1, 'exactly one own namespace');
    for (const name of [pair.agent, pair.remote, third]) {
      const ns = idOf(snap, name);
      assert.equal(ns.source, 'netlink', `${name}: ${ns.reason}`);
      assert.match(ns.id, /^net:\[\d+\]$/);
      assert.ok(ns.pids.length >= 1, `${name} has the actor's process`);
    }
    assert.deepEqual(idOf(snap, pair.agent).host.ephemeralPortRange, NET.ephemeral);
    assert.deepEqual(idOf(snap, pair.remote).host.ephemeralPortRange, { low: 32768, high: 60999 });
    assert.equal(new Set(snap.namespaces!.map((n) => n.id)).size, snap.namespaces!.length, 'no namespace twice');
  });

  test('each socket appears once, in its own namespace', () => {
    const ids = new Set<string>();
    for (const s of snap.sockets) {
      assert.ok(!ids.has(s.id), `socket id ${s.id} twice`);
      ids.add(s.id);
      assert.ok(s.netns, 'every socket carries its namespace');
    }
    for (const [name, socks] of made) {
      const id = idOf(snap, name).id;
      for (const m of socks) {
        const hits = snap.sockets.filter((s) =>
          s.localAddress === m.local[0] && s.localPort === m.local[1] &&
          (m.remote ? s.remoteAddress === m.remote[0] && s.remotePort === m.remote[1] : s.state === 'LISTEN'));
        const here = hits.filter((s) => s.netns === id);
        assert.equal(here.length, 1, `${m.kind} ${m.local.join(':')} -> ${m.remote?.join(':') ?? '*'} in ${name}: ${here.length} sockets`);
      }
    }
    // The shared loopback tuple exists once per namespace, no more.
    const twins = snap.sockets.filter((s) => s.localPort === LOOP_CLIENT[1] && s.remotePort === LOOP_PORT && s.localAddress === '127.0.0.1');
    assert.deepEqual(new Set(twins.map((s) => s.netns)), new Set([idOf(snap, pair.agent).id, idOf(snap, third).id]));
    assert.equal(twins.length, 2);
  });

  async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await server.app.inject({ method: 'POST', url: '/graphql', payload: { query, variables } });
    const body = res.json() as { data?: T; errors?: { message: string }[] };
    assert.ok(!body.errors, JSON.stringify(body.errors));
    return body.data!;
  }

  type Row = { local: { address: string; port: number }; remote: { address: string; port: number }; netns: string; state: string;
    verdict: { direction: string; certain: boolean } };
  const ROW = 'local { address port } remote { address port } netns state verdict { direction certain }';

  test('veth pairs are certain on both ends; loopback twins stay in their namespace', async () => {
    const d = await gql<{ namespaces: { id: string; name: string | null; crossNamespacePaired: number; ephemeralPortRange: { low: number } }[] }>(
      '{ namespaces { id name crossNamespacePaired ephemeralPortRange { low } } }');
    const byName = new Map(d.namespaces.map((n) => [n.name, n]));
    assert.ok((byName.get(pair.agent)?.crossNamespacePaired ?? 0) >= 2, JSON.stringify(byName.get(pair.agent)));
    assert.equal(byName.get(pair.agent)?.ephemeralPortRange.low, NET.ephemeral.low);
    for (const [name, expect] of [
      [pair.agent, [[8080, 'remote', 'OUTBOUND'], [9090, 'local', 'INBOUND'], [LOOP_PORT, 'remote', 'OUTBOUND'], [LOOP_PORT, 'local', 'INBOUND']]],
      [pair.remote, [[8080, 'local', 'INBOUND'], [9090, 'remote', 'OUTBOUND']]],
      [third, [[LOOP_PORT, 'remote', 'OUTBOUND'], [LOOP_PORT, 'local', 'INBOUND']]],
    ] as const) {
      const rows = (await gql<{ connections: Row[] }>(`query($n: String) { connections(netns: $n, limit: 100000) { ${ROW} } }`, { n: name })).connections;
      assert.ok(rows.every((r) => r.netns === byName.get(name)!.id), `${name}: only its own connections`);
      for (const [port, side, dir] of expect) {
        const hit = rows.filter((r) => r.state === 'ESTABLISHED' && (side === 'local' ? r.local.port === port : r.remote.port === port));
        assert.equal(hit.length, 1, `${name}: one ESTABLISHED connection with ${side} port ${port}, got ${JSON.stringify(hit)}`);
        assert.equal(hit[0].verdict.direction, dir, `${name} ${side} port ${port}`);
        assert.equal(hit[0].verdict.certain, true, `${name} ${side} port ${port}: the peer is on this host, so the verdict is certain`);
      }
    }
    const agentId = byName.get(pair.agent)!.id;
    const c1 = (await gql<{ connectionCount: number }>(`query($n: String) { connectionCount(netns: $n) }`, { n: agentId })).connectionCount;
    const c2 = (await gql<{ connectionCount: number }>(`query($n: String) { connectionCount(netns: $n) }`, { n: pair.agent })).connectionCount;
    assert.equal(c1, c2, 'id and name select the same namespace');
    assert.ok(c1 >= 4);
    const l = (await gql<{ listeners: { local: { port: number }; netns: string }[] }>(`query($n: String) { listeners(netns: $n) { local { port } netns } }`, { n: third })).listeners;
    assert.deepEqual(l.map((x) => x.local.port).sort(), [LOOP_PORT, NOBODY_PORT]);
    const s = (await gql<{ summary: { total: number; inbound: number; outbound: number } }>(`query($n: String) { summary(netns: $n) { total inbound outbound } }`, { n: third })).summary;
    assert.deepEqual([s.total, s.inbound, s.outbound], [2, 1, 1]);
  });

  test('REST mirror takes netns, and an unknown one is a 400 naming the parameter', async () => {
    const ok = await server.app.inject({ method: 'GET', url: `/api/v1/connection-count?netns=${encodeURIComponent(third)}` });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json(), 2);
    const ns = await server.app.inject({ method: 'GET', url: '/api/v1/namespaces' });
    assert.ok((ns.json() as { name: string | null }[]).some((n) => n.name === third));
    const bad = await server.app.inject({ method: 'GET', url: '/api/v1/connections?netns=no-such-namespace' });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { error: { parameter: string } }).error.parameter, 'netns');
  });

  test('unprivileged: procfs where a process is visible, "none" with a reason where not', () => {
    const script = `require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'collectors'))}).collectAllNamespaces()` +
      '.then((s) => process.stdout.write(JSON.stringify(s)), (e) => { console.error(e); process.exit(1); })';
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script],
      { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    const s = JSON.parse(out) as Snapshot;
    const t = idOf(s, third);
    assert.equal(t.source, 'procfs', String(t.reason));
    assert.match(t.reason ?? '', /CAP_SYS_ADMIN/);
    assert.equal(t.host.ephemeralPortRangeAssumed, true);
    assert.deepEqual(t.host.ephemeralPortRange, { low: 32768, high: 60999 });
    // Through the nobody process's /proc/PID/net/tcp: every socket of that namespace, ids unique.
    const inThird = s.sockets.filter((x) => x.netns === t.id);
    assert.ok(inThird.some((x) => x.state === 'LISTEN' && x.localPort === NOBODY_PORT));
    assert.ok(inThird.some((x) => x.state === 'LISTEN' && x.localPort === LOOP_PORT));
    assert.equal(new Set(s.sockets.map((x) => x.id)).size, s.sockets.length, 'procfs ids are unique across namespaces');
    // The agent's processes are root's: invisible to nobody, so it is listed but not read.
    const a = idOf(s, pair.agent);
    assert.equal(a.source, 'none');
    assert.match(a.reason ?? '', /CAP_SYS_ADMIN/);
    assert.ok(!s.sockets.some((x) => x.netns === a.id));
    assert.ok(s.namespaces!.find((n) => n.self)?.source === 'netlink');
  });
});
