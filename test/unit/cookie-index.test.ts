import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CookieIndex, cookieWords } from '../../src/collectors/cookie-index';
import { KernelBirthStore, KernelRecordTable } from '../../src/collectors/kernel-evidence';
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
    remoteAddress: '127.0.0.1', remotePort: 2,
  });
  const none = KernelRecordTable.empty();
  for (let gen = 0; gen < 20; gen++) {
    const base = gen * 1000;
    s.ingest(Array.from({ length: 500 }, (_, i) => ev(base + i, i % 2 ? 'CLOSE' : 'LISTEN', i % 2 ? 'SYN_SENT' : 'SYN_RECV')), gen * 100);
    assert.equal(s.size, 500, `generation ${gen}: the previous one aged out`);
    assert.equal(s.get(String(base + 1))?.direction, 'OUTBOUND');
    assert.equal(s.get(String(base + 2))?.transition, 'LISTEN->SYN_RECV');
    assert.equal(s.get(String(base - 999)), undefined);
    s.markSeen(none, gen * 100 + 99); // nothing seen: all older than 50 ms go
  }
  assert.equal(s.size, 0);
});
