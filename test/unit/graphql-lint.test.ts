import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { schemaSdl } from '../../src/server/emit-schema';

const ROOT = resolve(__dirname, '..', '..', '..');

/**
 * graphql-schema-linter with the rules in package.json ("graphql-schema-linter": descriptions and
 * naming; not the field-sorting or Relay rules: fields are in reading order, and a Connection here
 * is a TCP connection, not a Relay one).
 */
function lint(sdl: string): { errors: Array<{ message: string; rule: string }> } {
  const r = spawnSync(process.execPath, [resolve(ROOT, 'node_modules/graphql-schema-linter/lib/cli.js'), '--stdin', '--format', 'json', '--config-directory', ROOT], {
    input: sdl, encoding: 'utf8',
  });
  assert.ok(r.stdout.trim().startsWith('{'), `linter said: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as { errors: Array<{ message: string; rule: string }> };
}

test('graphql-schema-linter: the schema passes the description and naming rules', async () => {
  const { errors } = lint(await schemaSdl());
  assert.deepEqual(errors.map((e) => `${e.rule}: ${e.message}`), []);
});

test('graphql-schema-linter: the same rules catch an undescribed field and a badly named one', () => {
  const { errors } = lint('"""Q."""\ntype Query {\n  """Fine."""\n  ok: Int\n  noDescription: Int\n  """Bad name."""\n  bad_name: Int\n}\n');
  assert.deepEqual(errors.map((e) => e.rule).sort(), ['fields-are-camel-cased', 'fields-have-descriptions']);
});
