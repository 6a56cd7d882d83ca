#!/usr/bin/env node
// Prints 1 when the eBPF build toolchain is present (clang, llvm-strip, bpftool, libbpf and
// libelf headers), else 0 with the reason on stderr. binding.gyp builds the tcpdir_kernel
// target only on 1, so `npm ci` still succeeds without the toolchain.
// TCPDIR_NO_BPF=1 forces 0.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return null;
}

const missing = [];
if (process.env.TCPDIR_NO_BPF === '1') missing.push('TCPDIR_NO_BPF=1');
for (const tool of ['clang', 'llvm-strip', 'bpftool']) if (!which(tool)) missing.push(tool);
if (!existsSync('/usr/include/bpf/libbpf.h')) missing.push('libbpf headers (libbpf-dev)');
if (!existsSync('/usr/include/libelf.h') && !existsSync('/usr/include/elfutils/libelf.h')) {
  missing.push('libelf headers (libelf-dev)');
}
if (missing.length === 0) {
  // bpftool may be a Debian wrapper that exits non-zero when no kernel-specific binary exists.
  try {
    execFileSync(which('bpftool'), ['version'], { stdio: 'ignore' });
  } catch {
    missing.push('a working bpftool');
  }
}
if (missing.length) {
  process.stderr.write(
    `tcpdir: skipping the eBPF addon (tcpdir_kernel): missing ${missing.join(', ')}. ` +
      'Run scripts/install-bpf-deps.sh to build it; tcpdir works without it.\n',
  );
  process.stdout.write('0');
} else {
  process.stdout.write('1');
}
