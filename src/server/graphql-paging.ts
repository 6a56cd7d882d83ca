import { DEFAULT_LIMIT } from '../model';
import {
  getNamedType, isObjectType, Kind, parse, print, visit, type ArgumentNode, type ASTNode, type DocumentNode, type FieldNode,
  type FragmentDefinitionNode, type GraphQLNamedType, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode,
  type ValueNode, type VariableDefinitionNode, valueFromASTUntyped,
} from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import type { RequestContext } from '../resolvers';
import { connectionPage } from '../resolvers/connection-page';
import { MAX_LIMIT } from '../service/validate';
import { CHUNKS_AHEAD, jsonPages, jsonRowPages, PAGE_ROWS } from './paging';
import { LIST_SELECTION, requestRowWriter, type Selection } from './row-writer';
import type { ConnectionsArgs } from '../schema';

/** One big `connections` field of a PagedQuery, run page by page. */
export interface PagedList {
  /** The document of this field alone, its limit and offset turned into the two page variables. */
  query: string;
  /** The response key of the field (its alias, or `connections`). */
  key: string;
  limit: number;
  offset: number;
  /** `connectionCount` with the field's filter, under the same key: how many rows it has to give. */
  countQuery: string;
  /**
   * When the field's selection is plain fields that `tcpdir list`'s document also selects, and
   * `__typename` (no alias, argument, directive or fragment below it): that selection, and the field's arguments
   * but limit and offset. Its pages after the first are then written as bytes (row-writer.ts).
   */
  rows: { selection: Selection; args: Record<string, unknown> } | null;
}

/** How a GraphQL request for many connections is run page by page (see planPagedQuery). */
export interface PagedQuery {
  /** The big fields, in the request's order. */
  lists: PagedList[];
  /** Every top-level response key of the operation, in the request's order. */
  keys: string[];
  operationName: string | undefined;
  /** The request's own variables; each page adds LIMIT_VAR and OFFSET_VAR. */
  variables: Record<string, unknown>;
  /**
   * The operation's other top-level fields as a document of their own, run once on the same
   * snapshot; null when there are none. Their answers take their places among the lists.
   */
  rest: string | null;
  /** The request's document, to validate whole before it is run in parts (limits on the whole). */
  document: DocumentNode;
}

export const LIMIT_VAR = 'tcpdirPageLimit';
export const OFFSET_VAR = 'tcpdirPageOffset';

/**
 * A plan to stream the answer of a POSTed GraphQL request page by page, or null to leave the
 * request to Apollo as it is. Taken: a query operation of plain top-level fields (no fragment
 * spreads there, response keys unique) of which one or more are `connections` fields asking for
 * more than a page, each with a valid limit and offset and no directive. Anything else (fragments
 * at the top, bad values, a syntax error) goes to Apollo, which answers or reports it as usual.
 */
