// `tcpdir explain` on a terminal: evidence sentences wrapped to its width under their rule,
// nothing lost; piped, one whole line per rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { explain, type Row } from '../../src/cli/format';
import { wrap } from '../../src/cli/layout';

const verdict: Row['verdict'] = {
  direction: 'INBOUND', confidence: 1, inboundProbability: 1, certain: true,
  evidence: [
    { rule: 'kernel-shares-listener-bucket', favors: 'INBOUND', weight: 10, detail: "the socket shares a live listener's bind bucket: it is that listener's child" },
    { rule: 'remote-port', favors: 'INBOUND', weight: 1, detail: "the peer's port 47074 is in the range systems give to clients" },
  ],
};

test('explain: at 80 columns every line fits, continuation lines are indented under the rule, and no word is lost', () => {
  const piped = explain('127.0.0.1:8081', '127.0.0.1:47074', verdict);
  const tty = explain('127.0.0.1:8081', '127.0.0.1:47074', verdict, 80);
  assert.ok(piped.split('\n').some((l) => l.length > 80), 'the piped text has long lines (else this test proves nothing)');
  for (const l of tty.split('\n')) assert.ok(l.length <= 80, l);
  assert.match(tty, /\n {6}listener's bind bucket/);
  assert.equal(tty.replace(/\s+/g, ' '), piped.replace(/\s+/g, ' '));
});

test('wrap keeps every word in order, indents later lines, and breaks only at spaces', () => {
  fc.assert(fc.property(fc.array(fc.stringMatching(/^[a-z:']{1,12}$/), { maxLength: 30 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 20, max: 90 }), (words, lead, width) => {
    const line = ' '.repeat(lead) + words.join(' ');
    const out = wrap(line, width, 6);
    assert.equal(out.join(' ').replace(/\s+/g, ' ').trim(), line.replace(/\s+/g, ' ').trim());
    assert.ok(out[0].startsWith(' '.repeat(lead)));
    for (const l of out.slice(1)) assert.ok(l.startsWith('      '), JSON.stringify(out));
    for (const l of out) assert.ok(l.length <= width, JSON.stringify([width, out]));
  }));
});
