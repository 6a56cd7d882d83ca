// ctnetlink decoding over raw replies captured from a real kernel (test/fixtures/conntrack), and
// the conntrack rule over snapshots built from them: which side each socket is, SYN-made vs
// adopted mid-stream, NAT views, namespaces, and the kernel's evidence staying on top.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConntrackParseError, ConntrackReader, parseConntrack, parseConntrackInSlices, type ConntrackBinding } from '../../src/collectors/conntrack';
import { buildContext, classify, conntrackMatch, conntrackOrigin, natOf, unjoinedEntries } from '../../src/classifier';
import { kernelBirthIndex, kernelRecordIndex, transitionCode, type ConntrackEntry, type KernelRecord, type Snapshot, type Socket } from '../../src/model';
import { REPO_ROOT } from '../scenarios/netns';

const fixture = (name: string): Buffer => Buffer.from(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'conntrack', name), 'utf8').replace(/\s+/g, ''), 'hex');

const sock = (id: string, la: string, lp: number, ra: string, rp: number, over: Partial<Socket> = {}): Socket => ({
  id, cookie: id, family: la.includes(':') ? 'IPV6' : 'IPV4', state: 'ESTABLISHED', localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp,
  inode: 1, uid: 0, timer: 0, retrans: 0, expiresMs: 0, rqueue: 0, wqueue: 0, v6only: null, tcpInfo: null, netns: null, ...over,
});

function snapshot(sockets: Socket[], entries: ConntrackEntry[], extra: Partial<Snapshot> = {}): Snapshot {
  return {
    source: 'netlink', fallbackReason: null, collectedAt: 0, durationMs: 0,
    host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: 'net:[1]' },
    sockets, processes: null,
    conntrack: { available: true, code: null, reason: null, entries, namespaces: [], lostEvents: 0 },
    ...extra,
  };
}

test('parses a dump: tuples, NAT, IPv6, state, flags, ids', () => {
  const { entries, created } = parseConntrack(fixture('dump-syn.hex'));
  assert.equal(created.length, 0, 'dump replies are not NEW events');
  assert.equal(entries.length, 3);
  const dnat = entries.find((e) => e.original.dstPort === 80)!;
  assert.deepEqual(dnat.original, { src: '10.9.0.1', dst: '10.9.9.9', srcPort: 51998, dstPort: 80 });
  assert.deepEqual(dnat.reply, { src: '10.9.0.1', dst: '10.9.0.1', srcPort: 8080, dstPort: 51998 });
  assert.equal(dnat.family, 'IPV4');
  assert.equal(dnat.tcpState, 'ESTABLISHED');
  assert.ok(dnat.status & 0x20, 'IPS_DST_NAT');
  assert.ok(dnat.status & 0x4, 'IPS_ASSURED');
  assert.equal(typeof dnat.id, 'number');
  const v6 = entries.find((e) => e.family === 'IPV6')!;
  assert.deepEqual(v6.original, { src: 'fd00:9::1', dst: 'fd00:9::1', srcPort: 49442, dstPort: 7070 });
  for (const e of entries) {
    assert.equal(conntrackOrigin(e), 'syn', `made from a SYN: flags ${e.flagsOriginal}/${e.flagsReply}`);
  }
  assert.deepEqual(natOf(dnat), {
    originalSource: { address: '10.9.0.1', port: 51998 }, originalDestination: { address: '10.9.9.9', port: 80 },
    replySource: { address: '10.9.0.1', port: 8080 }, replyDestination: { address: '10.9.0.1', port: 51998 },
  });
  assert.equal(natOf(v6), null, 'no NAT: mirror tuples');
});

test('an entry adopted mid-stream: server as ORIGINAL, BE_LIBERAL both ways', () => {
  const { entries } = parseConntrack(fixture('dump-midstream.hex'));
  const e = entries.find((x) => x.original.srcPort === 8080 && x.original.dstPort === 38340)!;
  assert.ok(e, 'the re-created entry has the server as ORIGINAL source');
  assert.equal(conntrackOrigin(e), 'mid-stream');
  assert.equal(e.flagsOriginal! & 0x08, 0x08);
  assert.equal(e.flagsReply! & 0x08, 0x08);
});

test('NEW events are flagged created, in state SYN_SENT', () => {
  const { entries, created } = parseConntrack(fixture('events-new.hex'));
  assert.ok(created.length >= 3);
  assert.equal(created.length, entries.length);
  for (const e of created) assert.equal(e.tcpState, 'SYN_SENT');
});

test('malformed input is a ConntrackParseError, never a crash or a silent half-read', () => {
  const good = fixture('dump-syn.hex');
  assert.throws(() => parseConntrack(good.subarray(0, 30)), ConntrackParseError);
  const bad = Buffer.from(good);
  bad.writeUInt16LE(0xfff0, 20); // first attribute's length past the message
  assert.throws(() => parseConntrack(bad), ConntrackParseError);
  assert.deepEqual(parseConntrack(Buffer.alloc(0)).entries, []);
});

