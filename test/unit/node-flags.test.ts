import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags';

// The server's V8 flags are written in three places a process starts from; they must agree.
const ROOT = join(__dirname, '..', '..', '..');

test('bin/tcpdir.js, npm start and the Dockerfile start node with the server flags', () => {
  const shebang = readFileSync(join(ROOT, 'bin', 'tcpdir.js'), 'utf8').split('\n')[0];
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const entry = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '';
  assert.ok(NODE_FLAGS.length > 0);
  for (const flag of NODE_FLAGS) {
    assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    assert.match(start, new RegExp(`^node ${flag} bin/tcpdir\\.js serve`));
    assert.ok((JSON.parse(entry) as string[]).includes(flag), entry);
  }
});
