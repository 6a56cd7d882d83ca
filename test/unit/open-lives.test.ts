// OpenLives: the recorder's open lives as columns indexed by a slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenLives, type OpenFacts } from '../../src/history/open-lives';

const facts = (i: number): OpenFacts => ({
  netns: i % 3 ? `net:[${4026531840 + (i % 3)}]` : null, family: i % 2 ? 'IPV6' : 'IPV4',
  localAddress: `10.0.${i >> 8 & 255}.${i & 255}`, localPort: i % 65536, remoteAddress: i % 2 ? '::1' : '127.0.0.1', remotePort: 65535 - (i % 65536),
  direction: (['INBOUND', 'OUTBOUND', 'UNKNOWN'] as const)[i % 3], confidence: (i % 101) / 100, certain: i % 4 === 0,
  rule: i % 5 ? `rule-${i % 5}` : null, firstSeenAt: 1_765_000_000_000 + i * 0.5, preExisting: i % 6 === 0,
  pid: i % 7 ? 1 + i * 31 : null, command: i % 7 ? `cmd${i % 9}` : null, observedBy: i % 2 ? 'KERNEL' : 'SNAPSHOT',
});

const read = (l: OpenLives, s: number): OpenFacts => ({
  netns: l.netns(s), family: l.family(s), localAddress: l.localAddress(s), localPort: l.localPort(s),
  remoteAddress: l.remoteAddress(s), remotePort: l.remotePort(s), direction: l.direction(s), confidence: l.confidence(s),
  certain: l.certain(s), rule: l.rule(s), firstSeenAt: l.firstSeenAt(s), preExisting: l.preExisting(s), pid: l.pid(s),
  command: l.command(s), observedBy: l.observedBy(s),
});

test('gives back every fact a life was opened with, across growth and reused slots', () => {
  const l = new OpenLives();
  for (let i = 0; i < 5000; i++) l.add(i % 2 ? i : `id${i}`, facts(i), i % 8 === 0, i % 10);
  for (let i = 0; i < 5000; i += 3) l.delete(i % 2 ? i : `id${i}`);
  l.recycle();
  for (let i = 5000; i < 7000; i++) l.add(i, facts(i), false, 0);
  assert.equal(l.size, 5000 - Math.ceil(5000 / 3) + 2000);
  for (let i = 0; i < 7000; i++) {
    const id = i < 5000 && i % 2 === 0 ? `id${i}` : i;
    const s = l.slotOf(id);
    if (i < 5000 && i % 3 === 0) {
      assert.equal(s, -1);
      continue;
    }
    assert.deepEqual(read(l, s), facts(i), `life ${i}`);
    assert.equal(l.id(s), id);
    assert.equal(l.unannounced(s), i < 5000 && i % 8 === 0);
    assert.equal(l.bornIn(s), i < 5000 ? i % 10 : 0);
    assert.equal(l.closed(s), false);
  }
  assert.deepEqual([...l.entries()].slice(0, 2).map(([id]) => id), [1, 'id2'], 'in the order they were opened');
});

test('changes keep the other facts, and a deleted life stays readable until recycle()', () => {
  const l = new OpenLives();
  const s = l.add(42, { ...facts(1), localPort: 0, localAddress: '0.0.0.0', pid: null, command: null }, true, 3);
  l.setLocal(s, '10.1.2.3', 40000);
  l.setProcess(s, 77, 'curl');
  l.setVerdict(s, 'UNKNOWN', 0.25, false, null);
  l.setNetns(s, 'net:[1]');
  l.announced(s);
  l.setBatch(s, 9);
  assert.deepEqual(read(l, s), { ...facts(1), netns: 'net:[1]', localAddress: '10.1.2.3', localPort: 40000, pid: 77, command: 'curl', direction: 'UNKNOWN', confidence: 0.25, certain: false, rule: null });
  assert.equal(l.unannounced(s), false);
  assert.equal(l.batch(s), 9);
  l.delete(42);
  l.setClosed(s);
  assert.equal(l.has(42), false);
  assert.equal(l.localPort(s), 40000);
  assert.equal(l.closed(s), true);
  l.add(43, facts(2), false, 0);
  assert.notEqual(l.slotOf(43), s, 'not reused before recycle()');
  l.recycle();
  assert.equal(l.add(44, facts(3), false, 0), s, 'reused after');
  assert.equal(l.closed(s), false);
});

test('namespaces, rules and commands stay right when their table is rebuilt', () => {
  const l = new OpenLives();
  // 70k different commands opened and closed: past the table's 65,536 it is rebuilt from the open lives.
  const kept: number[] = [];
  for (let i = 0; i < 70_000; i++) {
    const s = l.add(i, { ...facts(i), command: `c${i}`, rule: `r${i % 7}` }, false, 0);
    assert.equal(l.command(s), `c${i}`);
    if (i % 1000 === 0) kept.push(i);
    else {
      l.delete(i);
      if (i % 10 === 0) l.recycle();
    }
  }
  for (const i of kept) {
    const s = l.slotOf(i);
    assert.equal(l.command(s), `c${i}`);
    assert.equal(l.rule(s), `r${i % 7}`);
    assert.equal(l.netns(s), facts(i).netns);
  }
});