export function planPagedQuery(body: unknown, schema?: GraphQLSchema): PagedQuery | null {
  if (typeof body !== 'object' || body === null) return null;
  const { query, variables, operationName } = body as { query?: unknown; variables?: unknown; operationName?: unknown };
  if (typeof query !== 'string' || (operationName != null && typeof operationName !== 'string')) return null;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  const vars = (variables ?? {}) as Record<string, unknown>;
  if (!query.includes('connections')) return null;
  const doc = parsed(query);
  if (doc === null) return null;
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
  if (!op || op.operation !== 'query') return null;
  if (op.variableDefinitions?.some((v) => v.variable.name.value === LIMIT_VAR || v.variable.name.value === OFFSET_VAR)) return null;
  const fields: FieldNode[] = [];
  for (const sel of op.selectionSet.selections) {
    if (sel.kind !== Kind.FIELD) return null;
    fields.push(sel);
  }
  const keyOf = (f: FieldNode): string => f.alias?.value ?? f.name.value;
  if (new Set(fields.map(keyOf)).size !== fields.length) return null; // merged fields: Apollo's job
  const big = fields.filter((f) => f.name.value === 'connections' && (intArg(op, f, 'limit', vars, DEFAULT_LIMIT) ?? 0) > PAGE_ROWS);
  if (big.length === 0) return null;
  const lists: PagedList[] = [];
  for (const field of big) {
    if ((field.directives?.length ?? 0) > 0) return null;
    const limit = intArg(op, field, 'limit', vars, DEFAULT_LIMIT);
    const offset = intArg(op, field, 'offset', vars, 0);
    if (limit === null || offset === null || limit > MAX_LIMIT || offset < 0) return null;
    // The field's filter: its arguments but the limit and offset.
    const filter = (field.arguments ?? []).filter((a) => a.name.value !== 'limit' && a.name.value !== 'offset');
    const pageArgs: ArgumentNode[] = [...filter, argument('limit', LIMIT_VAR), argument('offset', OFFSET_VAR)];
    const query = print(partOf(doc, op, [{ ...field, arguments: pageArgs }], [intVariable(LIMIT_VAR), intVariable(OFFSET_VAR)]));
    const count: FieldNode = {
      kind: Kind.FIELD,
      alias: { kind: Kind.NAME, value: keyOf(field) },
      name: { kind: Kind.NAME, value: 'connectionCount' },
      // The order does not change the count (connectionCount takes no orderBy).
      arguments: filter.filter((a) => a.name.value !== 'orderBy' && a.name.value !== 'descending'),
    };
    const selection = schema ? plainSelection(field.selectionSet, LIST_SELECTION, schema.getType('Connection') ?? undefined) : null;
    const rows = selection && { selection, args: argumentValues(op, filter, vars) };
    lists.push({ query, key: keyOf(field), limit, offset, countQuery: print(partOf(doc, op, [count], [])), rows });
  }
  const others = fields.filter((f) => !big.includes(f));
  return {
    lists,
    keys: fields.map(keyOf),
    operationName: op.name?.value,
    variables: vars,
    rest: others.length > 0 ? print(partOf(doc, op, others, [])) : null,
    document: doc,
  };
}

/**
 * A document of one operation holding `selections` of `op`: the variables they use (plus
 * `extraVars`) and the fragments they reach, nothing else (validation rejects unused ones).
 */
function partOf(doc: DocumentNode, op: OperationDefinitionNode, selections: FieldNode[], extraVars: VariableDefinitionNode[]): DocumentNode {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const usedVars = new Set<string>();
  const usedFragments = new Set<string>();
  const walk = (node: ASTNode): void => {
    visit(node, {
      Variable: (n) => void usedVars.add(n.name.value),
      FragmentSpread: (n) => {
        const f = fragments.get(n.name.value);
        if (f && !usedFragments.has(f.name.value)) {
          usedFragments.add(f.name.value);
          walk(f);
        }
      },
    });
  };
  for (const sel of selections) walk(sel);
  // Directives on the operation may use variables too.
  for (const dir of op.directives ?? []) walk(dir);
  const part: OperationDefinitionNode = {
    ...op,
    selectionSet: { ...op.selectionSet, selections },
    variableDefinitions: [...(op.variableDefinitions ?? []).filter((d) => usedVars.has(d.variable.name.value)), ...extraVars],
  };
  return { ...doc, definitions: [part, ...[...usedFragments].map((n) => fragments.get(n)!)] };
}

// Parsed documents by text: clients send the same few queries again and again, and this runs
// before Apollo (which keeps its own parsed copies) on every POST. Bounded: cleared when full.
const parseCache = new Map<string, DocumentNode | null>();

function parsed(query: string): DocumentNode | null {
  let doc = parseCache.get(query);
  if (doc === undefined) {
    try {
      doc = parse(query);
    } catch {
      doc = null;
    }
    if (parseCache.size >= 256) parseCache.clear();
    parseCache.set(query, doc);
  }
  return doc;
}

/**
 * The integer value of an argument: a literal, or a variable's value or declared default; `dflt`
 * when the argument is absent; null for anything else (null, a wrong type: Apollo reports those).
 */
