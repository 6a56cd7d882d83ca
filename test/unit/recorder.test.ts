// The recorder alone, with a store that keeps what it is given: which lives a snapshot may
// close by their absence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder, type ConnectionLife, type HistoryStore, type ObservedConnection } from '../../src/history';
import type { KernelEvent } from '../../src/model';

function recorder(): { r: Recorder; written: ConnectionLife[] } {
  const written: ConnectionLife[] = [];
  const store = { write: (lives: readonly ConnectionLife[]) => void written.push(...lives), drain: async () => undefined } as unknown as HistoryStore;
  return { r: new Recorder({ store, mode: 'KERNEL', intervalMs: 5000, now: () => 1_000_000 }), written };
}

/** A KERNEL-mode Recorder over a real in-memory store (options added to `extra`), closed after `fn`. */
async function withStore(fn: (r: Recorder, store: HistoryStore) => void | Promise<void>, extra: Partial<Parameters<typeof HistoryStore.open>[0]> = {}): Promise<void> {
  const { HistoryStore: Store } = await import('../../src/history');
  const store = Store.open({ path: ':memory:', pruneMs: 1e9, ...extra });
  try {
    await fn(new Recorder({ store, mode: 'KERNEL', intervalMs: 5000, now: () => 1_000_000 }), store);
  } finally {
    store.close();
  }
}

function event(cookie: string, oldState: KernelEvent['oldState'], newState: KernelEvent['newState'], netns: string, ms: number): KernelEvent {
  return {
    cookie, monotonicNs: String(ms * 1e6), family: 'IPV4', oldState, newState, localAddress: '10.0.0.1', localPort: 40000,
    remoteAddress: '10.0.0.2', remotePort: 443, pid: 7, command: 'curl', netns, bytesSent: 0, bytesReceived: 0, retransmits: 0,
  };
}

const conn = (cookie: string, netns: string): ObservedConnection => ({
  id: cookie, cookie, netns, family: 'IPV4', localAddress: '10.0.0.1', localPort: 40000, remoteAddress: '10.0.0.2', remotePort: 443,
  state: 'ESTABLISHED', owned: true, direction: 'OUTBOUND', confidence: 1, certain: true, rule: () => 'kernel-birth', process: () => null,
});

test('a snapshot closes a kernel life by its absence only in a namespace it lists in full by cookie', () => {
  const { r, written } = recorder();
  r.observe({ at: 0, connections: [], covered: new Set(['net:[1]']) }); // the first: nothing pre-existing
  r.ingest([event('11', 'CLOSE', 'SYN_SENT', 'net:[1]', 10), event('11', 'SYN_SENT', 'ESTABLISHED', 'net:[1]', 11)], 0);
  r.ingest([event('22', 'CLOSE', 'SYN_SENT', 'net:[2]', 10), event('22', 'SYN_SENT', 'ESTABLISHED', 'net:[2]', 11)], 0);
  // A later snapshot lists neither socket, and covers only net:[1] (net:[2] read from procfs, or not at all).
  r.observe({ at: 5000, connections: [], covered: new Set(['net:[1]']) });
  const closed = written.filter((l) => l.closedAt !== null).map((l) => l.key.split(':')[1]);
  assert.deepEqual(closed, ['11'], 'only the life in the covered namespace is judged gone');
  assert.equal(r.status().open, 1);
  // Its own CLOSE event still closes the other one, with the kernel's time.
  r.ingest([event('22', 'ESTABLISHED', 'CLOSE', 'net:[2]', 6000)], 0);
  assert.deepEqual(written.filter((l) => l.closedAt !== null).map((l) => [l.key.split(':')[1], l.closedAt]), [['11', 5000], ['22', 6000]]);
});

test('a socket the snapshot still lists is not closed, and a life born after the snapshot began is left alone', () => {
  const { r, written } = recorder();
  r.observe({ at: 0, connections: [], covered: new Set(['net:[1]']) });
  r.ingest([event('31', 'CLOSE', 'SYN_SENT', 'net:[1]', 100), event('32', 'CLOSE', 'SYN_SENT', 'net:[1]', 4900)], 0);
  r.observe({ at: 5000, connections: [conn('31', 'net:[1]')], covered: new Set(['net:[1]']) });
  assert.equal(written.filter((l) => l.closedAt !== null).length, 0);
});

test('owners are wanted only for a socket the recorder would open a life for, or whose life has no process yet', () => {
  const { r } = recorder();
  r.observe({ at: 0, connections: [], covered: new Set(['net:[1]']) });
  r.ingest([event('41', 'CLOSE', 'SYN_SENT', 'net:[1]', 10)], 0); // connect(): curl, pid 7
  r.ingest([event('42', 'LISTEN', 'SYN_RECV', 'net:[1]', 10)], 0); // accepted: no process in the event
  assert.equal(r.wantsOwners([conn('41', 'net:[1]')]), false, 'its life names curl already');
  assert.equal(r.wantsOwners([conn('42', 'net:[1]')]), true, 'an accepted socket has no process yet');
  assert.equal(r.wantsOwners([conn('43', 'net:[1]')]), true, 'a socket without a life');
  assert.equal(r.wantsOwners([{ ...conn('43', 'net:[1]'), owned: false }]), false, 'no inode: nobody to find');
});

