import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, parse, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { WebSocketServer } from 'ws';
import type { useServer as UseServer } from 'graphql-ws/dist/use/ws.cjs';
import type { RequestContext } from '../resolvers';
import { formatError } from './errors';

// graphql-ws publishes its ws binding only as a subpath export, which this project's module
// resolution cannot see at type level: the types come from the file, the code from the export.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { useServer } = require('graphql-ws/use/ws') as { useServer: typeof UseServer };

/** A document graphql-ws refused (parse or validation), with the code Apollo gives it over HTTP. */
function refusal(e: GraphQLError): GraphQLFormattedError {
  return { ...e.toJSON(), extensions: { ...e.extensions, code: e.message.startsWith('Syntax Error') ? 'GRAPHQL_PARSE_FAILED' : 'GRAPHQL_VALIDATION_FAILED' } };
}

/**
 * GraphQL subscriptions over the graphql-ws protocol on the same port and path as queries
 * (ws://HOST:PORT/graphql). With a token, the WebSocket upgrade must carry it (Authorization
 * header) or the connection_init payload must ({ "authorization": "Bearer ..." }). Errors are
 * formatted as over HTTP: a bad argument's code and parameter, internal failures masked (`log`).
 */
export function registerSubscriptions(server: Server, schema: GraphQLSchema, context: () => RequestContext, token: string | undefined, log: (e: unknown) => void, maxMessageBytes: number): () => Promise<void> {
  // noServer: attached with `server`, ws re-emits the HTTP server's errors (a port in use) on the
  // WebSocket server, and graphql-ws prints them as its own "internal error" with a stack.
  // Messages are held to the HTTP body limit (ws's default is 100 MiB, each parsed whole): a
  // bigger one closes the socket with 1009.
  const wss = new WebSocketServer({ noServer: true, path: '/graphql', maxPayload: maxMessageBytes });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!wss.shouldHandle(req)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A client's protocol error (a message over the limit, a bad frame): ws has already closed
      // the socket with its code (1009, 1002 ...); graphql-ws would print it as an internal error.
      const emit = ws.emit.bind(ws);
      ws.emit = ((event: string | symbol, ...args: unknown[]) =>
        event === 'error' && String((args[0] as { code?: unknown } | undefined)?.code).startsWith('WS_ERR_') ? false : emit(event, ...args)) as typeof ws.emit;
      wss.emit('connection', ws, req);
    });
  };
  server.on('upgrade', onUpgrade);
  const disposable = useServer({
    schema,
    context,
    onConnect: (ctx) => {
      if (!token) return true;
      const header = ctx.extra.request.headers.authorization;
      const param = (ctx.connectionParams as { authorization?: unknown } | undefined)?.authorization;
      return header === `Bearer ${token}` || param === `Bearer ${token}`;
    },
    // graphql-ws lets parse throw: the socket then closed as an internal error (4500), other
    // subscriptions on it too. Parsed here first, a syntax error is this operation's error.
    onSubscribe: (_ctx, _id, payload) => {
      try {
        parse(payload.query);
        return undefined;
      } catch (e) {
        if (e instanceof GraphQLError) return [e];
        throw e;
      }
    },
    onError: (_ctx, _id, _payload, errors) => errors.map(refusal),
    onNext: (_ctx, _id, _payload, _args, result) =>
      result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e, log)) } : undefined,
  }, wss);
  return async () => {
    server.off('upgrade', onUpgrade);
    await disposable.dispose();
    await new Promise<void>((r) => wss.close(() => r()));
  };
}
