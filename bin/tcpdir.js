#!/usr/bin/env -S node --initial-old-space-size=64
'use strict';
// graphql-js checks every instanceof across realms unless NODE_ENV is production (a tenth of a
// large answer's time); tcpdir sets introspection, stack traces and landing page explicitly, so
// nothing else depends on it. Set before anything loads graphql.
process.env.NODE_ENV ??= 'production';
// Load the sock_diag addon before any thread starts: it caps glibc's malloc arenas (see
// native/sockdiag/addon.cc). A missing addon is reported later, where procfs takes over.
try {
  require('../dist/src/collectors/native').loadSockDiag();
} catch {
  // the collector explains and falls back
}
require('../dist/src/cli/main').main(process.argv);
