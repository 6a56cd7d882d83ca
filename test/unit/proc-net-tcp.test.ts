import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ProcParseError, parseProcNetTcp, readProcNetTcp } from '../../src/collectors/proc-net-tcp';
import { parsePortRange, parseReservedPorts, readPortRange, readReservedPorts } from '../../src/collectors/port-range';
import { readNetnsId } from '../../src/collectors/netns-id';
import { TCP_STATES, type Socket } from '../../src/model';

// dist/test/unit -> repo root; fixtures are not compiled, read them from the source tree.
const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'proc');

type Row = Pick<Socket, 'family' | 'state' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort' | 'inode' | 'uid'>
  & Partial<Socket>;

interface Case {
  name: string;
  dir: string;
  want?: Row[];
  wantErr?: { file: string; line: number; match: RegExp };
}

const cases: Case[] = [
  {
    name: 'IPv4 listener, established pair, TIME_WAIT; IPv6 wildcard, loopback, v4-mapped, global',
    dir: 'basic',
    want: [
      { family: 'IPV4', state: 'LISTEN', localAddress: '0.0.0.0', localPort: 8080, remoteAddress: '0.0.0.0', remotePort: 0, inode: 1001, uid: 1000, rqueue: 2, wqueue: 0 },
      { family: 'IPV4', state: 'ESTABLISHED', localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '127.0.0.1', remotePort: 54321, inode: 1002, uid: 1000, rqueue: 0x20, wqueue: 0x10, timer: 2, expiresMs: 5000 },
      { family: 'IPV4', state: 'ESTABLISHED', localAddress: '127.0.0.1', localPort: 54321, remoteAddress: '127.0.0.1', remotePort: 8080, inode: 1003, uid: 1000 },
      { family: 'IPV4', state: 'TIME_WAIT', localAddress: '192.0.2.2', localPort: 38822, remoteAddress: '203.0.113.80', remotePort: 80, inode: 0, uid: 0, timer: 3, expiresMs: 31800 },
      { family: 'IPV6', state: 'LISTEN', localAddress: '::', localPort: 80, remoteAddress: '::', remotePort: 0, inode: 2001, uid: 0 },
      { family: 'IPV6', state: 'ESTABLISHED', localAddress: '::1', localPort: 80, remoteAddress: '::1', remotePort: 57586, inode: 2002, uid: 0 },
      { family: 'IPV6', state: 'ESTABLISHED', localAddress: '::ffff:127.0.0.1', localPort: 80, remoteAddress: '::ffff:127.0.0.1', remotePort: 50000, inode: 2003, uid: 33 },
      { family: 'IPV6', state: 'SYN_SENT', localAddress: '2001:db8::1', localPort: 443, remoteAddress: '2001:db8::ab00:fe', remotePort: 40000, inode: 2004, uid: 0, retrans: 3, timer: 1, expiresMs: 1000 },
    ],
  },
  {
    name: 'every TCP state 01..0C',
    dir: 'all-states',
    want: TCP_STATES.slice(1).map((state, i) => ({
      family: 'IPV4' as const, state: state as Socket['state'], localAddress: '127.0.0.1', localPort: 5000,
      remoteAddress: '127.0.0.1', remotePort: 10000 + i, inode: 3000 + i, uid: 0,
    })),
  },
  { name: 'header only, no tcp6', dir: 'empty', want: [] },
  { name: 'garbage row', dir: 'garbage', wantErr: { file: 'net/tcp', line: 3, match: /truncated row|bad / } },
  { name: 'row cut short', dir: 'truncated', wantErr: { file: 'net/tcp6', line: 3, match: /truncated row/ } },
  { name: 'state 0x0D', dir: 'bad-state', wantErr: { file: 'net/tcp', line: 2, match: /unknown TCP state 0x0D/ } },
];

for (const c of cases) {
  test(`readProcNetTcp: ${c.name}`, async () => {
    const root = join(FIXTURES, c.dir);
    if (c.wantErr) {
      const err = await readProcNetTcp(root).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof ProcParseError, `expected ProcParseError, got ${String(err)}`);
      assert.equal(err.file, join(root, c.wantErr.file));
      assert.equal(err.line, c.wantErr.line);
      assert.match(err.message, c.wantErr.match);
      assert.ok(err.message.startsWith(`${join(root, c.wantErr.file)}:${c.wantErr.line}: `), err.message);
      return;
    }
    const got = await readProcNetTcp(root);
    assert.equal(got.length, c.want!.length);
    got.forEach((s, i) => {
      const want = c.want![i];
      for (const k of Object.keys(want) as (keyof Row)[]) assert.equal(s[k], want[k], `row ${i} field ${k}`);
      assert.equal(s.cookie, null);
      assert.equal(s.tcpInfo, null);
      assert.equal(s.v6only, null);
    });
    assert.equal(new Set(got.map((s) => s.id)).size, got.length, 'ids are unique');
  });
}

test('parseProcNetTcp: ids are stable across reads and unique for reuseport listeners', () => {
  const h = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const l = (ino: number) => `   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${ino} 1 0000000000000000 100 0 0 10 0\n`;
  const a = parseProcNetTcp(h + l(7) + l(8), 'IPV4', 'x');
  const b = parseProcNetTcp(h + l(8), 'IPV4', 'x');
  assert.notEqual(a[0].id, a[1].id);
  assert.equal(a[1].id, b[0].id);
});

test('parseProcNetTcp: a file without the header is rejected at line 1', () => {
  assert.throws(() => parseProcNetTcp('garbage\n', 'IPV4', 'f'), (e: unknown) => e instanceof ProcParseError && e.line === 1 && e.file === 'f');
});

test('parseProcNetTcp: every prefix of a valid file parses or fails with ProcParseError', () => {
  const h = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const row = '   0: 0100007F:1F90 0100007F:D431 01 00000010:00000020 02:000001F4 00000000  1000        0 1002 1 0000000000000000 20 4 30 10 -1\n';
  const text = h + row + row.replace('D431', 'D432');
  for (let n = 0; n <= text.length; n++) {
    try {
      parseProcNetTcp(text.slice(0, n), 'IPV4', 'cut');
    } catch (e) {
      assert.ok(e instanceof ProcParseError, `prefix ${n}: ${String(e)}`);
    }
  }
});

test('port range and reserved ports from the fixture tree', async () => {
  const root = join(FIXTURES, 'basic');
  assert.deepEqual(await readPortRange(root), { low: 40000, high: 40100 });
  assert.deepEqual(await readReservedPorts(root), [{ low: 8080, high: 8080 }, { low: 9000, high: 9010 }]);
  assert.deepEqual(await readReservedPorts(join(FIXTURES, 'empty')), []);
  assert.deepEqual(parsePortRange('32768\t60999\n'), { low: 32768, high: 60999 });
  assert.deepEqual(parseReservedPorts(''), []);
  assert.throws(() => parsePortRange('60999 32768\n', 'f'), /f: port range/);
  assert.throws(() => parseReservedPorts('80,x', 'g'), /g: bad port or range "x"/);
});

test('netns id from the fixture link, null when absent; live /proc has one', async () => {
  assert.equal(await readNetnsId(join(FIXTURES, 'basic')), 'net:[4026531840]');
  assert.equal(await readNetnsId(join(FIXTURES, 'empty')), null);
  assert.match((await readNetnsId()) ?? '', /^net:\[\d+\]$/);
});
