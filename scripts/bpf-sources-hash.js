#!/usr/bin/env node
// Prints the sha256 of the BPF sources the committed skeleton is built from (their bytes in a
// fixed order, each preceded by its path and length). Recorded in native/kernel/gen/tcpdir.lskel.h
// by gen-bpf-skeleton.sh; a unit test fails when the sources change without a regenerated header.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const SOURCES = ['native/kernel/tcpdir.bpf.c', 'native/kernel/tcpdir_records.h'];
const root = join(__dirname, '..');
const h = createHash('sha256');
for (const rel of SOURCES) {
  const bytes = readFileSync(join(root, rel));
  h.update(`${rel}\n${bytes.length}\n`);
  h.update(bytes);
}
process.stdout.write(h.digest('hex'));
