import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addressKey, connectionOrder } from '../../src/cli/format';

// `tcpdir list` sorts rows by local address and port, then remote, stably: IPv4 (and v4-mapped
// IPv6) before IPv6, each in numeric order. The reference compares whole string keys.
function reference(rows: { local: { address: string; port: number }; remote: { address: string; port: number } }[]): number[] {
  const key = (a: string, p: number) => `${addressKey(a)}${String(p).padStart(5, '0')}`;
  const keys = rows.map((r) => key(r.local.address, r.local.port) + key(r.remote.address, r.remote.port));
  return rows.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b));
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const address = fc.oneof(
  v4,
  v4.map((a) => `::ffff:${a}`), // the same key as its IPv4 address
  fc.constantFrom('::', '::1', 'fe80::1', 'fe80::1%eth0', '2001:db8::10', '2001:db8:0:0:1::1', '10.0.0.1', '127.0.0.1'),
  fc.ipV6(),
);

test('rows are ordered by local then remote endpoint, numerically, stably', () => {
  // Few addresses (keys packed into one number each) and many (compared pair by pair).
  for (const addresses of [fc.constantFrom('10.0.0.1', '::ffff:10.0.0.1', '::1', '127.0.0.1'), address]) {
    const ep = fc.record({ address: addresses, port: fc.constantFrom(0, 1, 80, 443, 8080, 32768, 65535) });
    fc.assert(fc.property(fc.array(fc.record({ local: ep, remote: ep }), { maxLength: 300 }), (rows) => {
      assert.deepEqual(connectionOrder(rows), reference(rows));
    }), { numRuns: 300 });
  }
  const many = Array.from({ length: 3000 }, (_, i) => ({ local: { address: `10.0.${i >> 8}.${i & 255}`, port: 80 }, remote: { address: '10.1.0.1', port: 3000 - i } }));
  assert.deepEqual(connectionOrder(many), reference(many));
  const ep = (address: string, port: number) => ({ address, port });
  const rows = [
    { local: ep('::1', 80), remote: ep('::1', 1) },
    { local: ep('10.0.0.2', 80), remote: ep('1.1.1.1', 9) },
    { local: ep('9.0.0.1', 443), remote: ep('1.1.1.1', 9) },
    { local: ep('9.0.0.1', 80), remote: ep('::ffff:1.1.1.1', 9) },
    { local: ep('9.0.0.1', 80), remote: ep('1.1.1.1', 9) },
  ];
  assert.deepEqual(connectionOrder(rows), [3, 4, 2, 1, 0]);
});
