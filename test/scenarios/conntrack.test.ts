// conntrack as evidence, on namespaces with real nftables rules. A client namespace A reaches a
// server namespace B through a router R (ip_forward) that masquerades A's traffic; B DNATs a VIP
// (10.233.9.9:80, routed to B, owned by nobody) to its server on 8080. So every A->B flow is
// tracked twice: in R (ORIGINAL A -> B, REPLY B -> R) and in B (ORIGINAL R -> VIP, REPLY server -> R).
// Asserted, with kernel (eBPF) evidence off so conntrack is what decides:
//  - DNAT: the server's socket in B is INBOUND by its own namespace's entry (REPLY side), and its
//    NAT view names the VIP the client asked for; the client's socket in A is OUTBOUND by R's entry
//    (ORIGINAL side, joined across namespaces), its NAT view the masquerade address.
//  - a child whose listener closed, on a port inside B's ephemeral range, talking to a client
//    bound to port 443: heuristics alone are not sure (below 0.9); made after the reader subscribed to NEW
//    events, conntrack saw its SYN and settles it INBOUND, certain.
//  - mid-stream adoption: flushing B's table under a live connection whose server then speaks
//    first makes an entry with the server as ORIGINAL; its TCP flags carry BE_LIBERAL both ways and
//    the entry adds no weight (a note says why), even after traffic both ways.
//  - the router's view: tcpdir run inside R sees no sockets, and lists the forwarded flows with
//    their opener (Query.trackedFlows and REST /api/v1/tracked-flows).
//  - without CAP_NET_ADMIN, conntrack is reported unavailable with the reason; nothing crashes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { classify, buildContext, findByTuple, conntrackMatch } from '../../src/classifier';
import { Collector } from '../../src/collectors';
import type { Snapshot } from '../../src/model';
import { createServer, type TcpdirServer } from '../../src';
import { TcpdirService } from '../../src/service';
import { listRowsBothWays } from '../helpers/list-rows';
import { Actor, addNamespace, deleteNamespace, ip, REPO_ROOT, unsupportedReason, type ActorSocket } from './netns';

const nft = spawnSync('nft', ['--version']).status === 0;
const skip = unsupportedReason() ?? (nft ? null : 'nft (nftables) is not installed');
if (skip) console.log(`# conntrack suite skipped: ${skip}`);

const A = '10.233.1.2', RA = '10.233.1.1', RB = '10.233.2.1', B = '10.233.2.2', VIP = '10.233.9.9';

