#!/usr/bin/env node
'use strict';
// Load the sock_diag addon before any thread starts: it caps glibc's malloc arenas (see
// native/sockdiag/addon.cc). A missing addon is reported later, where procfs takes over.
try {
  require('../dist/src/collectors/native').loadSockDiag();
} catch {
  // the collector explains and falls back
}
require('../dist/src/cli/main').main(process.argv);
