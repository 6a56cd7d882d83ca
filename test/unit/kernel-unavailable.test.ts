import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heuristicWarning, kernelUnavailable } from '../../src/collectors/kernel';
import { KernelEvidenceSource } from '../../src/collectors/kernel';

// Each reason kernel evidence can be missing is said as what is missing plus the fix, not as the
// failing call (the addon's message rides along where it helps).
test('every unavailability code is worded as what is missing and what to do', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['NATIVE_UNAVAILABLE', 'native addon tcpdir_kernel is not built: /x/tcpdir_kernel.node does not exist', /eBPF addon is unusable \(.*does not exist\): run `npm ci`/],
    ['EPERM', 'tcpdir_kernel: loading BPF programs needs CAP_BPF', /run it as root/],
    ['ENOBTF', 'tcpdir_kernel: this kernel has no BTF', /CONFIG_DEBUG_INFO_BTF=y/],
    ['KERNEL_TOO_OLD', 'tcpdir_kernel: kernel 5.10.0 is too old', /too old .*5\.10\.0.*Linux 5\.17 or later/],
    ['EVERIFIER', 'tcpdir_kernel: the kernel rejected the programs\nR1 invalid mem access', /refused the eBPF programs.*R1 invalid mem access/],
    ['DISABLED', '', /turned off \(--no-kernel-evidence\)/],
    ['EWHATEVER', 'tcpdir_kernel: something odd', /loading the eBPF programs failed \(EWHATEVER: something odd\)/],
  ];
  for (const [code, raw, want] of cases) {
    const k = kernelUnavailable(code, raw);
    assert.equal(k.available, false);
    assert.equal(k.code, code);
    assert.match(k.reason, want, k.reason);
    assert.match(k.reason, /verdicts are heuristic/);
    assert.doesNotMatch(k.reason, /\n/, 'one line');
    assert.match(heuristicWarning(k), new RegExp(`^tcpdir: warning: no kernel evidence \\(${code}\\): `));
    assert.ok(heuristicWarning(k).length <= 80, heuristicWarning(k));
  }
});

test('an addon that is not built is reported as NATIVE_UNAVAILABLE with the fix', () => {
  const k = KernelEvidenceSource.open({ dir: '/nonexistent' });
  assert.equal(k.available, false);
  if (k.available) return;
  assert.equal(k.code, 'NATIVE_UNAVAILABLE');
  assert.match(k.reason, /not built.*\/nonexistent.*run `npm ci`/);
});
