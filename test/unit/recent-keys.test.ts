// RecentKeys: the recorder's memory of lately closed cookies, kept in two generations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentKeys } from '../../src/history/recent-keys';

test('keeps at least the last capacity/2 keys and at most capacity', () => {
  const k = new RecentKeys(8);
  for (let i = 0; i < 100; i++) {
    k.add(`c${i}`, i);
    assert.ok(k.size <= 8);
    for (let j = Math.max(0, i - 3); j <= i; j++) assert.ok(k.has(`c${j}`), `c${j} after adding c${i}`);
  }
  assert.equal(k.has('c0'), false);
});

test('forgetBefore drops generations whose keys are all older, never a newer key', () => {
  const k = new RecentKeys(8);
  for (let i = 0; i < 6; i++) k.add(`c${i}`, i * 100); // old: c0..c3, young: c4, c5
  k.forgetBefore(350);
  assert.equal(k.has('c0'), false);
  assert.ok(k.has('c4') && k.has('c5'));
  k.forgetBefore(450);
  assert.ok(k.has('c5'), 'a generation holding a key at or after the cut stays');
  k.forgetBefore(501);
  assert.equal(k.size, 0);
  k.add('c9', 900);
  assert.ok(k.has('c9'));
});
