import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildContext, classify, findByTuple } from '../../src/classifier';
import { kernelBirthIndex, kernelRecordIndex, pastListenerKey, transitionCode, type Verdict } from '../../src/model';
import { listen, snap, sock } from '../helpers/fake-snapshot';
import { HistoryKeeper } from '../../src/service/history-keeper';

function verdictOf(v: { get(id: string): Verdict | undefined }, id: string): Verdict {
  const r = v.get(id);
  assert.ok(r, `no verdict for ${id}`);
  return r;
}
const rules = (v: Verdict) => v.evidence.map((e) => e.rule);

test('inbound to a wildcard listener on a well-known port is inbound with high confidence', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 22, remoteAddress: '10.0.0.2', remotePort: 51000 });
  const v = verdictOf(classify(snap([listen('0.0.0.0', 22), c])), c.id);
  assert.equal(v.direction, 'INBOUND');
  assert.ok(v.confidence >= 0.99, String(v.confidence));
  assert.equal(v.certain, false);
  assert.match(v.evidence[0].detail, /listener 0\.0\.0\.0:22 \(wildcard\) owns this local port/);
});

test('a listener on another address of the same port does not count', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 8080, remoteAddress: '10.0.0.2', remotePort: 40000 });
  const v = verdictOf(classify(snap([listen('127.0.0.1', 8080), c])), c.id);
  assert.ok(!rules(v).includes('listener'));
});

test('an IPv4 client of a dual-stack :: listener is matched; a V6ONLY listener does not cover it', () => {
  const c = sock({ localAddress: '::ffff:127.0.0.1', localPort: 443, remoteAddress: '::ffff:127.0.0.1', remotePort: 50000, family: 'IPV6' });
  const dual = verdictOf(classify(snap([listen('::', 443), c])), c.id);
  assert.equal(dual.direction, 'INBOUND');
  assert.ok(rules(dual).includes('listener'));
  const v6only = verdictOf(classify(snap([listen('::', 443, { v6only: true }), c])), c.id);
  assert.ok(!rules(v6only).includes('listener'));
  // An AF_INET wildcard listener never owns an AF_INET6 child.
  const v4 = verdictOf(classify(snap([listen('0.0.0.0', 443), c])), c.id);
  assert.ok(!rules(v4).includes('listener'));
});

test('outbound from an ephemeral port to a service port is outbound', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '93.184.216.34', remotePort: 443 });
  const v = verdictOf(classify(snap([c])), c.id);
  assert.equal(v.direction, 'OUTBOUND');
  // Held below 0.9 by the no-listener bound: a listener tcpdir never saw could have accepted it.
  assert.ok(v.confidence >= 0.85 && v.confidence < 0.9, JSON.stringify(v));
});

test('the ephemeral range is read from the snapshot, not assumed', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '10.0.0.2', remotePort: 443 });
  const s = snap([c], { host: { ephemeralPortRange: { low: 20000, high: 29999 }, reservedPorts: [], netns: null } });
  const e = verdictOf(classify(s), c.id).evidence.find((x) => x.rule === 'ephemeral-range');
  assert.equal(e?.favors, 'INBOUND');
  const reserved = snap([c], { host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [{ low: 45000, high: 45000 }], netns: null } });
  assert.equal(verdictOf(classify(reserved), c.id).evidence.find((x) => x.rule === 'ephemeral-range')?.favors, 'INBOUND');
  const unknown = snap([c], { host: { ephemeralPortRange: null, reservedPorts: [], netns: null } });
  assert.ok(!rules(verdictOf(classify(unknown), c.id)).includes('ephemeral-range'));
});

test('a loopback pair with its listener open is certain on both ends', () => {
  const server = sock({ localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '127.0.0.1', remotePort: 40001 });
  const client = sock({ localAddress: '127.0.0.1', localPort: 40001, remoteAddress: '127.0.0.1', remotePort: 8080 });
  const v = classify(snap([listen('127.0.0.1', 8080), server, client]));
  assert.deepEqual([verdictOf(v, server.id).direction, verdictOf(v, server.id).certain], ['INBOUND', true]);
  assert.deepEqual([verdictOf(v, client.id).direction, verdictOf(v, client.id).certain], ['OUTBOUND', true]);
  assert.equal(verdictOf(v, client.id).evidence[0].rule, 'local-peer');
});