test('a look in slices: kernel events between slices neither reopen a closed life nor let the look close a new one', async () => {
  const { r, written } = recorder();
  r.observe({ at: 0, connections: [], covered: new Set(['net:[1]']) });
  // 51 and 52 live before the snapshot at 5000; 52 closes while the look is between slices; 53 is born then.
  r.ingest([event('51', 'CLOSE', 'SYN_SENT', 'net:[1]', 100), event('52', 'CLOSE', 'SYN_SENT', 'net:[1]', 100)], 0);
  const connections = [conn('51', 'net:[1]'), conn('x1', 'net:[1]'), conn('52', 'net:[1]')];
  let turns = 0;
  const look = r.observeInSlices({ at: 5000, connections, covered: new Set(['net:[1]']) }, 1, () => {
    if (turns++ === 0) {
      r.ingest([event('52', 'ESTABLISHED', 'CLOSE', 'net:[1]', 5001)], 0);
      r.ingest([event('53', 'CLOSE', 'SYN_SENT', 'net:[1]', 5002)], 0);
    }
    return false;
  });
  await look;
  assert.ok(turns >= 2, 'the look gave the event loop turns');
  const lives = (cookie: string) => written.filter((l) => l.key.split(':')[1] === cookie);
  assert.deepEqual(lives('52').filter((l) => l.closedAt !== null).map((l) => l.closedAt), [5001], 'closed once, by its CLOSE event');
  assert.equal(lives('52').filter((l) => l.closedAt === null && l.observedBy === 'SNAPSHOT').length, 0, 'not reopened as pre-existing');
  assert.equal(lives('53').filter((l) => l.closedAt !== null).length, 0, 'born after the snapshot began: not judged gone');
  assert.equal(lives('x1').length, 1, 'a socket the kernel never reported is recorded as pre-existing');
  assert.equal(r.status().open, 3); // 51, x1 and 53
});

test('a look abandoned by stop() writes nothing', async () => {
  const { r, written } = recorder();
  r.observe({ at: 0, connections: [], covered: new Set(['net:[1]']) });
  await r.observeInSlices({ at: 5000, connections: [conn('61', 'net:[1]'), conn('62', 'net:[1]')], covered: new Set(['net:[1]']) }, 1, () => true);
  assert.equal(written.length, 0);
});

test('a first snapshot with more pre-existing connections than the store queues at once stores every one, none dropped', async () => {
  // A bound of 1,000 queued lives, a look at 5,000 connections in slices of 200.
  await withStore(async (r, store) => {
    const connections = Array.from({ length: 5000 }, (_, i) => ({ ...conn(String(100 + i), 'net:[1]'), localPort: 1024 + i }));
    await r.observeInSlices({ at: 1000, connections, covered: new Set(['net:[1]']) }, 200);
    store.flush();
    const st = store.status();
    assert.equal(st.droppedWrites, 0, 'none dropped at the bound');
    assert.equal(st.records, 5000);
    assert.equal(store.query({ open: true }, { limit: 10_000 }).lives.length, 5000);
  }, { maxQueue: 1000, maxBatch: 100, flushBudgetMs: 5 });
});

test('a life born and closed within one batch is stored once, closed, under its key; counters get its direction', async () => {
  await withStore((r, store) => {
    const told: string[] = [];
    r.tally((type, direction, n) => told.push(`${type} ${direction} ${n}`));
    const connect = { ...event('71', 'CLOSE', 'SYN_SENT', 'net:[1]', 10), localAddress: '0.0.0.0', localPort: 0 };
    const close = { ...event('71', 'ESTABLISHED', 'CLOSE', 'net:[1]', 14), bytesSent: 120, bytesReceived: 4000, retransmits: 1 };
    r.ingest([connect, event('71', 'SYN_SENT', 'ESTABLISHED', 'net:[1]', 11), close], 0);
    assert.deepEqual(told.sort(), ['CLOSED OUTBOUND 1', 'OPENED OUTBOUND 1']);
    store.flush();
    const lives = store.query({}, { limit: 10 }).lives;
    assert.equal(lives.length, 1);
    const l = lives[0];
    assert.deepEqual(
      [l.key, l.openedAt, l.closedAt, l.localAddress, l.localPort, l.remotePort, l.direction, l.certain, l.pid, l.command, l.bytesSent, l.bytesReceived, l.retransmits, l.netns],
      ['k:71:10', 10, 14, '10.0.0.1', 40000, 443, 'OUTBOUND', true, 7, 'curl', 120, 4000, 1, 'net:[1]'],
    );
    assert.equal(r.status().open, 0);
    // A snapshot that still lists the socket (taken before the close was drained) does not reopen it.
    r.observe({ at: 20, connections: [conn('71', 'net:[1]')], covered: new Set(['net:[1]']) });
    store.flush();
    assert.equal(store.status().records, 1);
  });
});

test('a cookie connected again within one batch has both lives recorded', async () => {
  await withStore((r, store) => {
    r.ingest([
      event('81', 'CLOSE', 'SYN_SENT', 'net:[1]', 10), event('81', 'SYN_SENT', 'CLOSE', 'net:[1]', 12),
      event('81', 'CLOSE', 'SYN_SENT', 'net:[1]', 20), event('81', 'ESTABLISHED', 'CLOSE', 'net:[1]', 25),
      event('82', 'CLOSE', 'SYN_SENT', 'net:[1]', 30), // still open at the end of the batch
    ], 0);
    store.flush();
    const lives = store.query({}, { limit: 10 }).lives.map((l) => [l.key, l.closedAt]);
    assert.deepEqual(lives, [['k:82:30', null], ['k:81:20', 25], ['k:81:10', 12]]);
    // Its close in a later batch updates the life written open.
    r.ingest([event('82', 'ESTABLISHED', 'CLOSE', 'net:[1]', 40)], 0);
    store.flush();
    assert.deepEqual(store.query({}, { limit: 10 }).lives.map((l) => [l.key, l.closedAt]), [['k:82:30', 40], ['k:81:20', 25], ['k:81:10', 12]]);
    assert.equal(store.status().records, 3);
  });
});