const { entries: SYN } = parseConntrack(fixture('dump-syn.hex'));
const { entries: MID } = parseConntrack(fixture('dump-midstream.hex'));

test('each end of a flow is told by its side of the entry, through DNAT', () => {
  const client = sock('c', '10.9.0.1', 51998, '10.9.9.9', 80);
  const backend = sock('s', '10.9.0.1', 8080, '10.9.0.1', 51998);
  const snap = snapshot([client, backend], SYN);
  const v = classify(snap);
  assert.equal(v.get('c')!.direction, 'OUTBOUND');
  assert.equal(v.get('s')!.direction, 'INBOUND');
  const ctx = buildContext(snap);
  assert.equal(conntrackMatch(ctx, backend)!.side, 'reply');
  assert.ok(v.get('s')!.evidence.some((e) => e.rule === 'conntrack' && /made from a SYN/.test(e.detail)));
  // Alone (no peer, no listener), the SYN-made entry is strong but not proof.
  const lone = classify(snapshot([backend], SYN)).get('s')!;
  assert.equal(lone.direction, 'INBOUND');
  assert.equal(lone.certain, false);
  assert.ok(lone.confidence >= 0.9);
});

test('a mid-stream entry gives no weight, only a note', () => {
  const server = sock('s', '10.9.0.1', 8080, '10.9.0.1', 38340);
  const v = classify(snapshot([server], MID)).get('s')!;
  assert.ok(!v.evidence.some((e) => e.rule === 'conntrack' && e.weight > 0));
  const note = v.evidence.find((e) => e.rule === 'conntrack')!;
  assert.equal(note.favors, 'UNKNOWN');
  assert.match(note.detail, /mid-stream/);
  assert.notEqual(v.direction, 'OUTBOUND');
});

test('an entry seen created from a SYN is conclusive', () => {
  const e = { ...SYN.find((x) => x.family === 'IPV6')!, seenCreatedFromSyn: true };
  const server = sock('s', 'fd00:9::1', 7070, 'fd00:9::1', 49442);
  const v = classify(snapshot([server], [e])).get('s')!;
  assert.equal(v.direction, 'INBOUND');
  assert.equal(v.certain, true);
});

test('namespaces: the own entry first; loopback never joined across namespaces', () => {
  const inA = { ...SYN.find((x) => x.original.dstPort === 80)!, netns: 'net:[2]' };
  const loop = sock('l', '127.0.0.1', 5000, '127.0.0.1', 6000, { netns: 'net:[1]' });
  const loopEntry: ConntrackEntry = { ...inA, original: { src: '127.0.0.1', dst: '127.0.0.1', srcPort: 5000, dstPort: 6000 }, reply: { src: '127.0.0.1', dst: '127.0.0.1', srcPort: 6000, dstPort: 5000 } };
  const client = sock('c', '10.9.0.1', 51998, '10.9.9.9', 80, { netns: 'net:[1]' });
  const snap = snapshot([client, loop], [inA, loopEntry], {
    namespaces: [
      { id: 'net:[1]', name: null, pids: [], container: null, host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: 'net:[1]' }, source: 'netlink', reason: null, self: true },
      { id: 'net:[2]', name: 'r', pids: [], container: null, host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: 'net:[2]' }, source: 'netlink', reason: null, self: false },
    ],
  });
  const ctx = buildContext(snap);
  const m = conntrackMatch(ctx, client)!;
  assert.equal(m.crossNamespace, true);
  assert.equal(m.side, 'original');
  assert.equal(conntrackMatch(ctx, loop), null, "another namespace's 127.0.0.1 is another host");
  assert.deepEqual(unjoinedEntries(ctx), [loopEntry]);
});

test('candidates that disagree on the side decide nothing', () => {
  const e = SYN.find((x) => x.original.dstPort === 7070)!;
  const mirror: ConntrackEntry = { ...e, zone: 1, original: e.reply, reply: e.original };
  const server = sock('s', 'fd00:9::1', 7070, 'fd00:9::1', 49442);
  assert.equal(conntrackMatch(buildContext(snapshot([server], [e, mirror])), server), null);
});