test('a loopback pair without its listener gets opposite, consistent probabilities', () => {
  const server = sock({ localAddress: '127.0.0.1', localPort: 5432, remoteAddress: '127.0.0.1', remotePort: 40001 });
  const client = sock({ localAddress: '127.0.0.1', localPort: 40001, remoteAddress: '127.0.0.1', remotePort: 5432 });
  const v = classify(snap([server, client]));
  const a = verdictOf(v, server.id), b = verdictOf(v, client.id);
  assert.equal(a.direction, 'INBOUND');
  assert.equal(b.direction, 'OUTBOUND');
  assert.ok(Math.abs(a.inboundProbability + b.inboundProbability - 1) < 1e-3);
});

test('handshake states are conclusive', () => {
  const syn = sock({ localAddress: '10.0.0.1', localPort: 1000, state: 'SYN_SENT', remoteAddress: '10.0.0.2', remotePort: 50000 });
  const req = sock({ localAddress: '10.0.0.1', localPort: 45000, state: 'NEW_SYN_RECV', remoteAddress: '10.0.0.2', remotePort: 22, inode: 0 });
  const v = classify(snap([syn, req]));
  assert.deepEqual([verdictOf(v, syn.id).direction, verdictOf(v, syn.id).certain, verdictOf(v, syn.id).confidence], ['OUTBOUND', true, 1]);
  assert.deepEqual([verdictOf(v, req.id).direction, verdictOf(v, req.id).certain], ['INBOUND', true]);
});

test('a child still in the accept queue is certainly inbound, even on an ephemeral port', () => {
  const l = listen('0.0.0.0', 40000, { rqueue: 1 });
  const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 443, inode: 0 });
  const v = verdictOf(classify(snap([l, c])), c.id);
  assert.deepEqual([v.direction, v.certain], ['INBOUND', true]);
  assert.equal(v.evidence[0].rule, 'accept-queue');
  // An empty queue means the inode-less socket is something else: no certainty.
  const v2 = verdictOf(classify(snap([listen('0.0.0.0', 40000), c])), c.id);
  assert.equal(v2.certain, false);
});

test('a lone connection whose listener closed, on a port inside the ephemeral range, is not called with confidence', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 51234 });
  const v = verdictOf(classify(snap([c])), c.id);
  assert.equal(v.direction, 'UNKNOWN');
  assert.equal(v.confidence, 0);
  assert.ok(v.inboundProbability > 0 && v.inboundProbability < 1);
});

test('a port nobody listens on is never called inbound on port numbers alone (active-mode FTP data from port 20)', () => {
  // A server opened this from its bound port 20 to a client's high port: low port, outside the
  // ephemeral range, client-range peer. It was INBOUND at 0.90 before the no-listener bound.
  const data = sock({ localAddress: '10.0.0.1', localPort: 20, remoteAddress: '10.0.0.2', remotePort: 50123 });
  const v = verdictOf(classify(snap([data])), data.id);
  assert.equal(v.direction, 'UNKNOWN');
  assert.ok(v.inboundProbability < 0.75, JSON.stringify(v));
  const bound = v.evidence.find((e) => e.rule === 'no-listener');
  assert.ok(bound && bound.favors === 'OUTBOUND' && bound.weight > 0, JSON.stringify(v.evidence));
  // The same socket under a live listener on port 20 is a child: the bound does not apply.
  const l = listen('0.0.0.0', 20);
  const w = verdictOf(classify(snap([l, data])), data.id);
  assert.equal(w.direction, 'INBOUND');
  assert.ok(!rules(w).includes('no-listener'));
  // An outbound lean is held below 0.9: the child of a closed listener inside the ephemeral
  // range, whose client bound a low port, reads exactly like this client.
  const client = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '10.0.0.2', remotePort: 443 });
  const c = verdictOf(classify(snap([client])), client.id);
  assert.equal(c.direction, 'OUTBOUND');
  assert.ok(c.confidence >= 0.85 && c.confidence < 0.9 && rules(c).includes('no-listener'), JSON.stringify(c));
});