function inNs(ns: string, argv: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

describe('conntrack evidence', { skip: skip ?? false, timeout: 120_000 }, () => {
  let nsA: string, nsR: string, nsB: string;
  let a: Actor, b: Actor;
  let collector: Collector;
  const sockets: ActorSocket[] = [];

  const collect = () => collector.collect();
  const idOf = (s: Snapshot, name: string) => s.namespaces!.find((n) => n.name === name)!.id;
  const verdictOf = (s: Snapshot, name: string, la: string, lp: number, ra: string, rp: number) => {
    const ctx = buildContext(s);
    const conn = findByTuple(ctx, la, lp, ra, rp, idOf(s, name));
    assert.ok(conn, `no socket ${la}:${lp} -> ${ra}:${rp} in ${name}`);
    const v = classify(s, ctx).get(conn.id)!;
    return { v, ctx, conn };
  };

  before(async () => {
    const tag = Math.random().toString(36).slice(2, 7);
    nsA = addNamespace(`cta-${tag}`);
    nsR = addNamespace(`ctr-${tag}`);
    nsB = addNamespace(`ctb-${tag}`);
    ip(['-n', nsA, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'ra', 'netns', nsR]);
    ip(['-n', nsB, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'rb', 'netns', nsR]);
    ip(['-n', nsA, 'addr', 'add', `${A}/24`, 'dev', 'a0']);
    ip(['-n', nsR, 'addr', 'add', `${RA}/24`, 'dev', 'ra']);
    ip(['-n', nsR, 'addr', 'add', `${RB}/24`, 'dev', 'rb']);
    ip(['-n', nsB, 'addr', 'add', `${B}/24`, 'dev', 'b0']);
    for (const [ns, dev] of [[nsA, 'a0'], [nsR, 'ra'], [nsR, 'rb'], [nsB, 'b0']]) ip(['-n', ns, 'link', 'set', dev, 'up']);
    ip(['-n', nsA, 'route', 'add', 'default', 'via', RA]);
    ip(['-n', nsB, 'route', 'add', 'default', 'via', RB]);
    ip(['-n', nsR, 'route', 'add', `${VIP}/32`, 'via', B]);
    inNs(nsR, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    inNs(nsR, ['nft', '-f', '-'], 'table ip nat {\n chain post {\n  type nat hook postrouting priority 100\n  oifname "rb" masquerade\n }\n}\n');
    inNs(nsB, ['nft', '-f', '-'], `table ip nat {\n chain pre {\n  type nat hook prerouting priority -100\n  ip daddr ${VIP} tcp dport 80 dnat to ${B}:8080\n }\n}\n`);
    a = new Actor(nsA, 'client');
    b = new Actor(nsB, 'server');
    collector = new Collector({ allNamespaces: true, kernelEvidence: false });
  });

  after(async () => {
    collector?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    for (const ns of [nsA, nsR, nsB]) if (ns) deleteNamespace(ns);
  });

  test('DNAT and masquerade: both ends judged by conntrack, the NAT view shows the VIP and the masquerade address', async () => {
    const l = await b.listen(B, 8080, { accept: false });
    const c = await a.connect([VIP, 80]);
    const [child] = await b.accept(l, 1);
    sockets.push(l, c, child);
    const clientPort = c.local![1];
    const serverPeer = child.remote!; // R's address and the port masquerade chose
    assert.equal(serverPeer[0], RB, 'B sees the masquerade address');
    const snap = await collect();
    assert.ok(snap.conntrack?.available, `conntrack read: ${snap.conntrack?.reason}`);
    const st = (name: string) => snap.conntrack!.namespaces.find((n) => n.netns === idOf(snap, name))!;
    for (const name of [nsR, nsB]) {
      assert.equal(st(name).available, true, `${name}: ${st(name).reason}`);
      assert.ok(st(name).entries >= 1, `${name} tracks the flow`);
    }

    const server = verdictOf(snap, nsB, B, 8080, RB, serverPeer[1]);
    assert.equal(server.v.direction, 'INBOUND');
    const sm = conntrackMatch(server.ctx, server.conn)!;
    assert.equal(sm.side, 'reply');
    assert.equal(sm.crossNamespace, false);
    assert.ok(server.v.evidence.some((e) => e.rule === 'conntrack' && e.favors === 'INBOUND'), JSON.stringify(server.v.evidence));

    const client = verdictOf(snap, nsA, A, clientPort, VIP, 80);
    assert.equal(client.v.direction, 'OUTBOUND');
    const cm = conntrackMatch(client.ctx, client.conn)!;
    assert.equal(cm.side, 'original');
    assert.equal(cm.crossNamespace, true, 'A tracks nothing: the entry is R\'s');
    assert.equal(cm.entry.netns, idOf(snap, nsR));

    // The same through the API: Connection.nat on GraphQL and REST.
    const server2: TcpdirServer = await createServer({ logLevel: 'silent', maxAgeMs: 60_000, allNamespaces: true, kernelEvidence: false, collect });
    try {
      const q = `query($n: String) { connections(netns: $n, limit: 100000) { local { address port } remote { address port } nat { originalSource { address port } originalDestination { address port } replySource { address port } replyDestination { address port } } } }`;
      const res = await server2.app.inject({ method: 'POST', url: '/graphql', payload: { query: q, variables: { n: nsB } } });
      const rows = (res.json() as { data: { connections: { local: { port: number }; remote: { port: number }; nat: Record<string, { address: string; port: number }> | null }[] } }).data.connections;
      const row = rows.find((r) => r.local.port === 8080 && r.remote.port === serverPeer[1])!;
      assert.deepEqual(row.nat, {
        originalSource: { address: RB, port: serverPeer[1] },
        originalDestination: { address: VIP, port: 80 },
        replySource: { address: B, port: 8080 },
        replyDestination: { address: RB, port: serverPeer[1] },
      });
      const rest = await server2.app.inject({ method: 'GET', url: `/api/v1/connections?netns=${encodeURIComponent(nsA)}&localPort=${clientPort}` });
      assert.equal(rest.statusCode, 200, rest.body);
      const [crow] = rest.json() as { nat: Record<string, { address: string; port: number }> | null; verdict: { direction: string } }[];
      assert.deepEqual(crow.nat, {
        originalSource: { address: A, port: clientPort },
        originalDestination: { address: VIP, port: 80 },
        replySource: { address: VIP, port: 80 },
        replyDestination: { address: RB, port: serverPeer[1] },
      });
      assert.equal(crow.verdict.direction, 'OUTBOUND');
      assert.deepEqual((crow as unknown as { conntrack: unknown }).conntrack, { netns: idOf(snap, nsR), side: 'ORIGINAL', origin: 'SYN', state: 'ESTABLISHED', direction: 'OUTBOUND' });
      // `tcpdir list` reads these rows without GraphQL: the NAT and conntrack views too must be the document's.
      const listing = new TcpdirService({ maxAgeMs: 60_000, history: false, kernelEvidence: false, collect });
      try {
        for (const n of [nsA, nsB]) {
          const both = await listRowsBothWays(listing, { netns: n, limit: 1000 });
          assert.ok(both.graphql.includes('"originalDestination":{"address":"10.233.9.9","port":80}'), `${n}: a row with its NAT view`);
          assert.equal(both.direct, both.graphql);
          assert.equal(both.directJson, both.graphql);
        }
      } finally {
        listing.close();
      }
      const ns = await server2.app.inject({ method: 'GET', url: '/api/v1/namespaces' });
      const nsRow = (ns.json() as { name: string | null; conntrack: { available: boolean; entries: number } }[]).find((n) => n.name === nsR)!;
      assert.equal(nsRow.conntrack.available, true);
      assert.ok(nsRow.conntrack.entries >= 1);
    } finally {
      await server2.close();
    }
  });

  test('a child whose listener closed, on an ephemeral-range port, client bound to 443: conntrack saw the SYN and settles it INBOUND', async () => {
    await collect(); // the reader is subscribed to NEW events from here on
    const port = 40123;
    const l = await b.listen(B, port, { accept: false });
    const c = await a.connect([B, port], { bind: [A, 443] });
    const [child] = await b.accept(l, 1);
    await b.close(l);
    sockets.push(c, child);
    const snap = await collect();
    const { v, ctx, conn } = verdictOf(snap, nsB, B, port, RB, child.remote![1]);
    const m = conntrackMatch(ctx, conn)!;
    assert.equal(m.entry.seenCreatedFromSyn, true, 'the NEW event in SYN_SENT was seen');
    assert.equal(v.direction, 'INBOUND');
    assert.equal(v.certain, true, JSON.stringify(v.evidence));
    // Without conntrack the same socket is judged from port numbers and tcp_info's syn-acked:
    // never certain, and held below 0.9 (a lone child of a closed listener reads like a client
    // restored by CRIU), whichever way it leans.
    const bare = { ...snap, conntrack: null };
    const hv = verdictOf(bare, nsB, B, port, RB, child.remote![1]).v;
    assert.equal(hv.certain, false, `heuristics alone: ${JSON.stringify(hv)}`);
    assert.ok(hv.direction !== 'INBOUND' || hv.confidence < 0.9, `heuristics alone: ${JSON.stringify(hv)}`);
    const cv = verdictOf(snap, nsA, A, 443, B, port).v;
    assert.equal(cv.direction, 'OUTBOUND');
    assert.equal(cv.certain, true, 'R saw the SYN too');
  });

  test('an entry adopted mid-stream (table flushed, server speaks first) carries BE_LIBERAL both ways and adds no weight', async () => {
    const port = 9191;
    const l = await b.listen(B, port, { accept: false });
    const c = await a.connect([B, port]);
    const [child] = await b.accept(l, 1);
    sockets.push(l, c, child);
    const before = await collect();
    const m0 = conntrackMatch(buildContext(before), findByTuple(buildContext(before), B, port, RB, child.remote![1], idOf(before, nsB))!)!;
    assert.equal(m0.side, 'reply');
    assert.equal(m0.entry.flagsOriginal! & 0x08, 0, 'made from a SYN: no BE_LIBERAL');
    inNs(nsB, ['conntrack', '-F']);
    await b.send(child, 'hello from the server');
    assert.equal(await a.recv(c), 'hello from the server');
    await a.send(c, 'and back');
    assert.equal(await b.recv(child), 'and back');
    const snap = await collect();
    const { v, ctx, conn } = verdictOf(snap, nsB, B, port, RB, child.remote![1]);
    const m = conntrackMatch(ctx, conn)!;
    assert.equal(m.crossNamespace, false);
    assert.equal(m.side, 'original', 'the server sent the first packet conntrack saw after the flush');
    assert.equal(m.entry.flagsOriginal! & 0x08, 0x08);
    assert.equal(m.entry.flagsReply! & 0x08, 0x08);
    assert.equal(m.entry.seenCreatedFromSyn, false);
    assert.ok(!v.evidence.some((e) => e.rule === 'conntrack' && e.weight > 0), JSON.stringify(v.evidence));
    assert.ok(v.evidence.some((e) => e.rule === 'conntrack' && /mid-stream/.test(e.detail)), 'a note says the entry proves nothing');
    assert.notEqual(v.direction, 'OUTBOUND', 'never the adopted entry\'s wrong side');
  });

  test("the router's own view: no sockets, the forwarded flows with their opener", () => {
    const script = `
      const { createServer } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src'))});
      (async () => {
        const s = await createServer({ logLevel: 'silent', kernelEvidence: false, maxAgeMs: 60000 });
        const g = await s.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ connectionCount host { conntrack { available entries } } trackedFlows { opener { address port } destination { address port } nat { replyDestination { address } } state origin openerConfidence } }' } });
        const r = await s.app.inject({ method: 'GET', url: '/api/v1/tracked-flows' });
        console.log(JSON.stringify({ graphql: g.json().data, rest: r.json() }));
        await s.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = JSON.parse(inNs(nsR, [process.execPath, '-e', script]));
    assert.equal(out.graphql.connectionCount, 0, 'no socket in the router');
    assert.equal(out.graphql.host.conntrack.available, true);
    const flows = out.graphql.trackedFlows as { opener: { address: string; port: number }; destination: { address: string; port: number }; nat: { replyDestination: { address: string } } | null; origin: string; openerConfidence: number }[];
    const toVip = flows.find((f) => f.destination.address === VIP && f.destination.port === 80);
    assert.ok(toVip, JSON.stringify(flows));
    assert.equal(toVip.opener.address, A);
    assert.equal(toVip.origin, 'SYN');
    assert.ok(toVip.openerConfidence > 0.99);
    assert.equal(toVip.nat?.replyDestination.address, RB);
    assert.ok(flows.every((f) => f.opener.address === A), 'A opened every flow R forwards');
    const pick = (f: { opener: unknown; destination: unknown; origin: string }) => ({ opener: f.opener, destination: f.destination, origin: f.origin });
    assert.deepEqual((out.rest as typeof flows).map(pick), flows.map(pick));
  });

  test('without CAP_NET_ADMIN: conntrack unavailable with the reason, the snapshot still served', () => {
    const script = `
      const { Collector } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'collectors'))});
      const c = new Collector({ kernelEvidence: false });
      c.collect().then((s) => { console.log(JSON.stringify({ ct: s.conntrack, sockets: s.sockets.length })); c.close(); });`;
    const out = JSON.parse(inNs(nsR, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script]));
    assert.equal(out.ct.available, false);
    assert.equal(out.ct.code, 'EPERM');
    assert.match(out.ct.reason, /CAP_NET_ADMIN/);
  });
});
