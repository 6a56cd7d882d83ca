import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ProcParseError, parseProcNetTcp } from '../../src/collectors/proc-net-tcp';
import { decodeSockDiag, RECORD_SIZE, SockDiagDecodeError } from '../../src/collectors/sockdiag';
import { loadSockDiag } from '../../src/collectors/native';
import { openPair } from '../helpers/sockets';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'proc');
const RUNS = { numRuns: 200 };

/** Runs fn; anything thrown must be an instance of `type`. Returns whether it threw. */
function onlyThrows(type: new (...a: never[]) => Error, fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    assert.ok(e instanceof type, `threw ${(e as Error)?.constructor?.name}: ${String(e)}`);
    assert.ok((e as Error).message.length > 0);
    return true;
  }
}

test('parseProcNetTcp: random text, random bytes as latin1, and truncated real files throw only ProcParseError', () => {
  // The live file can hold tens of thousands of rows on a busy host: its first 40 lines are enough.
  const real4 = readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(0, 40).join('\n');
  const real6 = readFileSync(join(FIXTURES, 'basic', 'net', 'tcp6'), 'latin1');
  const header = real4.slice(0, real4.indexOf('\n') + 1);
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => {
    onlyThrows(ProcParseError, () => parseProcNetTcp(s, 'IPV4', 'fuzz'));
    onlyThrows(ProcParseError, () => parseProcNetTcp(header + s, 'IPV6', 'fuzz'));
  }), RUNS);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
    onlyThrows(ProcParseError, () => parseProcNetTcp(header + Buffer.from(b).toString('latin1'), 'IPV4', 'fuzz'));
  }), RUNS);
  // Cut anywhere, or with one byte flipped: a row is whole and valid, or the error says which.
  fc.assert(fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (cut, at, byte) => {
    for (const [text, fam] of [[real4, 'IPV4'], [real6, 'IPV6']] as const) {
      onlyThrows(ProcParseError, () => parseProcNetTcp(text.slice(0, cut % (text.length + 1)), fam, 'fuzz'));
      const i = at % text.length;
      onlyThrows(ProcParseError, () => parseProcNetTcp(text.slice(0, i) + String.fromCharCode(byte) + text.slice(i + 1), fam, 'fuzz'));
    }
  }), RUNS);
});

test('decodeSockDiag: random bytes, truncated and corrupted real dumps throw only SockDiagDecodeError', async () => {
  const pair = await openPair('127.0.0.1');
  let real: Buffer;
  try {
    // At most 64 records: enough variety, and each run stays cheap on a busy host.
    const all = (await loadSockDiag().dump()).records;
    real = all.subarray(0, Math.min(all.length, 64 * RECORD_SIZE));
  } finally {
    await pair.close();
  }
  assert.ok(real.length >= 2 * RECORD_SIZE);
  assert.equal(decodeSockDiag(real).length, real.length / RECORD_SIZE);
  let threw = 0;
  fc.assert(fc.property(fc.uint8Array({ maxLength: RECORD_SIZE * 4 }), (b) => {
    if (onlyThrows(SockDiagDecodeError, () => decodeSockDiag(Buffer.from(b)))) threw++;
  }), RUNS);
  fc.assert(fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (cut, at, byte) => {
    const n = cut % (real.length + 1);
    const t = onlyThrows(SockDiagDecodeError, () => decodeSockDiag(real.subarray(0, n)));
    assert.equal(t, n % RECORD_SIZE !== 0, `cut at ${n}`);
    const bad = Buffer.from(real);
    bad[at % bad.length] = byte;
    onlyThrows(SockDiagDecodeError, () => decodeSockDiag(bad));
  }), RUNS);
  assert.ok(threw > 0, 'random bytes never rejected: the property did not exercise the error path');
});