test('unseen-listener: a connection born while tcpdir ran, on an endpoint where no listener was ever seen, leans outbound', () => {
  const data = sock({ localAddress: '10.0.0.1', localPort: 20, remoteAddress: '10.0.0.2', remotePort: 50123 });
  const old = sock({ localAddress: '10.0.0.1', localPort: 21, remoteAddress: '10.0.0.2', remotePort: 50124 });
  const base = { pastListeners: new Map(), handshakes: new Map(), since: 1 };
  const history = { ...base, listenersSeen: new Set<string>(), preExisting: new Set([old.id]) };
  const v = classify(snap([data, old], { history }));
  const d = verdictOf(v, data.id);
  assert.equal(d.direction, 'OUTBOUND', JSON.stringify(d));
  assert.ok(rules(d).includes('unseen-listener') && d.confidence < 0.9, JSON.stringify(d));
  // Seen by the first snapshot: it may predate tcpdir, its listener may have closed before.
  assert.ok(!rules(verdictOf(v, old.id)).includes('unseen-listener'));
  // A listener seen on the wildcard of that port (this namespace) silences it ...
  const seen = { ...history, listenersSeen: new Set([pastListenerKey('IPV4', '0.0.0.0', 20)]) };
  assert.ok(!rules(verdictOf(classify(snap([data, old], { history: seen })), data.id)).includes('unseen-listener'));
  // ... one seen in another namespace does not.
  const elsewhere = { ...history, listenersSeen: new Set([pastListenerKey('IPV4', '0.0.0.0', 20, 'net:[1]')]) };
  assert.ok(rules(verdictOf(classify(snap([data, old], { history: elsewhere })), data.id)).includes('unseen-listener'));
  // No memory of listeners (too many to keep, or the first snapshot): silent.
  const none = { ...history, listenersSeen: null };
  assert.ok(!rules(verdictOf(classify(snap([data, old], { history: none })), data.id)).includes('unseen-listener'));
});

test('history keeper: listeners seen since start per namespace, and the first snapshot\'s connections', () => {
  const k = new HistoryKeeper();
  const c1 = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '10.0.0.2', remotePort: 443 });
  const l = { ...listen('0.0.0.0', 8080), netns: 'net:[7]' };
  const first = k.observe(snap([c1, l], { collectedAt: 1000 }));
  assert.equal(first.since ?? null, null);
  const c2 = sock({ localAddress: '10.0.0.1', localPort: 45001, remoteAddress: '10.0.0.2', remotePort: 443 });
  const second = k.observe(snap([c2], { collectedAt: 2000 }));
  assert.equal(second.since, 1000);
  assert.deepEqual([...(second.preExisting ?? [])], [c1.id]);
  assert.ok(second.listenersSeen?.has(pastListenerKey('IPV4', '0.0.0.0', 8080, 'net:[7]')));
  assert.equal(second.preExistingPorts?.[45000], 1);
  assert.equal(second.preExistingPorts?.[45001], 0);
  // c1 has gone: within 64 snapshots it is forgotten; the listener is remembered for good.
  let later = second;
  for (let t = 3; t < 70; t++) later = k.observe(snap([c2], { collectedAt: t * 1000 }));
  assert.deepEqual([...(later.preExisting ?? [])], []);
  assert.equal(later.preExistingPorts?.[45000], 0);
  assert.ok(later.listenersSeen?.has(pastListenerKey('IPV4', '0.0.0.0', 8080, 'net:[7]')));
  // What an earlier snapshot was given does not change afterwards.
  assert.deepEqual([...(second.preExisting ?? [])], [c1.id]);
});

test('with no evidence at all the verdict is UNKNOWN, never a default direction', () => {
  const none = { host: { ephemeralPortRange: null, reservedPorts: [], netns: null } };
  const c = sock({ localAddress: '10.0.0.1', localPort: 5001, remoteAddress: '0.0.0.0', remotePort: 0, state: 'CLOSE' });
  const v = verdictOf(classify(snap([c], none)), c.id);
  assert.deepEqual([v.direction, v.confidence, v.inboundProbability, v.evidence.length], ['UNKNOWN', 0, 0.5, 0]);
  // Weak hints alone do not make a direction either.
  const d = sock({ localAddress: '10.0.0.1', localPort: 5001, remoteAddress: '10.0.0.2', remotePort: 5002 });
  const w = verdictOf(classify(snap([d], none)), d.id);
  assert.deepEqual([w.direction, w.confidence], ['UNKNOWN', 0]);
  assert.ok(w.inboundProbability > 0.25 && w.inboundProbability < 0.75);
});

