// JSON Schemas (OpenAPI 3.1 dialect) of GraphQL answers, made from the built schema's types and
// a document's selections: the REST bodies are those selections' data, so their schemas cannot
// drift from the GraphQL types.
import {
  getNamedType, isEnumType, isListType, isNonNullType, isObjectType, isScalarType, Kind, parse,
  type GraphQLEnumType, type GraphQLField, type GraphQLObjectType, type GraphQLOutputType, type GraphQLSchema, type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export type JsonSchema = Record<string, unknown>;

const SCALARS: Record<string, JsonSchema> = {
  Int: { type: 'integer', format: 'int32' },
  Float: { type: 'number' },
  String: { type: 'string' },
  Boolean: { type: 'boolean' },
  ID: { type: 'string' },
  DateTime: { type: 'string', format: 'date-time' },
};

/** Collects named schemas (components/schemas) as the answers' schemas are made. */
export class SchemaComponents {
  readonly schemas: Record<string, JsonSchema> = {};
  /** Type name -> the schema a top-level answer gives it: that one keeps the plain name. */
  private readonly preferred = new Map<string, string>();
  /** Types being described whole, to refuse a cycle. */
  private readonly whole = new Set<string>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** Names the top-level answers' types first, so a nested selection of one of them takes Parent + Field. */
  reserve(documents: readonly string[]): void {
    for (const d of documents) {
      const probe = new SchemaComponents(this.schema);
      const s = probe.ofDocument(d).schema as { $ref?: string; items?: { $ref?: string } };
      const ref = s.$ref ?? s.items?.$ref;
      if (ref) this.preferred.set(ref.split('/').pop()!, JSON.stringify(probe.schemas[ref.split('/').pop()!]));
    }
  }

  /** The schema of one Query field's data as `document` (one operation, one top-level field) selects it. */
  ofDocument(document: string, nonNull = true): { field: GraphQLField<unknown, unknown>; schema: JsonSchema } {
    const op = parse(document).definitions[0] as OperationDefinitionNode;
    const sel = op.selectionSet.selections[0];
    if (sel.kind !== Kind.FIELD) throw new Error('a stored document selects one field');
    const field = this.schema.getQueryType()!.getFields()[sel.name.value];
    if (!field) throw new Error(`no Query.${sel.name.value}`);
    // REST never answers null for the field: null is a 404, or an error is a 400.
    const type = nonNull && isNonNullType(field.type) ? field.type.ofType : field.type;
    return { field, schema: this.of(isNonNullType(type) ? type.ofType : type, sel.selectionSet, true) };
  }

  /** Every field of an object type (those without required arguments), nested objects whole too. */
  ofType(name: string): JsonSchema {
    const t = this.schema.getType(name);
    if (!isObjectType(t)) throw new Error(`${name} is not an object type`);
    return this.of(t, undefined, true);
  }

  /** `alt`: the component's name when another selection of the type has the type's name (Parent + Field). */
  private of(type: GraphQLOutputType, selection: SelectionSetNode | undefined, required: boolean, alt?: string): JsonSchema {
    if (isNonNullType(type)) return this.of(type.ofType, selection, true, alt);
    const inner = isListType(type) ? { type: 'array', items: this.of(type.ofType, selection, false, alt) } : this.named(getNamedType(type) as never, selection, alt);
    if (required) return inner;
    if ('$ref' in inner) return { oneOf: [inner, { type: 'null' }] };
    if (isListType(type) || typeof inner.type === 'string') return { ...inner, type: [inner.type, 'null'] };
    return { oneOf: [inner, { type: 'null' }] };
  }

  private named(t: GraphQLObjectType | GraphQLEnumType | { name: string }, selection: SelectionSetNode | undefined, alt?: string): JsonSchema {
    if (isEnumType(t)) {
      this.add(t.name, { type: 'string', description: t.description ?? undefined, enum: t.getValues().map((v) => v.name) });
      return { $ref: `#/components/schemas/${t.name}` };
    }
    if (isScalarType(t)) {
      const s = SCALARS[t.name];
      if (!s) throw new Error(`no JSON Schema for the scalar ${t.name}`);
      return { ...s };
    }
    if (!isObjectType(t)) throw new Error(`no JSON Schema for ${t.name}`);
    const fields = t.getFields();
    const properties: Record<string, JsonSchema> = {};
    const keys: string[] = [];
    const select = (name: string, key: string, sub: SelectionSetNode | undefined): void => {
      const f = fields[name];
      if (!f) throw new Error(`no field ${t.name}.${name}`);
      const s = this.of(f.type, sub, isNonNullType(f.type), `${t.name}${name[0].toUpperCase()}${name.slice(1)}`);
      properties[key] = f.description ? { description: f.description, ...s } : s;
      keys.push(key);
    };
    if (selection) {
      for (const s of selection.selections) {
        if (s.kind !== Kind.FIELD) throw new Error('stored documents use no fragments');
        select(s.name.value, s.alias?.value ?? s.name.value, s.selectionSet);
      }
    } else {
      if (this.whole.has(t.name)) throw new Error(`${t.name} refers to itself: select its fields instead`);
      this.whole.add(t.name);
      for (const f of Object.values(fields)) if (!f.args.some((a) => isNonNullType(a.type))) select(f.name, f.name, undefined);
      this.whole.delete(t.name);
    }
    const schema: JsonSchema = { type: 'object', description: t.description ?? undefined, properties, required: keys, additionalProperties: false };
    return { $ref: `#/components/schemas/${this.add(t.name, schema, alt)}` };
  }

  /** Stores a schema under the type's name, or `alt` (then a numbered name) when another selection of the type took it. */
  private add(name: string, schema: JsonSchema, alt?: string): string {
    const clean = JSON.parse(JSON.stringify(schema)) as JsonSchema;
    for (let i = 1; ; i++) {
      const key = i === 1 ? name : i === 2 && alt ? alt : `${name}${i}`;
      const have = this.schemas[key];
      if (i === 1 && alt && this.preferred.has(key) && this.preferred.get(key) !== JSON.stringify(clean)) continue;
      if (!have) {
        this.schemas[key] = clean;
        return key;
      }
      if (JSON.stringify(have) === JSON.stringify(clean)) return key;
    }
  }
}
