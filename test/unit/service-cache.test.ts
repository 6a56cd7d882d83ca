import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TcpdirService } from '../../src/service';
import { snap, sock } from '../helpers/fake-snapshot';

// The snapshot cache: which requests wait for a collection and which are answered from the last
// snapshot. A fixture collector counts its calls and can be held open.
function counting(holdMs = 0) {
  let calls = 0;
  const collect = async () => {
    const n = ++calls;
    if (holdMs > 0) await sleep(holdMs);
    return snap([sock({ localAddress: '127.0.0.1', localPort: 40000 + n, remoteAddress: '127.0.0.1', remotePort: 80 })], { collectedAt: n });
  };
  return { collect, calls: () => calls };
}

test('maxAgeMs: one collection serves every request within it, concurrent requests share one', async () => {
  const c = counting(20);
  const s = new TcpdirService({ collect: c.collect, maxAgeMs: 60_000, history: false });
  const [a, b] = await Promise.all([s.current(), s.current()]);
  assert.equal(a, b);
  assert.equal(await s.current(), a);
  assert.equal(c.calls(), 1);
});

test('without staleWhileRevalidate a stale snapshot makes the request wait for the next one', async () => {
  const c = counting(30);
  const s = new TcpdirService({ collect: c.collect, maxAgeMs: 20, history: false });
  const first = await s.current();
  await sleep(40);
  const t = performance.now();
  const second = await s.current();
  assert.ok(performance.now() - t >= 25, 'the request waited for the collection');
  assert.notEqual(second, first);
  assert.equal(second.snapshot.collectedAt, 2);
});

test('staleWhileRevalidate: within the grace a stale snapshot answers at once and the next is built behind it', async () => {
  const c = counting(60);
  const s = new TcpdirService({ collect: c.collect, maxAgeMs: 30, staleWhileRevalidate: true, staleGraceMs: 5_000, history: false });
  assert.equal(s.staleGraceMs, 5_000);
  const first = await s.current();
  await sleep(40); // stale, inside the grace
  const t = performance.now();
  const again = await s.current();
  assert.ok(performance.now() - t < 30, 'answered without waiting for the 60 ms collection');
  assert.equal(again, first);
  assert.equal(c.calls(), 2, 'a refresh started in the background');
  await sleep(80);
  const next = await s.current();
  assert.equal(next.snapshot.collectedAt, 2, 'the refreshed snapshot answers once built');
});

test('staleWhileRevalidate: past maxAge + grace (an idle spell) the request waits for a fresh snapshot', async () => {
  const c = counting(30);
  const s = new TcpdirService({ collect: c.collect, maxAgeMs: 10, staleWhileRevalidate: true, staleGraceMs: 10, history: false });
  await s.current();
  await sleep(40); // older than maxAge + grace
  const t = performance.now();
  const v = await s.current();
  assert.ok(performance.now() - t >= 25, 'waited for the collection');
  assert.equal(v.snapshot.collectedAt, 2);
});

test('staleWhileRevalidate does nothing with maxAgeMs 0: every request gets a fresh snapshot', async () => {
  const c = counting();
  const s = new TcpdirService({ collect: c.collect, maxAgeMs: 0, staleWhileRevalidate: true, history: false });
  assert.equal(s.staleGraceMs, 0);
  const a = await s.current();
  const b = await s.current();
  assert.notEqual(a, b);
  assert.equal(b.snapshot.collectedAt, 2);
});

test('staleWhileRevalidate: a failed background refresh is reported to the next request that waits', async () => {
  let calls = 0;
  const s = new TcpdirService({
    collect: async () => {
      calls++;
      if (calls > 1) throw new Error('collector broke');
      return snap([]);
    },
    maxAgeMs: 10, staleWhileRevalidate: true, staleGraceMs: 30, history: false,
  });
  const first = await s.current();
  await sleep(15);
  assert.equal(await s.current(), first, 'stale answer while the refresh (which fails) runs');
  await sleep(40); // past the grace: must wait, and the collector still fails
  await assert.rejects(s.current(), /collector broke/);
});

test('source ebpf without the kernel source refuses to start, saying why', () => {
  assert.throws(() => new TcpdirService({ source: 'ebpf', kernelEvidence: false }), /source ebpf needs the eBPF kernel source, which is unavailable \(DISABLED\)/);
});