test('clients sharing a local port towards one service port do not look like a server', () => {
  const a = sock({ localAddress: '10.0.0.1', localPort: 7000, remoteAddress: '10.0.0.2', remotePort: 9000 });
  const b = sock({ localAddress: '10.0.0.1', localPort: 7000, remoteAddress: '10.0.0.3', remotePort: 9000 });
  const v = classify(snap([a, b]));
  assert.ok(!rules(verdictOf(v, a.id)).includes('shared-local-endpoint'));
  const c = sock({ localAddress: '10.0.0.1', localPort: 7000, remoteAddress: '10.0.0.4', remotePort: 50001 });
  assert.ok(rules(verdictOf(classify(snap([a, b, c])), a.id)).includes('shared-local-endpoint'));
});

test('history: a past listener and a handshake seen earlier still count', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 51234 });
  const d = sock({ localAddress: '10.0.0.1', localPort: 40001, remoteAddress: '10.0.0.2', remotePort: 51235 });
  const history = {
    pastListeners: new Map([['IPV4|0.0.0.0|40000', { family: 'IPV4' as const, address: '0.0.0.0', port: 40000, v6only: null, lastSeen: 0 }]]),
    handshakes: new Map([[d.id, { direction: 'INBOUND' as const, state: 'SYN_RECV', seenAt: 0 }]]),
  };
  const v = classify(snap([c, d], { history }));
  assert.equal(verdictOf(v, c.id).direction, 'INBOUND');
  assert.ok(rules(verdictOf(v, c.id)).includes('past-listener'));
  assert.deepEqual([verdictOf(v, d.id).direction, verdictOf(v, d.id).certain], ['INBOUND', true]);
});

test('the process holding both the connection and the listener strengthens inbound', () => {
  const l = listen('0.0.0.0', 9999, { inode: 77 });
  const c = sock({ localAddress: '10.0.0.1', localPort: 9999, remoteAddress: '10.0.0.2', remotePort: 40000, inode: 78 });
  const processes = new Map([[77, [{ pid: 5, command: 'srv' }]], [78, [{ pid: 5, command: 'srv' }]]]);
  const v = verdictOf(classify(snap([l, c], { processes })), c.id);
  assert.ok(rules(v).includes('listener-process'));
});

test('kernel evidence outranks heuristics and settles both ends of a local pair', async () => {
  const { kernelRecord, kernelEvidence } = await import('../helpers/fake-snapshot');
  // An SO_REUSEPORT client bound to a listening port: heuristics would call it inbound.
  const l = listen('127.0.0.1', 9000);
  const client = sock({ localAddress: '127.0.0.1', localPort: 9000, remoteAddress: '127.0.0.1', remotePort: 7000 });
  const server = sock({ localAddress: '127.0.0.1', localPort: 7000, remoteAddress: '127.0.0.1', remotePort: 9000 });
  const heuristic = classify(snap([l, client, server]));
  assert.equal(verdictOf(heuristic, client.id).direction, 'INBOUND');
  const k = kernelEvidence([kernelRecord(client, { explicitPortBind: true })]);
  const v = classify(snap([l, client, server], { kernel: k }));
  const c = verdictOf(v, client.id);
  assert.deepEqual([c.direction, c.certain, c.evidence[0].rule], ['OUTBOUND', true, 'kernel-bindport-lock']);
  const s = verdictOf(v, server.id);
  assert.deepEqual([s.direction, s.certain, s.evidence[0].rule], ['INBOUND', true, 'local-peer']);
  assert.match(s.evidence[0].detail, /kernel says it is outbound/);
});

test('a lone child whose listener closed, on an ephemeral port, is certain with the kernel', async () => {
  const { kernelRecord, kernelEvidence } = await import('../helpers/fake-snapshot');
  const c = sock({ localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 51234 });
  assert.equal(verdictOf(classify(snap([c])), c.id).direction, 'UNKNOWN');
  const v = verdictOf(classify(snap([c], { kernel: kernelEvidence([kernelRecord(c, { acceptBacklogInherited: true, maxAckBacklog: 511 })]) })), c.id);
  assert.deepEqual([v.direction, v.certain, v.evidence[0].rule], ['INBOUND', true, 'kernel-inherited-backlog']);
  // A tracepoint birth beats the iterator's fields.
  const born = kernelEvidence([kernelRecord(c, { acceptBacklogInherited: true })], [[c.cookie!, { transition: 'CLOSE->SYN_SENT', code: transitionCode('CLOSE', 'SYN_SENT'), seenAt: 0 }]]);
  assert.equal(verdictOf(classify(snap([c], { kernel: born })), c.id).evidence[0].rule, 'kernel-birth');
});

