import { Kind, parse, print, visit, type ArgumentNode, type DocumentNode, type FieldNode, type OperationDefinitionNode, type ValueNode } from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import type { RequestContext } from '../resolvers';
import { MAX_LIMIT } from '../service/validate';
import { jsonPages, PAGE_ROWS } from './paging';

/** How a GraphQL request for many connections is run page by page (see planPagedQuery). */
export interface PagedQuery {
  /** The document with the field's limit and offset turned into the two page variables. */
  query: string;
  operationName: string | undefined;
  /** The response key of the field (its alias, or `connections`). */
  key: string;
  /** The request's own variables; each page adds LIMIT_VAR and OFFSET_VAR. */
  variables: Record<string, unknown>;
  limit: number;
  offset: number;
}

export const LIMIT_VAR = 'tcpdirPageLimit';
export const OFFSET_VAR = 'tcpdirPageOffset';
const DEFAULT_LIMIT = 1000; // ConnectionsArgs.limit's default

/**
 * A plan to stream the answer of a POSTed GraphQL request page by page, or null to leave the
 * request to Apollo as it is. Only the plain shape of a big list is taken: a query operation
 * whose one top-level selection is the `connections` field, asking for more than a page, with a
 * valid limit and offset. Anything else (several fields, fragments at the top, bad values, a
 * syntax error) goes to Apollo, which answers or reports it as usual.
 */
export function planPagedQuery(body: unknown): PagedQuery | null {
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
  if (!op || op.operation !== 'query' || op.selectionSet.selections.length !== 1) return null;
  const field = op.selectionSet.selections[0];
  if (field.kind !== Kind.FIELD || field.name.value !== 'connections' || (field.directives?.length ?? 0) > 0) return null;
  if (op.variableDefinitions?.some((v) => v.variable.name.value === LIMIT_VAR || v.variable.name.value === OFFSET_VAR)) return null;
  const limit = intArg(op, field, 'limit', vars, DEFAULT_LIMIT);
  const offset = intArg(op, field, 'offset', vars, 0);
  if (limit === null || offset === null || limit <= PAGE_ROWS || limit > MAX_LIMIT || offset < 0) return null;

  const pageArgs: ArgumentNode[] = [
    ...(field.arguments ?? []).filter((a) => a.name.value !== 'limit' && a.name.value !== 'offset'),
    argument('limit', LIMIT_VAR),
    argument('offset', OFFSET_VAR),
  ];
  const pageField: FieldNode = { ...field, arguments: pageArgs };
  let pageOp: OperationDefinitionNode = { ...op, selectionSet: { ...op.selectionSet, selections: [pageField] } };
  // A variable that only gave the limit or offset is unused now, which validation would reject.
  const used = new Set<string>();
  visit({ ...doc, definitions: doc.definitions.map((d) => (d === op ? pageOp : d)) }, {
    VariableDefinition: () => false,
    Variable: (n) => void used.add(n.name.value),
  });
  pageOp = {
    ...pageOp,
    variableDefinitions: [...(op.variableDefinitions ?? []).filter((d) => used.has(d.variable.name.value)), intVariable(LIMIT_VAR), intVariable(OFFSET_VAR)],
  };
  const definitions = doc.definitions.map((d) => (d === op ? pageOp : d));
  return {
    query: print({ ...doc, definitions }),
    operationName: op.name?.value,
    key: field.alias?.value ?? field.name.value,
    variables: vars,
    limit,
    offset,
  };
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

function argument(name: string, variable: string): ArgumentNode {
  return { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: name }, value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: variable } } };
}

function intVariable(name: string): NonNullable<OperationDefinitionNode['variableDefinitions']>[number] {
  return {
    kind: Kind.VARIABLE_DEFINITION,
    variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: name } },
    type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'Int' } },
  };
}

/**
 * Answers a POSTed GraphQL request for many connections page by page when planPagedQuery takes
 * it: every page on one pinned snapshot (`contextValue`), the JSON streamed as each page is
 * ready. Returns false, having sent nothing, when the request is not of that shape, or when its
 * first page fails (Apollo then answers it and reports the errors as usual).
 */
export async function sendPagedQuery(
  body: unknown,
  apollo: ApolloServer<RequestContext>,
  contextValue: RequestContext,
  reply: FastifyReply,
): Promise<boolean> {
  const plan = planPagedQuery(body);
  if (!plan) return false;
  const run = async (limit: number, offset: number): Promise<readonly unknown[] | null> => {
    const r = await apollo.executeOperation(
      { query: plan.query, operationName: plan.operationName, variables: { ...plan.variables, [LIMIT_VAR]: limit, [OFFSET_VAR]: offset } },
      { contextValue },
    );
    if (r.body.kind !== 'single' || r.body.singleResult.errors?.length) return null;
    const rows = r.body.singleResult.data?.[plan.key];
    return Array.isArray(rows) ? rows : null;
  };
  const first = await run(PAGE_ROWS, plan.offset);
  if (first === null) return false;
  const prefix = `{"data":{${JSON.stringify(plan.key)}:`;
  reply.type('application/json; charset=utf-8');
  if (first.length < PAGE_ROWS) {
    reply.send(`${prefix}${JSON.stringify(first)}}}`);
    return true;
  }
  const runPage = async (limit: number, offset: number): Promise<readonly unknown[]> => {
    const rows = await run(limit, offset);
    if (rows === null) throw new Error(`GraphQL page at offset ${offset} failed`);
    return rows;
  };
  reply.send(Readable.from(jsonPages(first, runPage, plan.limit, plan.offset, prefix, '}}')));
  return true;
}
