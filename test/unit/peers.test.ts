import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classify } from '../../src/classifier';
import { PeerAgents, parsePeers, parsePeerVerdicts, peerVerdictQuery, type PeerAsk } from '../../src/collectors';
import { UNKNOWN_BELOW } from '../../src/classifier';
import type { PeerEvidence, PeerVerdict, Verdict } from '../../src/model';
import { snap, sock } from '../helpers/fake-snapshot';

const ask = (socketId: string, peer: string, localPort: number, remotePort: number): PeerAsk =>
  ({ socketId, peer, localAddress: '::ffff:10.0.0.1', localPort, remoteAddress: '10.0.0.2', remotePort });

test('parsePeers: URLs by address, ADDRESS=URL, names to resolve, and clear errors', () => {
  const { fixed, names } = parsePeers(['http://10.0.0.2:4000/', 'http://[FD00::2]:4000', '10.0.0.3=http://agent-c:4000', ' ', 'https://agents.tcpdir.svc:4443/base/']);
  assert.deepEqual([...fixed], [['10.0.0.2', 'http://10.0.0.2:4000'], ['fd00::2', 'http://[fd00::2]:4000'], ['10.0.0.3', 'http://agent-c:4000']]);
  assert.equal(names.length, 1);
  assert.equal(names[0].hostname, 'agents.tcpdir.svc');
  assert.equal(names[0].urlFor('10.1.2.3'), 'https://10.1.2.3:4443/base');
  assert.equal(names[0].urlFor('fd00::7'), 'https://[fd00::7]:4443/base');
  assert.throws(() => parsePeers(['agent-c=http://agent-c:4000']), /agent-c is not an IP address/);
  assert.throws(() => parsePeers(['not a url']), /not a URL/);
  assert.throws(() => parsePeers(['ftp://10.0.0.2']), /only http and https/);
});

test('a peer name resolving to this host only adds no agent: its own addresses are left out', async () => {
  // localhost comes from /etc/hosts (no query leaves the host) and is this host's own address.
  const statuses: Array<[string, string | null]> = [];
  const agents = new PeerAgents({ peers: ['http://localhost:4000', '10.0.0.9=http://10.0.0.9:4000'], onStatus: (p, r) => statuses.push([p, r]) });
  await agents.resolveNames();
  assert.deepEqual([...agents.byAddress], [['10.0.0.9', 'http://10.0.0.9:4000']]);
  assert.equal(agents.peerFor('127.0.0.1'), null);
  assert.deepEqual(statuses, []);
});

test('peerVerdictQuery swaps the endpoints and aliases each ask', () => {
  const q = peerVerdictQuery([ask('a', 'p', 40000, 50000), ask('b', 'p', 40001, 22)]);
  assert.match(q, /v0: verdict\(localAddress: "10\.0\.0\.2", localPort: 50000, remoteAddress: "10\.0\.0\.1", remotePort: 40000\)/);
  assert.match(q, /v1: verdict\(localAddress: "10\.0\.0\.2", localPort: 22, remoteAddress: "10\.0\.0\.1", remotePort: 40001\)/);
});

test('parsePeerVerdicts: verdicts, nulls, and errors for what is no answer', () => {
  const v: PeerVerdict = { direction: 'OUTBOUND', confidence: 1, inboundProbability: 0, certain: true };
  assert.deepEqual(parsePeerVerdicts({ data: { v0: v, v1: null } }, 2), [v, null]);
  assert.throws(() => parsePeerVerdicts({ data: null, errors: [{ message: 'missing or wrong bearer token' }] }, 1), /bearer token/);
  assert.throws(() => parsePeerVerdicts({ data: { v0: { ...v, direction: 'SIDEWAYS' } } }, 1), /v0 is malformed/);
  assert.throws(() => parsePeerVerdicts('<html>', 1), /not a JSON object/);
});

/** A fake peer agent over real HTTP: answers every alias with `answer`, counts requests. */
async function fakeAgent(answer: (i: number) => PeerVerdict | null, opts: { token?: string; delayMs?: number } = {}): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d)).on('end', () => {
      requests.push(body);
      if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
        res.writeHead(401).end('{}');
        return;
      }
      assert.equal(req.headers['x-tcpdir-peer'], '1');
      const n = (JSON.parse(body).query.match(/v\d+:/g) ?? []).length;
      const data = Object.fromEntries(Array.from({ length: n }, (_, i) => [`v${i}`, answer(i)]));
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data })), opts.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

test('PeerAgents batches, authenticates, caches, and turns failures into notes', async () => {
  const certain: PeerVerdict = { direction: 'OUTBOUND', confidence: 1, inboundProbability: 0, certain: true };
  const ok = await fakeAgent((i) => (i === 1 ? null : certain), { token: 't' });
  const slow = await fakeAgent(() => certain, { delayMs: 2000 });
  try {
    const agents = new PeerAgents({ peers: [`127.0.0.1=${ok.url}`], token: 't', timeoutMs: 300 });
    const asks = Array.from({ length: 150 }, (_, i) => ask(`s${i}`, ok.url, 40000 + i, 50000));
    const ev = await agents.ask(asks);
    assert.equal(ok.requests.length, 2, 'two batches of at most 100');
    assert.deepEqual(ev.bySocket.get('s0')?.verdict, certain);
    assert.match(ev.bySocket.get('s1')?.note ?? '', /has no connection/);
    assert.deepEqual(ev.peers, [{ url: ok.url, asked: 150, reachable: true, reason: null }]);
    await agents.ask(asks.slice(0, 1));
    assert.equal(ok.requests.length, 2, 'a certain answer is cached');

    const wrongToken = await new PeerAgents({ peers: [ok.url], token: 'x' }).ask([ask('s', ok.url, 1, 2)]);
    assert.match(wrongToken.bySocket.get('s')?.note ?? '', /refused the peer token/);

    const t0 = Date.now();
    const told: Array<string | null> = [];
    const late = new PeerAgents({ peers: [`10.0.0.9=${slow.url}`], timeoutMs: 200, onStatus: (_p, why) => told.push(why) });
    const ev2 = await late.ask([ask('s', slow.url, 1, 2)]);
    assert.ok(Date.now() - t0 < 1500, 'the timeout bounds the wait');
    assert.match(ev2.bySocket.get('s')?.note ?? '', /unreachable: no answer within 200 ms/);
    assert.equal(ev2.peers[0].reachable, false);
    // Not asked again at once: a dead peer costs no timeout per snapshot.
    const t1 = Date.now();
    await late.ask([ask('s2', slow.url, 3, 4)]);
    assert.ok(Date.now() - t1 < 100);
    assert.equal(slow.requests.length, 1);
    assert.deepEqual(told, ['no answer within 200 ms'], 'told once, not per snapshot');
  } finally {
    ok.server.close();
    slow.server.closeAllConnections();
    slow.server.close();
  }
});

