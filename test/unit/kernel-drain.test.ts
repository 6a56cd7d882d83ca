// The kernel source drains tracepoint events into one reused buffer (drainEventsInto), in chunks
// when more are pending than it holds: every event reaches the birth store and the listeners once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelEvidenceSource, type KernelBinding } from '../../src/collectors/kernel';
import { AF_INET, EVT, KERNEL_EVENT_SIZE, KERNEL_LAYOUT_VERSION, KERNEL_RECORD_SIZE } from '../../src/collectors/kernel/layout';
import { TcpStateCode } from '../../src/model/tcp-state';

/** `n` accepted-connection births (LISTEN->SYN_RECV), cookies first, first + 1, ... */
function births(first: number, n: number): Buffer {
  const b = Buffer.alloc(n * KERNEL_EVENT_SIZE);
  for (let i = 0, at = 0; i < n; i++, at += KERNEL_EVENT_SIZE) {
    b.writeUInt32LE(first + i, at + EVT.cookie);
    b[at + EVT.family] = AF_INET;
    b[at + EVT.oldState] = TcpStateCode.LISTEN;
    b[at + EVT.newState] = TcpStateCode.SYN_RECV;
    b[at + EVT.version] = KERNEL_LAYOUT_VERSION;
  }
  return b;
}

test('events pending beyond the drain buffer arrive in chunks, each once, in order', async () => {
  let pending = Buffer.concat([births(1000, 30_000), births(100_000, 15_000)]);
  const calls: number[] = [];
  const binding: KernelBinding = {
    open: () => undefined,
    iterate: async () => Buffer.alloc(0),
    iterateInNetns: async () => Buffer.alloc(0),
    drainEvents: () => assert.fail('drainEventsInto is used when the addon has it'),
    drainEventsInto: (into) => {
      const n = Math.min(pending.length, into.length - (into.length % KERNEL_EVENT_SIZE));
      pending.copy(into, 0, 0, n);
      pending = pending.subarray(n);
      calls.push(n / KERNEL_EVENT_SIZE);
      return n;
    },
    stats: () => null,
    close: () => undefined,
    recordSize: KERNEL_RECORD_SIZE,
    eventSize: KERNEL_EVENT_SIZE,
  };
  const src = KernelEvidenceSource.open({ binding, drainIntervalMs: 0 });
  assert.ok(src.available);
  const cookies: number[] = [];
  src.onEvents((raw) => {
    for (let at = 0; at < raw.length; at += KERNEL_EVENT_SIZE) cookies.push(raw.readUInt32LE(at + EVT.cookie));
  });
  await src.scan();
  assert.ok(calls.length >= 3 && calls.at(-1)! < calls[0], `drained in chunks: ${calls.join(', ')}`);
  assert.equal(cookies.length, 45_000);
  assert.deepEqual(cookies.slice(29_999, 30_001), [30_999, 100_000]);
  assert.ok(cookies.every((c, i) => i === 0 || c > cookies[i - 1]), 'in order, none twice');
  assert.equal(src.births.size, 45_000);
  assert.equal(src.births.get('30999')?.transition, 'LISTEN->SYN_RECV');
  src.close();
});

test('the birth store refuses a drained event with a bad version, family or state, naming its byte', async () => {
  const { KernelBirthStore } = await import('../../src/collectors/kernel/birth-store');
  const { KernelDecodeError } = await import('../../src/collectors/kernel/decode');
  const bad = (field: number, value: number) => {
    const b = births(1, 3);
    b[KERNEL_EVENT_SIZE + field] = value;
    return b;
  };
  for (const [field, value, says] of [[EVT.version, 99, /layout version 99/], [EVT.family, 7, /address family 7/], [EVT.oldState, 0, /TCP state 0/], [EVT.newState, 13, /TCP state 13/]] as const) {
    assert.throws(() => new KernelBirthStore().ingestRaw(bad(field, value), 1), (e: unknown) => e instanceof KernelDecodeError && says.test(e.message) && e.message.includes(`byte ${KERNEL_EVENT_SIZE}`));
  }
  const ok = new KernelBirthStore();
  assert.equal(ok.ingestRaw(births(1, 3), 1), 3);
  assert.equal(ok.size, 3);
});
