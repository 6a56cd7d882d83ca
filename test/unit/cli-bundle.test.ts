import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `tcpdir list` runs from the bundle the build makes (scripts/build-cli.mjs), the other commands
// from dist/ module by module; the server's modules stay out of the bundle either way.
const ROOT = join(__dirname, '..', '..', '..');

/** The files of dist/src a command loaded (relative to dist/src), the packages it loaded, its exit status. */
function loaded(args: string[]): { files: string[]; packages: string[]; status: number | null; err: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-bundle-'));
  try {
    const hook = join(dir, 'hook.js');
    writeFileSync(hook, `process.on('exit', () => { require('fs').writeFileSync(${JSON.stringify(join(dir, 'out'))}, Object.keys(require.cache).join('\\n')); });`);
    const r = spawnSync(process.execPath, ['-r', hook, 'bin/tcpdir.js', ...args], { cwd: ROOT, encoding: 'utf8' });
    const all: string[] = require('node:fs').readFileSync(join(dir, 'out'), 'utf8').split('\n');
    const files = all.filter((f) => f.includes('/dist/src/')).map((f) => f.slice(f.indexOf('/dist/src/') + 10));
    const packages = [...new Set(all.filter((f) => f.includes('/node_modules/')).map((f) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)![1]))];
    return { files, packages, status: r.status, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('list loads the CLI bundle, not the modules of dist/ nor any package (no GraphQL, Apollo, Fastify, SQLite)', () => {
  const r = loaded(['list', '--json', '--limit', '1', '--no-all-namespaces']);
  assert.equal(r.status, 0, r.err);
  assert.ok(r.files.includes('cli/main.bundle.js'), r.files.join(' '));
  assert.deepEqual(r.files.filter((f) => !['cli/main.bundle.js', 'collectors/native.js'].includes(f)), []);
  assert.deepEqual(r.packages, []);
});

test('other commands load dist/ as compiled; namespaces runs the schema from outside the bundle', () => {
  const r = loaded(['namespaces', '--json']);
  assert.equal(r.status, 0, r.err);
  assert.ok(!r.files.includes('cli/main.bundle.js'));
  assert.ok(r.files.includes('cli/main.js') && r.files.includes('server/schema.js'));
  assert.ok(r.packages.includes('graphql') && r.packages.includes('type-graphql'), r.packages.join(' '));
});
