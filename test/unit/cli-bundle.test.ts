import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `tcpdir list` runs from the bundle the build makes (scripts/build-cli.mjs), the other commands
// from dist/ module by module; the server's modules stay out of the bundle either way.
const ROOT = join(__dirname, '..', '..', '..');

/** The files of dist/src a command loaded, relative to dist/src, and its exit status. */
function loaded(args: string[]): { files: string[]; status: number | null; err: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-bundle-'));
  try {
    const hook = join(dir, 'hook.js');
    writeFileSync(hook, `process.on('exit', () => { require('fs').writeFileSync(${JSON.stringify(join(dir, 'out'))}, Object.keys(require.cache).join('\\n')); });`);
    const r = spawnSync(process.execPath, ['-r', hook, 'bin/tcpdir.js', ...args], { cwd: ROOT, encoding: 'utf8' });
    const files = require('node:fs').readFileSync(join(dir, 'out'), 'utf8').split('\n')
      .filter((f: string) => f.includes('/dist/src/')).map((f: string) => f.slice(f.indexOf('/dist/src/') + 10));
    return { files, status: r.status, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('list loads the CLI bundle, not the modules of dist/', () => {
  const r = loaded(['list', '--json', '--limit', '1', '--no-all-namespaces']);
  assert.equal(r.status, 0, r.err);
  assert.ok(r.files.includes('cli/main.bundle.js'), r.files.join(' '));
  assert.deepEqual(r.files.filter((f) => !['cli/main.bundle.js', 'collectors/native.js'].includes(f)), []);
});

test('other commands load dist/ as compiled; namespaces runs the schema from outside the bundle', () => {
  const r = loaded(['namespaces', '--json']);
  assert.equal(r.status, 0, r.err);
  assert.ok(!r.files.includes('cli/main.bundle.js'));
  assert.ok(r.files.includes('cli/main.js') && r.files.includes('server/schema.js'));
});