test("the kernel's evidence stays on top; a disagreement is said, not weighed", () => {
  const e = SYN.find((x) => x.family === 'IPV6')!;
  // conntrack says this socket (the 7070 end) answered; the kernel's birth says it connected.
  const s = sock('s', 'fd00:9::1', 7070, 'fd00:9::1', 49442);
  const rec: KernelRecord = {
    cookie: 's', family: 'IPV6', state: 'ESTABLISHED', localAddress: s.localAddress, localPort: 7070, remoteAddress: s.remoteAddress, remotePort: 49442,
    inode: 1, uid: 0, userLocks: 0, connectBind: false, portAllocatedByConnect: false, bucketRead: true, twConnectBind: null, connectChosePort: false,
    explicitPortBind: false, explicitAddressBind: false, sharesListenerPort: false, sharedListenerCookie: null, maxAckBacklog: 0, acceptBacklogInherited: false, listenerCookie: null,
  };
  const kernel = {
    available: true, code: null, reason: null, tracepoint: true, records: kernelRecordIndex([rec]),
    births: kernelBirthIndex([['s', { transition: 'CLOSE->SYN_SENT', code: transitionCode('CLOSE', 'SYN_SENT'), seenAt: 0 }]]),
  };
  for (const entry of [e, { ...e, seenCreatedFromSyn: true }]) {
    const v = classify(snapshot([s], [entry], { kernel })).get('s')!;
    assert.equal(v.direction, 'OUTBOUND');
    assert.equal(v.certain, true);
    assert.equal(v.confidence, 1);
    const ct = v.evidence.find((x) => x.rule === 'conntrack')!;
    assert.match(ct.detail, /DISAGREES with the kernel/);
  }
});

test('the reader: NEW events drained before the dump mark entries created; EPERM is a status', async () => {
  const events = fixture('events-new.hex');
  const dump = fixture('dump-syn.hex');
  let drained = 0;
  const binding: ConntrackBinding = {
    conntrackDump: async (t) => t.map(() => ({ messages: dump })),
    conntrackSubscribe: async () => ({ fd: -1 }),
    conntrackDrain: async () => ({ messages: drained++ === 0 ? events : Buffer.alloc(0), overflowed: false }),
  };
  const r = ConntrackReader.withBinding(binding);
  let subscribed = 0;
  const sub = binding.conntrackSubscribe;
  binding.conntrackSubscribe = (t) => (subscribed++, sub(t));
  const first = await r.read([{ netns: null, path: null }]);
  assert.equal(subscribed, 0, 'no subscription before a dump showed the namespace tracks anything');
  assert.equal(first.namespaces[0].events, false);
  const second = await r.read([{ netns: null, path: null }]);
  assert.equal(subscribed, 1);
  assert.equal(second.entries.filter((e) => e.seenCreatedFromSyn).length, 0, 'subscribed only now');
  const third = await r.read([{ netns: null, path: null }]);
  assert.equal(third.entries.filter((e) => e.seenCreatedFromSyn).length, 3);
  assert.equal(third.namespaces[0].events, true);
  const denied = ConntrackReader.withBinding({
    conntrackDump: async (t) => t.map(() => ({ error: { code: 'EPERM', errno: -1, syscall: 'ctnetlink dump', message: 'ctnetlink dump: Operation not permitted (EPERM)' }, vanished: false })),
    conntrackSubscribe: async () => ({ error: { code: 'EPERM', message: 'bind' }, vanished: false }),
    conntrackDrain: async () => ({ messages: Buffer.alloc(0) }),
  });
  const d = await denied.read([{ netns: null, path: null }]);
  assert.equal(d.available, false);
  assert.equal(d.code, 'EPERM');
  assert.match(d.reason!, /CAP_NET_ADMIN/);
});

test('fuzz: any bytes, or a captured reply with bytes changed, parse or raise ConntrackParseError', () => {
  const base = fixture('dump-syn.hex');
  const onlyParseErrors = (b: Buffer) => {
    try {
      parseConntrack(b);
    } catch (e) {
      if (!(e instanceof ConntrackParseError)) throw e;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (a) => onlyParseErrors(Buffer.from(a))), { numRuns: 2000 });
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
    const b = Buffer.from(base);
    for (const [at, v] of edits) b[at] = v;
    onlyParseErrors(b);
  }), { numRuns: 3000 });
});

test('the reader never rejects: a failing addon call is an unavailable status', async () => {
  const r = ConntrackReader.withBinding({
    conntrackDump: async () => { throw new Error('boom'); },
    conntrackSubscribe: async () => ({ fd: -1 }),
    conntrackDrain: async () => ({ messages: Buffer.alloc(0) }),
  });
  const ev = await r.read([{ netns: null, path: null }]);
  assert.equal(ev.available, false);
  assert.equal(ev.code, 'EREAD');
  assert.match(ev.reason!, /boom/);
});

test('parsing in slices gives the entries parseConntrack gives, with turns of the event loop between slices', async () => {
  const one = Buffer.concat([fixture('dump-syn.hex'), fixture('events-new.hex')]);
  const big = Buffer.concat(Array.from({ length: 50 }, () => one));
  const whole = parseConntrack(big, 'net:[7]');
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const sliced = await parseConntrackInSlices(big, 'net:[7]', 7);
  clearInterval(ticker);
  assert.deepEqual(sliced, whole);
  assert.ok(whole.entries.length >= 300 && whole.created.length > 0, `${whole.entries.length} entries`);
  assert.ok(turns > 0, 'the event loop ran between slices');
  // A truncated message is the same error either way.
  const cut = big.subarray(0, big.length - 10);
  assert.throws(() => parseConntrack(cut), ConntrackParseError);
  await assert.rejects(parseConntrackInSlices(cut, null, 7), ConntrackParseError);
});
