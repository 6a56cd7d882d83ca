import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { InputError } from '../service';

/** Codes a client may see as they are; anything else is masked as INTERNAL_SERVER_ERROR. */
const PUBLIC_CODES = new Set([
  'BAD_USER_INPUT', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE', 'UNAUTHENTICATED',
]);

export function formatError(formatted: GraphQLFormattedError, error: unknown, log: (e: unknown) => void): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof InputError) {
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions: { code: original.code, parameter: original.parameter } };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && PUBLIC_CODES.has(code)) return formatted;
  // Internal failures are logged in full and shown without detail: they may carry host data.
  log(original);
  return { message: 'internal error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}
