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
// `list` runs from one bundled file (scripts/build-cli.mjs): a cold start reads one file instead
// of ~100 modules. Only when the bundle is at least as new as the compiled CLI (tsc rewrites
// main.js on every build), so a tree built with tsc alone never runs a stale bundle.
const cli = require('node:path').join(__dirname, '..', 'dist', 'src', 'cli');
require(process.argv[2] === 'list' && bundleIsCurrent() ? `${cli}/main.bundle.js` : `${cli}/main.js`).main(process.argv);

function bundleIsCurrent() {
  const { statSync } = require('node:fs');
  const bundle = statSync(`${cli}/main.bundle.js`, { throwIfNoEntry: false });
  const main = statSync(`${cli}/main.js`, { throwIfNoEntry: false });
  return bundle !== undefined && main !== undefined && bundle.mtimeMs >= main.mtimeMs;
}