function intArg(op: OperationDefinitionNode, field: FieldNode, name: string, vars: Record<string, unknown>, dflt: number): number | null {
  const arg = field.arguments?.find((a) => a.name.value === name);
  if (!arg) return dflt;
  let v: ValueNode | undefined = arg.value;
  let value: unknown = null;
  if (v.kind === Kind.VARIABLE) {
    const varName = v.name.value;
    if (varName in vars) value = vars[varName];
    else v = op.variableDefinitions?.find((d) => d.variable.name.value === varName)?.defaultValue;
  }
  if (v?.kind === Kind.INT) value = Number(v.value);
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}

/**
 * A field's selection as a row Selection when it is plain fields only, each of them in `within`
 * (the same shape below) or `__typename` (the name of `type`, the schema's type of the selected
 * object); else null. Names are GraphQL names ([_A-Za-z][_0-9A-Za-z]*), which the row writer
 * embeds in its generated code.
 */
function plainSelection(set: SelectionSetNode | undefined, within: Selection, type: GraphQLNamedType | undefined): Selection | null {
  if (!set || !isObjectType(type)) return null;
  const out: Selection[number][] = [];
  for (const sel of set.selections) {
    if (sel.kind !== Kind.FIELD || sel.alias || (sel.arguments?.length ?? 0) > 0 || (sel.directives?.length ?? 0) > 0) return null;
    const name = sel.name.value;
    if (out.some(([n]) => n === name)) return null;
    // What GraphQL clients add to every selection (Apollo Client does): the type's name.
    if (name === '__typename') {
      if (sel.selectionSet) return null;
      out.push([name, null, type.name]);
      continue;
    }
    const known = within.find(([n]) => n === name);
    const field = type.getFields()[name];
    if (!known || known[2] !== undefined || !field) return null;
    if (known[1] === null) {
      if (sel.selectionSet) return null;
      out.push([name, null]);
    } else {
      const sub = plainSelection(sel.selectionSet, known[1], getNamedType(field.type));
      if (sub === null) return null;
      out.push([name, sub]);
    }
  }
  return out.length > 0 ? out : null;
}

/**
 * The values of `args` (already validated: the list's first page ran through Apollo), variables
 * taken from the request or their declared defaults. Enum values are their names, as tcpdir's
 * enums are.
 */
function argumentValues(op: OperationDefinitionNode, args: readonly ArgumentNode[], vars: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const d of op.variableDefinitions ?? []) {
    const name = d.variable.name.value;
    if (name in vars) values[name] = vars[name];
    else if (d.defaultValue) values[name] = valueFromASTUntyped(d.defaultValue);
  }
  const out: Record<string, unknown> = {};
  for (const a of args) out[a.name.value] = valueFromASTUntyped(a.value, values);
  return out;
}

function argument(name: string, variable: string): ArgumentNode {
  return { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: name }, value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: variable } } };
}

function intVariable(name: string): VariableDefinitionNode {
  return {
    kind: Kind.VARIABLE_DEFINITION,
    variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: name } },
    type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'Int' } },
  };
}

/**
 * Answers a POSTed GraphQL request for many connections page by page when planPagedQuery takes
 * it: every part on one pinned snapshot (`contextValue`), the JSON streamed as each page is
 * ready. Other top-level fields run first, in one execution, and take their places among the
 * lists. Returns false, having sent nothing, when the request is not of that shape, when it is
 * run in more than one part and `validateWhole` (the server's validation rules, limits included,
 * applied to the whole document) does not pass it, when its lists could outrun the request's row
 * budget, or when the other fields or a list's first page fail: Apollo then answers it whole and
 * reports the errors as usual.
 */
