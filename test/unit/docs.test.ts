import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ruleTableMarkdown } from '../../src/classifier';

// The docs are part of the product: the rule table is the code's, links resolve, the README stays
// a README.
const ROOT = join(__dirname, '..', '..', '..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

test('docs/classifier.md carries the rule table generated from the rule definitions (npm run docs:rules)', () => {
  assert.ok(read('docs/classifier.md').includes(`\n${ruleTableMarkdown()}\n`), 'stale rule table: run npm run docs:rules');
});

test('the README is at most 10,000 characters', () => {
  assert.ok(read('README.md').length <= 10_000, `${read('README.md').length} characters`);
});

test('every relative link in the README and docs/ points at a file that exists', () => {
  for (const doc of DOCS) {
    for (const m of read(doc).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(ROOT, dirname(doc), target)), `${doc} links to ${target}, which does not exist`);
    }
  }
});

test('source comments that cite docs/*.md cite files of this repository', () => {
  const cited = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir))) {
      const p = join(dir, name);
      if (name === 'fixtures') continue; // fixture trees hold dangling symlinks on purpose
      if (statSync(join(ROOT, p)).isDirectory()) {
        if (name !== 'vendor' && name !== 'gen') walk(p);
      } else if (/\.(ts|js|mjs|c|cc|h|sh)$/.test(name)) {
        for (const m of read(p).matchAll(/\bdocs\/([a-z0-9-]+\.md)/g)) cited.add(`${relative(ROOT, join(ROOT, p))} -> docs/${m[1]}`);
      }
    }
  };
  for (const dir of ['src', 'test', 'bench', 'scripts', 'native']) walk(dir);
  assert.ok(cited.size > 0);
  for (const c of cited) {
    const doc = c.split(' -> ')[1];
    assert.ok(existsSync(join(ROOT, doc)), `${c}: no such file`);
  }
});