function withPeer(v: PeerVerdict | null, note: string | null = null): { verdict: Verdict; id: string } {
  // A lone child whose listener closed: ports inside the ephemeral range on both sides say nothing.
  const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 50000 });
  const peers: PeerEvidence = { bySocket: new Map([[c.id, { peer: 'http://10.0.0.2:4000', verdict: v, note }]]), peers: [] };
  const s = snap([c]);
  s.peers = peers;
  return { verdict: classify(s).get(c.id)!, id: c.id };
}

test('peer-agent: a certain far side settles this side, the other way round', () => {
  const { verdict } = withPeer({ direction: 'OUTBOUND', confidence: 1, inboundProbability: 0, certain: true });
  assert.equal(verdict.direction, 'INBOUND');
  assert.equal(verdict.certain, true);
  assert.equal(verdict.evidence[0].rule, 'peer-agent');
  const out = withPeer({ direction: 'INBOUND', confidence: 1, inboundProbability: 1, certain: true }).verdict;
  assert.equal(out.direction, 'OUTBOUND');
  assert.equal(out.certain, true);
});

test('peer-agent: an uncertain far side counts, bounded, and alone stays below the UNKNOWN line', () => {
  const alone = withPeer(null).verdict;
  const sure = withPeer({ direction: 'OUTBOUND', confidence: 0.9999, inboundProbability: 0.0001, certain: false }).verdict;
  const e = sure.evidence.find((x) => x.rule === 'peer-agent');
  assert.ok(e && !e.conclusive && e.favors === 'INBOUND' && e.weight === 1, JSON.stringify(e));
  assert.equal(sure.certain, false);
  assert.ok(sure.direction === 'UNKNOWN' || sure.confidence < UNKNOWN_BELOW + 0.1, JSON.stringify(sure));
  assert.ok(sure.inboundProbability > alone.inboundProbability);
  const unknown = withPeer({ direction: 'UNKNOWN', confidence: 0, inboundProbability: 0.5, certain: false }).verdict;
  assert.ok(!unknown.evidence.some((x) => x.rule === 'peer-agent'));
});

test('peer-agent: no verdict from the peer is a weightless note', () => {
  const v = withPeer(null, 'peer agent http://10.0.0.2:4000 unreachable: ECONNREFUSED').verdict;
  const n = v.evidence.find((x) => x.rule === 'peer-agent');
  assert.ok(n && n.weight === 0 && n.favors === 'UNKNOWN' && !n.conclusive);
  assert.match(n.detail, /ECONNREFUSED/);
  assert.equal(v.certain, false);
});

test('the service asks peers after its own classification; a peer request waits for that alone', async () => {
  const { TcpdirService } = await import('../../src/service');
  const certain: PeerVerdict = { direction: 'OUTBOUND', confidence: 1, inboundProbability: 0, certain: true };
  const slow = await fakeAgent(() => certain, { delayMs: 1000 });
  try {
    const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 50000 });
    const service = new TcpdirService({ collect: async () => snap([c]), maxAgeMs: 60_000, peers: [`10.0.0.2=${slow.url}`], peerTimeoutMs: 3000 });
    const t0 = performance.now();
    const [local, full] = [service.current({ local: true }), service.current()];
    const l = await local;
    const tLocal = performance.now() - t0;
    const f = await full;
    const tFull = performance.now() - t0;
    assert.ok(tLocal < 500 && tFull >= 950, `local ${tLocal} ms, full ${tFull} ms`);
    assert.equal(l.verdicts.get(c.id)?.certain, false);
    assert.equal(f.verdicts.get(c.id)?.direction, 'INBOUND');
    assert.equal(f.verdicts.get(c.id)?.certain, true);
    assert.equal(slow.requests.length, 1);
    // Cached views: the local one stays free of peer evidence.
    assert.equal((await service.current({ local: true })).verdicts.get(c.id)?.certain, false);
    service.close();
  } finally {
    slow.server.closeAllConnections();
    slow.server.close();
  }
});

test('peerFor matches IPv4-mapped remote addresses to an IPv4 peer', () => {
  const agents = new PeerAgents({ peers: ['http://10.0.0.2:4000', 'http://[fd00::2]:4000'] });
  assert.equal(agents.peerFor('10.0.0.2'), 'http://10.0.0.2:4000');
  assert.equal(agents.peerFor('::ffff:10.0.0.2'), 'http://10.0.0.2:4000');
  assert.equal(agents.peerFor('fd00::2'), 'http://[fd00::2]:4000');
  assert.equal(agents.peerFor('10.0.0.3'), null);
});
