#!/usr/bin/env node
// Links this checkout's own `tcpdir` command into node_modules/.bin, so that `npx tcpdir ...`
// in a checkout runs it (npm links the bins of dependencies there, never the root package's).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const binDir = path.join(root, 'node_modules', '.bin');
const link = path.join(binDir, 'tcpdir');
fs.mkdirSync(binDir, { recursive: true });
fs.rmSync(link, { force: true });
fs.symlinkSync(path.relative(binDir, path.join(root, 'bin', 'tcpdir.js')), link);