test('without kernel evidence every verdict says why, with no weight', () => {
  const c = sock({ localAddress: '10.0.0.1', localPort: 45000, remoteAddress: '10.0.0.2', remotePort: 443 });
  const kernel = { available: false, code: 'EPERM', reason: 'needs CAP_BPF and CAP_PERFMON', records: kernelRecordIndex([]), births: kernelBirthIndex([]), tracepoint: false };
  const v = verdictOf(classify(snap([c], { kernel })), c.id);
  const note = v.evidence.find((e) => e.rule === 'kernel-evidence');
  assert.ok(note && note.weight === 0 && note.favors === 'UNKNOWN' && /EPERM/.test(note.detail));
  assert.equal(v.direction, 'OUTBOUND');
});

test('an SO_REUSEPORT client on a listening port is not called inbound with high confidence', () => {
  const l = listen('0.0.0.0', 8110);
  const child = sock({ localAddress: '10.0.0.1', localPort: 8110, remoteAddress: '10.0.0.2', remotePort: 45000 });
  const client = sock({ localAddress: '10.0.0.1', localPort: 8110, remoteAddress: '10.0.0.2', remotePort: 9014 });
  const v = classify(snap([l, child, client]));
  assert.equal(verdictOf(v, child.id).direction, 'INBOUND');
  assert.ok(verdictOf(v, child.id).confidence >= 0.99);
  const c = verdictOf(v, client.id);
  assert.ok(c.direction !== 'INBOUND' || c.confidence < 0.9, JSON.stringify(c));
});

test('a local pair whose listener is gone, with only port hints either side, stays below 0.85 (the mirror story fits too)', () => {
  // A server accepted on 41000 (inside the ephemeral range) from a client bound to 5555, then its
  // listener closed: the hints say the reverse, and nothing else can tell.
  const srv = sock({ localAddress: '127.0.0.1', localPort: 41000, remoteAddress: '127.0.0.1', remotePort: 5555 });
  const cli = sock({ localAddress: '127.0.0.1', localPort: 5555, remoteAddress: '127.0.0.1', remotePort: 41000 });
  const c = classify(snap([srv, cli]));
  for (const s of [srv, cli]) {
    const v = verdictOf(c, s.id);
    assert.ok(v.confidence <= 0.85, `${s.localPort}: ${v.direction} ${v.confidence}`);
    assert.ok(rules(v).includes('listener-gone'), rules(v).join(','));
    // The probability is still the logistic of the evidence's summed weights.
    const sum = v.evidence.reduce((a, e) => a + (e.favors === 'INBOUND' ? e.weight : -e.weight), 0);
    assert.ok(Math.abs(1 / (1 + Math.exp(-sum)) - v.inboundProbability) < 1e-3, `sum ${sum} vs P(in) ${v.inboundProbability}`);
  }
  // A live listener on either end is structure, not a port hint: the pair is settled as before.
  const live = classify(snap([listen('127.0.0.1', 41000), srv, cli]));
  assert.deepEqual([verdictOf(live, srv.id).direction, verdictOf(live, srv.id).certain], ['INBOUND', true]);
  assert.ok(!rules(verdictOf(live, srv.id)).includes('listener-gone'));
});

test('findByTuple finds a connection in a fresh context, before any rule built the endpoint tables', () => {
  // With kernel evidence every connection can be settled without the tables: the verdict lookup
  // (REST /api/v1/verdict, Query.verdict) must not depend on a rule having built them.
  const c = sock({ localAddress: '127.0.0.1', localPort: 41000, remoteAddress: '127.0.0.1', remotePort: 5555 });
  const ctx = buildContext(snap([c]));
  assert.equal(findByTuple(ctx, '127.0.0.1', 41000, '127.0.0.1', 5555), c);
  assert.equal(findByTuple(ctx, '::ffff:127.0.0.1', 41000, '127.0.0.1', 5555), c, 'IPv4-mapped text finds it too');
  assert.equal(findByTuple(ctx, '127.0.0.1', 5555, '127.0.0.1', 41000), null);
});
