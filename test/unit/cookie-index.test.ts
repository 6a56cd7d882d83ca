import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CookieIndex, cookieWords } from '../../src/collectors/buffers/cookie-index';
import { BIRTH_DIRECTION_BY_CODE } from '../../src/classifier';
import { KERNEL_LAYOUT_VERSION, KERNEL_RECORD_SIZE, KernelBirthStore, KernelRecordTable } from '../../src/collectors/kernel';
import { TcpStateCode } from '../../src/model/tcp-state';
import type { KernelEvent } from '../../src/model/kernel';

// Cookies from a small pool (so sets, deletes and re-sets of one key meet), some beyond 2^32.
const cookie = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0, 1, 0xffffffff));
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), c: cookie, v: fc.nat(1_000_000) }),
  fc.record({ kind: fc.constant('delete' as const), c: cookie }),
);

test('CookieIndex answers like a Map through sets, deletes (tombstones) and rehashes', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const idx = new CookieIndex();
      const ref = new Map<string, number>();
      for (const o of ops) {
        const [lo, hi] = o.c;
        const k = `${lo}/${hi}`;
        if (o.kind === 'set') {
          assert.equal(idx.set(lo, hi, o.v), ref.get(k) ?? -1);
          ref.set(k, o.v);
        } else {
          assert.equal(idx.delete(lo, hi), ref.get(k) ?? -1);
          ref.delete(k);
        }
        assert.equal(idx.size, ref.size);
      }
      for (let lo = 0; lo <= 40; lo++) {
        for (const hi of [0, 1, 0xffffffff]) assert.equal(idx.get(lo, hi), ref.get(`${lo}/${hi}`) ?? -1);
      }
      assert.deepEqual([...idx.values()].sort((a, b) => a - b), [...ref.values()].sort((a, b) => a - b));
    }),
  );
});

test('cookieWords reads u64 decimal text exactly, beyond 2^53 too, and refuses anything else', () => {
  const w = { lo: 0, hi: 0 };
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (c) => {
      assert.ok(cookieWords(c.toString(), w));
      assert.equal(BigInt(w.hi) * 2n ** 32n + BigInt(w.lo), c);
    }),
  );
  for (const bad of ['-1', '1.5', 'abc', String(1n << 64n), 'NaN']) assert.equal(cookieWords(bad, w), false, bad);
});

test('KernelBirthStore reuses freed entries: many generations of births, each aged out, stay correct', () => {
  const s = new KernelBirthStore(50);
  const ev = (c: number, oldState: KernelEvent['oldState'], newState: KernelEvent['newState']): KernelEvent => ({
    cookie: String(c), monotonicNs: '0', family: 'IPV4', oldState, newState, localAddress: '127.0.0.1', localPort: 1,
    remoteAddress: '127.0.0.1', remotePort: 2, pid: 0, command: '', netns: 'net:[1]', bytesSent: 0, bytesReceived: 0, retransmits: 0,
  });
  const none = KernelRecordTable.empty();
  for (let gen = 0; gen < 20; gen++) {
    const base = gen * 1000;
    s.ingest(Array.from({ length: 500 }, (_, i) => ev(base + i, i % 2 ? 'CLOSE' : 'LISTEN', i % 2 ? 'SYN_SENT' : 'SYN_RECV')), gen * 100);
    assert.equal(s.size, 500, `generation ${gen}: the previous one aged out`);
    assert.equal(s.get(String(base + 1))?.transition, 'CLOSE->SYN_SENT');
    assert.equal(s.get(String(base + 2))?.transition, 'LISTEN->SYN_RECV');
    assert.equal(s.get(String(base - 999)), undefined);
    s.settle(none, 0, gen * 100 + 99, -Infinity); // nothing seen: all older than 50 ms go
  }
  assert.equal(s.size, 0);
});

test('births marked while a pass streams in are attached without lookups; late and unmarked ones still are, gone ones go', () => {
  const rec = (cookie: number): Buffer => {
    const b = Buffer.alloc(KERNEL_RECORD_SIZE);
    b.writeUInt32LE(cookie, 0);
    b.set([127, 0, 0, 1], 24);
    b.set([127, 0, 0, 1], 40);
    b.writeUInt16LE(40000 + cookie, 68);
    b.writeUInt16LE(80, 70);
    b[72] = 2;
    b[73] = TcpStateCode.ESTABLISHED;
    b[79] = KERNEL_LAYOUT_VERSION;
    return b;
  };
  const ev = (c: number, oldState: KernelEvent['oldState'], newState: KernelEvent['newState']): KernelEvent => ({
    cookie: String(c), monotonicNs: '0', family: 'IPV4', oldState, newState, localAddress: '127.0.0.1', localPort: 1,
    remoteAddress: '127.0.0.1', remotePort: 2, pid: 0, command: '', netns: 'net:[1]', bytesSent: 0, bytesReceived: 0, retransmits: 0,
  });
  const store = new KernelBirthStore();
  store.ingest([ev(1, 'CLOSE', 'SYN_SENT'), ev(2, 'LISTEN', 'SYN_RECV'), ev(9, 'CLOSE', 'SYN_SENT')], 100); // 9: gone
  const table = KernelRecordTable.empty(0, store);
  table.append(Buffer.concat([rec(1), rec(2), rec(3)]));
  store.ingest([ev(3, 'CLOSE', 'SYN_SENT')], 200); // stored after its record came by (drained at the pass's end)
  table.append(rec(4)); // another namespace's pass, appended later
  // Stored after its record came by, with a clock that stepped back: still found (by lookup).
  store.ingest([ev(4, 'LISTEN', 'SYN_RECV')], 90);
  // A later pass (another scan) overwrites the marks of what it saw: those are looked up.
  const later = KernelRecordTable.empty(0, store);
  later.append(rec(2));
  table.attachBirths(store, 300, 150);
  assert.deepEqual([1, 2, 3, 4, 5].map((c) => BIRTH_DIRECTION_BY_CODE[table.births.transition(String(c))]), [-1, 1, -1, 1, 0]);
  assert.equal(table.births.get('2')?.transition, 'LISTEN->SYN_RECV');
  assert.equal(store.get('9'), undefined, 'the birth of a socket no pass saw, stored before the pass, is forgotten');
  assert.equal(store.size, 4);
});
