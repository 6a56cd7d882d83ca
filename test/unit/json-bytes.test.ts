import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonBytes, writeJsonList } from '../../src/server/json-bytes';
import { listRowWriter, rowSelection } from '../../src/server/row-writer';

// `tcpdir list --json` writes its rows as bytes without JSON.stringify; they must be its bytes.
async function listBytes(items: unknown[], write: (v: unknown, out: JsonBytes) => void, chunk: number): Promise<string> {
  const chunks: Buffer[] = [];
  await writeJsonList(items.length, (i, out) => write(items[i], out), async (b) => chunks.push(Buffer.from(b)) > 0, chunk);
  return Buffer.concat(chunks).toString();
}

const leaf = fc.oneof(
  fc.string({ unit: 'binary' }), // any code unit: controls, quotes, backslashes, non-ASCII, lone surrogates
  fc.string(),
  // long enough for the one-copy path (an evidence sentence), with and without escapes
  fc.string({ minLength: 20, maxLength: 200 }),
  fc.string({ unit: 'binary', minLength: 20, maxLength: 200 }),
  fc.integer(),
  fc.double(), // NaN, infinities, -0, tiny and huge
  fc.constantFrom(0x7fffffff, 0x80000000, -1, 2 ** 53, 1e21, 0.1),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);

test('values are written as JSON.stringify writes them in a list, across chunks of any size', async () => {
  await fc.assert(fc.asyncProperty(fc.array(leaf), fc.integer({ min: 1, max: 64 }), async (items, chunk) => {
    assert.equal(await listBytes(items, (v, out) => out.value(v), chunk), `${JSON.stringify(items)}\n`);
  }), { numRuns: 500 });
});

test('a value longer than the chunk grows the buffer', async () => {
  const long = 'é"\n'.repeat(5000) + 'x'.repeat(70_000);
  assert.equal(await listBytes([long, 1, long], (v, out) => out.value(v), 1024), `${JSON.stringify([long, 1, long])}\n`);
});

test('rows are the selection picked from the record and readers, as JSON.stringify gives them', async () => {
  const sel = rowSelection('query { connections { id local { address port } verdict { evidence { rule weight } } processes { pid } } }');
  const readers = { verdict: (c: unknown) => (c as { v: unknown }).v, processes: (c: unknown) => (c as { p: unknown }).p };
  const evidence = fc.record({ rule: leaf, weight: leaf, detail: leaf });
  const row = fc.record({
    id: leaf,
    local: fc.option(fc.record({ address: leaf, port: leaf, extra: leaf }), { nil: undefined }),
    // An item of a list may itself be a list (no document has one; the writer's generic path).
    v: fc.option(fc.record({ evidence: fc.option(fc.array(fc.option(fc.oneof(evidence, fc.array(evidence, { maxLength: 3 })))), { nil: undefined }) })),
    p: fc.array(fc.record({ pid: leaf, command: leaf })),
  });
  await fc.assert(fc.asyncProperty(fc.array(row), async (rows) => {
    type E = { rule: unknown; weight: unknown } | null | E[];
    const cut = (e: unknown): E => (e === null || e === undefined ? null : Array.isArray(e) ? e.map(cut) : { rule: (e as { rule: unknown }).rule ?? null, weight: (e as { weight: unknown }).weight ?? null });
    const want = rows.map((r) => ({
      id: r.id ?? null,
      local: r.local ? { address: r.local.address ?? null, port: r.local.port ?? null } : null,
      verdict: r.v ? { evidence: r.v.evidence ? r.v.evidence.map(cut) : null } : null,
      processes: r.p.map((p) => ({ pid: p.pid ?? null })),
    }));
    const write = listRowWriter(readers as never, sel);
    assert.equal(await listBytes(rows, (r, out) => write(r as never, out), 100), `${JSON.stringify(want)}\n`);
  }), { numRuns: 300 });
});

test('writing stops when the reader has gone', async () => {
  let writes = 0;
  await writeJsonList(10_000, (_, out) => out.value('x'.repeat(100)), async () => ++writes < 2, 1024);
  assert.equal(writes, 2);
});
