import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The eBPF programs ship as a committed light skeleton (native/kernel/gen/tcpdir.lskel.h), so that
// `npm ci` needs no clang. Editing native/kernel/tcpdir.bpf.c or tcpdir_records.h without running
// scripts/gen-bpf-skeleton.sh would ship stale programs: the header records the sources' hash.
// (CI also rebuilds the programs and compares them: scripts/check-bpf-skeleton.sh.)
const ROOT = join(__dirname, '..', '..', '..');

test('the committed BPF skeleton was generated from the BPF sources as they are now', () => {
  const header = readFileSync(join(ROOT, 'native', 'kernel', 'gen', 'tcpdir.lskel.h'), 'utf8');
  const recorded = /^\/\* sources-sha256: ([0-9a-f]{64}) \*\/$/m.exec(header)?.[1];
  assert.ok(recorded, 'the header names the hash of its sources');
  const now = execFileSync(process.execPath, [join(ROOT, 'scripts', 'bpf-sources-hash.js')], { encoding: 'utf8' });
  assert.equal(now, recorded, 'native/kernel BPF sources changed: run scripts/gen-bpf-skeleton.sh and commit native/kernel/gen/');
});

test('the kernel addon links no libbpf, libelf or zlib: it builds and runs with a C compiler alone', () => {
  const gyp = readFileSync(join(ROOT, 'binding.gyp'), 'utf8');
  assert.doesNotMatch(gyp, /-lbpf|-lelf|-lz\b/);
  const addon = join(ROOT, 'build', 'Release', 'tcpdir_kernel.node');
  const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' });
  assert.doesNotMatch(ldd, /libbpf|libelf|libz/, ldd);
});
