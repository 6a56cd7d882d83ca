import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import { DOCUMENTS } from '../../src/server/documents';
import { LIMIT_VAR, OFFSET_VAR, planPagedQuery } from '../../src/server/graphql-paging';
import { tcpdirSchema } from '../../src/server';

test('planPagedQuery takes big `connections` fields among plain top-level fields and leaves everything else to Apollo', () => {
  const plan = planPagedQuery({ query: DOCUMENTS.connections, variables: { port: 80, limit: 50_000, offset: 10 } });
  assert.ok(plan);
  assert.deepEqual([plan.lists.length, plan.lists[0].key, plan.lists[0].limit, plan.lists[0].offset, plan.operationName], [1, 'connections', 50_000, 10, 'Connections']);
  const op = parse(plan.lists[0].query).definitions[0];
  assert.ok(op.kind === 'OperationDefinition');
  // $limit and $offset only fed the paged arguments: their definitions go (validation rejects unused ones).
  assert.deepEqual(op.variableDefinitions?.map((d) => d.variable.name.value).filter((n) => /imit|ffset/.test(n)), [LIMIT_VAR, OFFSET_VAR]);
  assert.match(plan.lists[0].query, /port: \$port/);

  const lit = planPagedQuery({ query: '{ rows: connections(minConfidence: 0.9, limit: 2000) { id } }' });
  assert.deepEqual([lit?.lists[0].key, lit?.lists[0].limit, lit?.lists[0].offset], ['rows', 2000, 0]);
  const dflt = planPagedQuery({ query: 'query Q($n: Int = 3000) { connections(limit: $n) { id } }' });
  assert.equal(dflt?.lists[0].limit, 3000);

  for (const [why, body] of [
    ['default limit (one page)', { query: '{ connections { id } }' }],
    ['a fragment spread at the top', { query: '{ connections(limit: 5000) { id } ...H } fragment H on Query { host { netns } }' }],
    ['one response key twice', { query: '{ connections(limit: 5000) { id } connections(limit: 5000) { state } }' }],
    ['above the maximum', { query: '{ connections(limit: 100001) { id } }' }],
    ['negative offset', { query: '{ connections(limit: 5000, offset: -1) { id } }' }],
    ['null limit', { query: '{ connections(limit: null) { id } }' }],
    ['wrong type', { query: '{ connections(limit: "5000") { id } }' }],
    ['syntax error', { query: '{ connections(limit: 5000 { id } }' }],
    ['mutation', { query: 'mutation { connections(limit: 5000) { id } }' }],
    ['another field', { query: '{ listeners { id } }' }],
    ['a directive', { query: '{ connections(limit: 5000) @include(if: true) { id } }' }],
    ['a directive on one of two big lists', { query: '{ a: connections(limit: 5000) { id } b: connections(limit: 2000) @skip(if: false) { id } }' }],
    ['two operations, none named', { query: 'query A { connections(limit: 5000) { id } } query B { host { netns } }' }],
    ['not an object', 'query'],
    ['variables not an object', { query: DOCUMENTS.connections, variables: [1] }],
  ] as const) {
    assert.equal(planPagedQuery(body), null, why);
  }
  // Other top-level fields become a document of their own, with only the variables and fragments
  // they use, and keep their places around the list.
  const mixed = planPagedQuery({
    query: 'query M($p: Int, $n: Int, $h: Boolean!) { count: connectionCount(port: $p) rows: connections(port: $p, limit: $n) { ...C } host @include(if: $h) { netns } } fragment C on Connection { id }',
    variables: { p: 80, n: 4000, h: true },
  });
  assert.ok(mixed);
  assert.deepEqual([mixed.lists.map((l) => l.key), mixed.lists[0].limit, mixed.keys], [['rows'], 4000, ['count', 'rows', 'host']]);
  assert.ok(mixed.rest);
  const rest = parse(mixed.rest).definitions;
  assert.equal(rest.length, 1, 'the fragment only the list uses is left out');
  assert.ok(rest[0].kind === 'OperationDefinition');
  assert.deepEqual(rest[0].variableDefinitions?.map((d) => d.variable.name.value), ['p', 'h']);
  assert.equal(parse(mixed.lists[0].query).definitions.length, 2, 'the page document keeps the fragment');
  assert.equal(planPagedQuery({ query: DOCUMENTS.connections, variables: { limit: 5000 } })?.rest, null);
  const named = planPagedQuery({ query: 'query A { connections(limit: 5000) { id } } query B { host { netns } }', operationName: 'A' });
  assert.equal(named?.operationName, 'A');
  // Several big lists: each its own page document, in the request's order, small lists in the rest.
  const two = planPagedQuery({ query: '{ a: connections(limit: 5000) { id } n: connections(limit: 10) { id } b: connections(direction: INBOUND, limit: 2000, offset: 3) { state } }' });
  assert.ok(two);
  assert.deepEqual(two.lists.map((l) => [l.key, l.limit, l.offset]), [['a', 5000, 0], ['b', 2000, 3]]);
  assert.deepEqual(two.keys, ['a', 'n', 'b']);
  assert.match(two.lists[1].query, /direction: INBOUND/);
  assert.doesNotMatch(two.lists[1].query, /\bid\b/, 'each page document holds its own field only');
  assert.match(two.rest ?? '', /n: connections\(limit: 10\)/);
  // Each list's row count (for the request's row budget) is asked with its filter alone.
  assert.match(two.lists[1].countQuery, /b: connectionCount\(direction: INBOUND\)/);
  assert.doesNotMatch(two.lists[1].countQuery, /limit|offset|state/);
});

test("a big list's plain selection, `__typename` at any depth included, is written as bytes (row-writer); aliases and other fields are not", async () => {
  const schema = await tcpdirSchema();
  const rows = (sel: string) => planPagedQuery({ query: `{ connections(limit: 5000) { ${sel} } }` }, schema)?.lists[0].rows?.selection ?? null;
  // What Apollo Client sends: __typename in every selection set.
  assert.deepEqual(rows('id __typename verdict { direction evidence { rule __typename } __typename } processes { pid __typename } local { port __typename }'), [
    ['id', null], ['__typename', null, 'Connection'],
    ['verdict', [['direction', null], ['evidence', [['rule', null], ['__typename', null, 'Evidence']]], ['__typename', null, 'Verdict']]],
    ['processes', [['pid', null], ['__typename', null, 'Process']]],
    ['local', [['port', null], ['__typename', null, 'Endpoint']]],
  ]);
  for (const sel of ['id v: verdict { direction }', 'id peer { id }', 'id t: __typename', 'id __typename __typename', 'verdict { __typename { x } }']) {
    assert.equal(rows(sel), null, sel);
  }
  assert.equal(planPagedQuery({ query: '{ connections(limit: 5000) { id } }' })?.lists[0].rows, null, 'no schema, no byte rows');
});
