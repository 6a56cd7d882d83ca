import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TupleIndex } from '../../src/classifier/context';

test('TupleIndex answers like a Map of tuples: hits, misses, duplicates as -2, endpoints beyond 2^32', () => {
  let seed = 11;
  const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const n = 20_000;
  const idx = new TupleIndex(n);
  const ref = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    // Few addresses and ports, so tuples repeat; some endpoint numbers far above 2^32.
    const big = rnd(10) === 0 ? 2 ** 40 : 0;
    const local = big + rnd(4) * 65536 + rnd(300);
    const remote = rnd(4) * 65536 + rnd(300);
    const k = `${local},${remote}`;
    ref.set(k, ref.has(k) ? -2 : i);
    idx.add(local, remote, i);
  }
  assert.equal(idx.size, ref.size);
  assert.ok([...ref.values()].includes(-2), 'the input has duplicate tuples');
  for (const [k, v] of ref) {
    const [l, r] = k.split(',').map(Number);
    assert.equal(idx.get(l, r), v, k);
    if (!ref.has(`${r},${l}`)) assert.equal(idx.get(r, l), undefined, `mirror of ${k}`);
  }
  assert.equal(idx.get(5 * 65536, 1), undefined);
  assert.equal(new TupleIndex(0).get(0, 0), undefined);
});
