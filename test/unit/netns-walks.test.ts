// When another namespace's last walk may serve again (collectors/netns-walks.ts): the rules on
// their own, without a kernel. test/api/netns-walks.test.ts checks them against real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetnsInfo, Socket } from '../../src/model';
import { NetnsWalks, settled } from '../../src/collectors/netns-walks';
import { listen, sock } from '../helpers/fake-snapshot';

const conn = (state: Socket['state'], inode: number) => sock({ localAddress: '10.0.0.1', localPort: 80, remoteAddress: '10.0.0.2', remotePort: 40000, state, inode });
const info = { id: 'net:[1]', name: null, pids: [], container: null, host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: 'net:[1]' }, source: 'netlink', reason: null, self: false } as Omit<NetnsInfo, 'readAt'>;
const NS = [{ id: 'net:[1]', inode: 1 }];

test('settled: only what changes with a counted state change or SYN-ACK', () => {
  assert.equal(settled([conn('ESTABLISHED', 7), listen('0.0.0.0', 80), conn('FIN_WAIT2', 0), conn('LAST_ACK', 0), conn('CLOSE_WAIT', 9)]), true, 'owned, idle listener, orphans');
  for (const [s, why] of [
    [conn('TIME_WAIT', 0), 'TIME_WAIT expires uncounted'],
    [conn('SYN_RECV', 0), 'a request socket times out uncounted'],
    [conn('ESTABLISHED', 0), 'queued: accept() gives it an inode'],
    [conn('CLOSE_WAIT', 0), 'queued, its peer already closed'],
    [listen('0.0.0.0', 80, { rqueue: 1 }), 'a listener with a queue shortens on accept()'],
  ] as const) assert.equal(settled([conn('ESTABLISHED', 7), s]), false, why);
});

test('a walk serves again only with the same count, settled, whole (iterator read) and young enough', () => {
  const walks = new NetnsWalks(10_000);
  let count = 5;
  const read = () => Float64Array.of(count);
  const first = walks.pass();
  first.begin(NS, read);
  assert.equal(first.unchanged('net:[1]', 1000), null, 'nothing kept yet');
  first.dumped('net:[1]', 1000, info, [conn('ESTABLISHED', 7)]);
  const early = walks.pass();
  early.begin(NS, read);
  assert.equal(early.unchanged('net:[1]', 1500), null, 'its iterator pass is not read yet');
  first.iterated('net:[1]', Buffer.alloc(0));

  const again = walks.pass();
  again.begin(NS, read);
  assert.equal(again.unchanged('net:[1]', 2000)?.walkedAt, 1000);
  assert.ok(again.records('net:[1]'), 'its iterator records come with it');
  assert.equal(again.unchanged('net:[1]', 11_001), null, 'older than maxAgeMs');
  count = 6;
  const changed = walks.pass();
  changed.begin(NS, read);
  assert.equal(changed.unchanged('net:[1]', 2000), null, 'the count moved');
  assert.equal(changed.records('net:[1]'), null);
  // Not counted (no tracepoint): nothing kept, and a dump made then is not kept either.
  const blind = walks.pass();
  blind.begin(NS, () => null);
  assert.equal(blind.unchanged('net:[1]', 2000), null);
  blind.dumped('net:[1]', 2000, info, []);
  blind.iterated('net:[1]', Buffer.alloc(0));
  const after = walks.pass();
  after.begin(NS, () => Float64Array.of(6));
  assert.equal(after.unchanged('net:[1]', 2100), null);
  // A namespace that is gone is forgotten.
  const gone = walks.pass();
  gone.begin([], read);
  const back = walks.pass();
  back.begin(NS, read);
  assert.equal(back.unchanged('net:[1]', 2200), null);
});

test('an unsettled walk is not kept, and overlapping collections keep their own counts', () => {
  const walks = new NetnsWalks();
  let count = 1;
  const read = () => Float64Array.of(count);
  const a = walks.pass();
  a.begin(NS, read); // count 1 read before its walk
  count = 2; // a change lands between a's count and b's
  const b = walks.pass();
  b.begin(NS, read);
  b.dumped('net:[1]', 10, info, [conn('ESTABLISHED', 7)]);
  b.iterated('net:[1]', Buffer.alloc(0));
  a.dumped('net:[1]', 10, info, [conn('ESTABLISHED', 7)]); // stored under count 1: never matches 2 again
  a.iterated('net:[1]', Buffer.alloc(0));
  const c = walks.pass();
  c.begin(NS, read);
  assert.equal(c.unchanged('net:[1]', 20), null, 'the walk stored last claims count 1, which has moved');
  c.dumped('net:[1]', 20, info, [conn('TIME_WAIT', 0)]);
  c.iterated('net:[1]', Buffer.alloc(0));
  const d = walks.pass();
  d.begin(NS, read);
  assert.equal(d.unchanged('net:[1]', 30), null, 'TIME_WAIT in it: walked again');
});
