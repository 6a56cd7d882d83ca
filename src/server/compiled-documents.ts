import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { parse } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { RequestContext } from '../resolvers';
import { DOCUMENTS, type DocumentName } from './documents';

/** Runs one stored document with its variables on a request's context (its pinned snapshot). */
export type RunDocument = (name: DocumentName, variables: Record<string, unknown>, context: RequestContext) => Promise<ExecutionResult>;

/**
 * tcpdir's stored documents compiled by graphql-jit against the same schema and resolvers: a
 * 10k-row list runs in about 60% of graphql-js's CPU (docs/benchmarks.md). Only these documents
 * are compiled, never a client's text: jit turns a query into generated code. Each document is
 * compiled on first use; one that does not compile is an error of tcpdir's, thrown.
 */
export function compiledDocuments(schema: GraphQLSchema): RunDocument {
  const compiled = new Map<DocumentName, CompiledQuery>();
  return async (name, variables, context) => {
    let q = compiled.get(name);
    if (!q) {
      const c = compileQuery(schema, parse(DOCUMENTS[name]));
      if (!isCompiledQuery(c)) throw new Error(`stored document ${name} does not compile: ${c.errors?.map((e) => e.message).join('; ')}`);
      compiled.set(name, (q = c));
    }
    return q.query(undefined, context, variables);
  };
}
