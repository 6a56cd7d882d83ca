// Talks to this tcpdir server: GraphQL over POST /graphql (JSON, so Apollo's CSRF check passes),
// subscriptions over graphql-ws on the same path. The bearer token is sent when one is stored.
import { createClient, type Client } from 'graphql-ws';
import { authHeader, storedToken } from '../shared/token';

/** The server answered 401: no token, or a wrong one. */
export class Unauthorized extends Error {}

/** A GraphQL error, with its extensions.code (BAD_USER_INPUT, HISTORY_OFF ...). */
export class ApiError extends Error {
  constructor(message: string, readonly code: string | null) {
    super(message);
  }
}

const unauthorizedListeners = new Set<() => void>();
/** Called whenever a request is refused for want of a token. */
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal): Promise<T> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader() },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (res.status === 401) {
    for (const fn of unauthorizedListeners) fn();
    throw new Unauthorized('this server needs a bearer token');
  }
  const body = (await res.json().catch(() => null)) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | null;
  if (!body) throw new ApiError(`the server answered ${res.status} with no JSON`, null);
  if (body.errors?.length) throw new ApiError(body.errors[0].message, body.errors[0].extensions?.code ?? null);
  return body.data as T;
}

let ws: Client | null = null;
let wsToken: string | null = null;
/** The graphql-ws client, made again when the token changed. */
export function subscriptions(): Client {
  const token = storedToken();
  if (ws && wsToken === token) return ws;
  void ws?.dispose();
  wsToken = token;
  ws = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    lazy: true,
    retryAttempts: 3,
    connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
  });
  return ws;
}
