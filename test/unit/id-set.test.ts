import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdSet } from '../../src/service/id-set';

test('IdSet holds cookies as numbers and any other id as text, with Set semantics', () => {
  const ids = ['18446744073709551615', '4096', '12', '0', '007', 'tcp:127.0.0.1:80-127.0.0.1:5000', '4096', '9007199254740993', ''];
  const s = new IdSet(ids);
  const want = new Set(ids);
  assert.equal(s.size, want.size);
  for (const id of [...ids, '13', '7', '00', '4095', '18446744073709551614', 'tcp:127.0.0.1:80-127.0.0.1:5001', '1e3', '4096 ']) {
    assert.equal(s.has(id), want.has(id), id);
  }
  assert.deepEqual([...s].sort(), [...want].sort());
  assert.equal(new IdSet([]).has('1'), false);
});

test('IdSet finds every member of a large set and nothing else', () => {
  const ids = Array.from({ length: 5000 }, (_, i) => String(1_000_000 + i * 7));
  const s = new IdSet(ids.slice().reverse());
  for (const id of ids) assert.ok(s.has(id), id);
  for (let i = 0; i < 5000; i++) assert.equal(s.has(String(1_000_001 + i * 7)), false);
});