export async function sendPagedQuery(
  body: unknown,
  apollo: ApolloServer<RequestContext>,
  contextValue: RequestContext,
  reply: FastifyReply,
  validateWhole?: (doc: DocumentNode) => boolean,
  schema?: GraphQLSchema,
): Promise<boolean> {
  const plan = planPagedQuery(body, schema);
  if (!plan) return false;
  // Run in parts, a document's depth and cost would be judged part by part: judge it whole first.
  if ((plan.rest !== null || plan.lists.length > 1) && !validateWhole?.(plan.document)) return false;
  // One part of the document on the pinned snapshot: its data, or null when it failed in any way.
  const execute = async (query: string, variables: Record<string, unknown>): Promise<Record<string, unknown> | null> => {
    const r = await apollo.executeOperation({ query, operationName: plan.operationName, variables }, { contextValue });
    return r.body.kind === 'single' && !r.body.singleResult.errors?.length ? (r.body.singleResult.data ?? null) : null;
  };
  let restData: Record<string, unknown> = {};
  if (plan.rest !== null) {
    const data = await execute(plan.rest, plan.variables);
    if (data === null) return false;
    restData = data;
  }
  // Pages take their rows from the request's budget as they run. How many each list will give
  // is counted first, on the same pinned snapshot: when they would overdraw what is left, Apollo
  // runs the document whole instead, and the list that overdraws the budget fails with an error
  // there, rather than the stream being cut short after its headers left.
  let rows = 0;
  for (const list of plan.lists) {
    const n = (await execute(list.countQuery, plan.variables))?.[list.key];
    if (typeof n !== 'number') return false;
    rows += Math.max(0, Math.min(list.limit, n - list.offset));
  }
  if (contextValue.rowsLeft() < rows) return false;
  const run = async (list: PagedList, limit: number, offset: number): Promise<readonly unknown[] | null> => {
    const rows = (await execute(list.query, { ...plan.variables, [LIMIT_VAR]: limit, [OFFSET_VAR]: offset }))?.[list.key];
    return Array.isArray(rows) ? rows : null;
  };
  // Every list's first page before anything is sent, so that a failure still leaves the
  // request to Apollo.
  const firsts = new Map<string, readonly unknown[]>();
  for (const list of plan.lists) {
    const first = await run(list, PAGE_ROWS, list.offset);
    if (first === null) return false;
    firsts.set(list.key, first);
  }
  const lists = new Map(plan.lists.map((l) => [l.key, l]));
  reply.type('application/json; charset=utf-8');
  // A field left out by @skip or @include is absent from the answer, as Apollo would leave it.
  const keys = plan.keys.filter((k) => lists.has(k) || k in restData);
  const field = (k: string): string => `${JSON.stringify(k)}:${JSON.stringify(lists.has(k) ? firsts.get(k) : restData[k])}`;
  if ([...firsts.values()].every((f) => f.length < PAGE_ROWS)) {
    reply.send(`{"data":{${keys.map(field).join(',')}}}`);
    return true;
  }
  async function* answer(): AsyncGenerator<string | Buffer> {
    yield '{"data":{';
    for (const [i, k] of keys.entries()) {
      const sep = i > 0 ? ',' : '';
      const list = lists.get(k);
      if (!list || firsts.get(k)!.length < PAGE_ROWS) {
        yield `${sep}${field(k)}`;
        continue;
      }
      const runPage = async (limit: number, offset: number): Promise<readonly unknown[]> => {
        const rows = await run(list, limit, offset);
        if (rows === null) throw new Error(`GraphQL page of ${k} at offset ${offset} failed`);
        return rows;
      };
      const prefix = `${sep}${JSON.stringify(k)}:`;
      if (list.rows) {
        // Plain fields that `list` also reads: the pages after the first as bytes, from the
        // resolvers' own reads (test/api/rest-paging.test.ts compares them to one execution).
        const write = await requestRowWriter(contextValue, list.rows.selection);
        const args = list.rows.args;
        yield prefix;
        yield* jsonRowPages(firsts.get(k)!, (size, at) => connectionPage(contextValue, { ...args, limit: size, offset: at } as ConnectionsArgs), write, list.limit, list.offset);
        continue;
      }
      yield* jsonPages(firsts.get(k)!, runPage, list.limit, list.offset, prefix);
    }
    yield '}}';
  }
  reply.send(Readable.from(answer(), { highWaterMark: CHUNKS_AHEAD }));
  return true;
}
