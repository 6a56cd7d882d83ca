// OpenRowIds: the history writer's row ids of lives written open, by key; recorder-shaped keys
// held as numbers, any other key as text, with a Map's answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenRowIds } from '../../src/history/open-row-ids';

test('answers as a Map does over random sets and deletes, through growth and shrinking', () => {
  const ids = new OpenRowIds();
  const model = new Map<string, number>();
  let seed = 7;
  const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  // Recorder keys (cookies near each other, a cookie with two first sightings, both prefixes) and
  // texts the table must not take as numbers: leading zeros, 16 digits, signs, other forms.
  const key = (): string => {
    const r = rand(12);
    if (r === 0) return ['k:01:5', 's:1:05', 'k:1234567890123456:1', 'k:-1:5', 'k:1.5:2', 'x:1:2', 'k:1:', 'k::1', 's:tcp 1:3', 'k:1:2:3'][rand(10)];
    return `${r % 2 ? 'k' : 's'}:${rand(3000)}:${1_765_000_000_000 + rand(3)}`;
  };
  for (let step = 0; step < 60_000; step++) {
    const k = key();
    if (step < 30_000 ? rand(3) > 0 : rand(3) === 0) {
      const id = step * 2 ** 20 + 1; // past 2^32 too
      ids.set(k, id);
      model.set(k, id);
    } else {
      ids.delete(k);
      model.delete(k);
    }
    if (step % 997 === 0) {
      assert.equal(ids.size, model.size);
      for (const [mk, mv] of model) assert.equal(ids.get(mk), mv, mk);
    }
    assert.equal(ids.get(k), model.get(k), k);
    assert.equal(ids.has(k), model.has(k));
  }
  assert.deepEqual(ids.keys().sort(), [...model.keys()].sort());
  ids.clear();
  assert.equal(ids.size, 0);
  assert.equal(ids.get('k:1:1765000000000'), undefined);
});

test('a key of the recorder form is held as numbers, and keys() gives back its exact text', () => {
  const ids = new OpenRowIds();
  ids.set('k:18446744:1765000000123', 41);
  ids.set('s:0:0', 42);
  ids.set('s:18446744:1765000000123', 43); // same numbers, other prefix: another key
  assert.equal(ids.get('k:18446744:1765000000123'), 41);
  assert.equal(ids.get('s:18446744:1765000000123'), 43);
  assert.equal(ids.get('k:018446744:1765000000123'), undefined);
  assert.deepEqual(ids.keys().sort(), ['k:18446744:1765000000123', 's:0:0', 's:18446744:1765000000123']);
});
