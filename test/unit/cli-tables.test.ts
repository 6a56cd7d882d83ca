// `tcpdir namespaces` on a terminal: a row too wide for it loses its REASON column, and the
// reasons follow the table as notes wrapped to the width, nothing lost; piped, one whole line each.
// `tcpdir watch`'s lines are cut to the width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventLine, namespaceTable, type EventLine, type NamespaceRow } from '../../src/cli/format';

const row = (over: Partial<NamespaceRow>): NamespaceRow => ({
  id: 'net:[4026531840]', name: null, pids: [1, 2], container: null, ephemeralPortRange: { low: 32768, high: 60999 },
  ephemeralPortRangeAssumed: false, source: 'NETLINK', reason: null, self: true, connectionCount: 12, listenerCount: 3, ...over,
});
const rows = [
  row({}),
  row({ id: 'net:[4026532177]', self: false, source: 'PROCFS', ephemeralPortRangeAssumed: true, reason: 'no CAP_SYS_ADMIN to enter it; sockets read from /proc/4242/net/tcp{,6}, port range assumed 32768-60999' }),
];

test('namespaces: at 80 columns every line fits and the reasons follow the table whole, each under its id', () => {
  const piped = namespaceTable(rows).split('\n');
  assert.ok(piped.some((l) => l.length > 80), 'the piped table has long lines (else this test proves nothing)');
  assert.match(piped[0], /REASON$/);
  const tty = namespaceTable(rows, { width: 80, color: false }).split('\n');
  for (const l of tty) assert.ok(l.length <= 80, l);
  assert.doesNotMatch(tty[0], /REASON/);
  const notes = tty.slice(tty.indexOf('') + 1);
  assert.match(notes[0], /^net:\[4026532177\]: no CAP_SYS_ADMIN/);
  assert.equal(notes.join(' ').replace(/\s+/g, ' '), `net:[4026532177]: ${rows[1].reason}`);
  assert.ok(tty.some((l) => l.startsWith('net:[4026532177]') && /procfs\s+12$/.test(l)), tty.join('\n'));
});

test('namespaces: a table that fits the terminal keeps its REASON column and has no notes', () => {
  assert.equal(namespaceTable(rows, { width: 400, color: false }), namespaceTable(rows));
});

test('watch: an event line is cut to the terminal width; piped, it is whole, IPv6 endpoints in brackets', () => {
  const e: EventLine = {
    type: 'OPENED', at: '2026-12-06T15:47:17.123Z', direction: 'INBOUND', certain: true, confidence: 1,
    local: { address: '2001:db8::10', port: 8443 }, remote: { address: '2001:db8::20', port: 50123 }, process: { pid: 4242, command: 'a-long-server' },
  };
  const whole = eventLine(e);
  assert.equal(whole, '15:47:17.123 OPENED          INBOUND  certain [2001:db8::10]:8443 <- [2001:db8::20]:50123 a-long-server/4242');
  assert.ok(whole.length > 80);
  const cut = eventLine(e, 80);
  assert.equal(cut.length, 80);
  assert.ok(cut.endsWith('…') && whole.startsWith(cut.slice(0, -1)), cut);
});
