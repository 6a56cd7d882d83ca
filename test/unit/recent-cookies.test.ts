// RecentCookies: the recorder's memory of lately closed cookies, numbers in typed-array tables
// (text past 2^53), in two generations as RecentKeys keeps keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentCookies } from '../../src/history/recent-cookies';

test('keeps at least the last capacity/2 cookies and at most capacity, past 2^32 too', () => {
  const k = new RecentCookies(8);
  const cookie = (i: number) => 2 ** 40 + i * 4294967296 + i; // both 32-bit words differ
  for (let i = 0; i < 100; i++) {
    k.add(cookie(i), i);
    assert.ok(k.size <= 8);
    for (let j = Math.max(0, i - 3); j <= i; j++) assert.ok(k.has(cookie(j)), `cookie ${j} after adding ${i}`);
    assert.equal(k.has(cookie(i) + 1), false, 'a neighbour was never added');
  }
  assert.equal(k.has(cookie(0)), false);
  k.add(cookie(99), 99);
  assert.ok(k.has(cookie(99)), 'adding a cookie again keeps it');
});

test('many cookies: every one of the last capacity/2 is found, none of the others', () => {
  const k = new RecentCookies(65_536);
  for (let c = 1; c <= 200_000; c++) k.add(c * 2, c);
  for (let c = 200_000 - 32_767; c <= 200_000; c++) assert.ok(k.has(c * 2));
  for (let c = 1; c <= 200_000; c += 97) assert.equal(k.has(c * 2 + 1), false);
  assert.ok(k.size <= 65_536);
});

test('text cookies (past 2^53) are kept beside the numbers', () => {
  const k = new RecentCookies(8);
  k.add('18446744073709551615', 1);
  k.add(7, 1);
  assert.ok(k.has('18446744073709551615') && k.has(7));
  assert.equal(k.has('7'), false, 'a number and its text are different keys: callers use cookieKey');
  assert.equal(k.size, 2);
});

test('forgetBefore drops generations whose cookies are all older, never a newer one', () => {
  const k = new RecentCookies(8);
  for (let i = 0; i < 6; i++) k.add(i, i * 100); // old: 0..3, young: 4, 5
  k.forgetBefore(350);
  assert.equal(k.has(0), false);
  assert.ok(k.has(4) && k.has(5));
  k.forgetBefore(450);
  assert.ok(k.has(5), 'a generation holding a cookie at or after the cut stays');
  k.forgetBefore(501);
  assert.equal(k.size, 0);
  assert.equal(k.has(5), false);
  k.add(9, 900);
  assert.ok(k.has(9));
});
