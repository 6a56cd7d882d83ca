import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSchema } from 'graphql';
import { SchemaComponents } from '../../src/server/json-schema';

const SDL = `
scalar DateTime
"""A thing."""
type Thing { id: ID! "Its name." name: String at: DateTime! kind: Kind! parts: [Part!] owner: Owner! }
type Part { n: Int! x: Float }
type Owner { name: String! thing: Thing! }
enum Kind { A B }
type Query { thing(id: ID!): Thing things: [Thing!]! owner: Owner! }`;

test('a selection becomes a strict object schema: non-null is required and not null, nullable is null-or, aliases are the keys', () => {
  const c = new SchemaComponents(buildSchema(SDL));
  const { schema } = c.ofDocument('query($id: ID!) { thing(id: $id) { id label: name at kind parts { n x } owner { name } } }');
  assert.deepEqual(schema, { $ref: '#/components/schemas/Thing' }, 'REST answers the field itself: never null');
  assert.deepEqual(c.schemas.Thing, {
    type: 'object', description: 'A thing.', additionalProperties: false,
    required: ['id', 'label', 'at', 'kind', 'parts', 'owner'],
    properties: {
      id: { type: 'string' },
      label: { description: 'Its name.', type: ['string', 'null'] },
      at: { type: 'string', format: 'date-time' },
      kind: { $ref: '#/components/schemas/Kind' },
      parts: { type: ['array', 'null'], items: { $ref: '#/components/schemas/Part' } },
      owner: { $ref: '#/components/schemas/Owner' },
    },
  });
  assert.deepEqual(c.schemas.Part.properties, { n: { type: 'integer', format: 'int32' }, x: { type: ['number', 'null'] } });
  assert.deepEqual(c.schemas.Kind, { type: 'string', enum: ['A', 'B'] });
});

test('two selections of one type: the top-level answer keeps the name, the nested one is Parent + Field', () => {
  const c = new SchemaComponents(buildSchema(SDL));
  const docs = ['{ owner { name thing { id } } }', '{ things { id name } }'];
  c.reserve(docs);
  for (const d of docs) c.ofDocument(d);
  assert.deepEqual(Object.keys(c.schemas.Thing.properties as object), ['id', 'name']);
  assert.deepEqual(Object.keys(c.schemas.OwnerThing.properties as object), ['id']);
  assert.deepEqual((c.schemas.Owner.properties as Record<string, unknown>).thing, { $ref: '#/components/schemas/OwnerThing' });
});

test('a whole type refuses a cycle instead of recursing', () => {
  const c = new SchemaComponents(buildSchema(SDL));
  assert.deepEqual(Object.keys(c.ofType('Part')), ['$ref']);
  assert.throws(() => c.ofType('Owner'), /refers to itself|Thing/);
});
