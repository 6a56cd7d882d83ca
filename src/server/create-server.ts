import 'reflect-metadata';
import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GraphQLError, specifiedRules, validate, type DocumentNode, type ValidationContext } from 'graphql';
import { otlpConfig, startOtlpExport, type OtlpExport, type OtlpOptions, type TcpdirMetrics } from '../export';
import { MAX_ROWS, requestContext, type RequestContext } from '../resolvers';
import { HistoryService, PEER_REQUEST_HEADER, TcpdirService, type HistoryOptions, type ServiceOptions } from '../service';
import { registerAuth } from './auth';
import { isPublicPage, registerConsole } from './console';
import { assertSafeBind } from './bind-policy';
import { compiledDocuments } from './compiled-documents';
import { formatError } from './errors';
import { clientError, publicError, sendError } from './http-errors';
import { trackRoutes } from './method-not-allowed';
import { registerMetrics } from './metrics';
import { openApiDocument } from './openapi';
import { sendPagedQuery } from './graphql-paging';
import { registerEvents } from './events';
import { registerSubscriptions } from './subscriptions';
import { registerRest } from './rest';
import { tcpdirSchema } from './schema';
import { VERSION } from './version';

/** A peer agent asking (collectors/peers.ts): it gets this host's own evidence, and is never asked back. */
const fromPeer = (req: FastifyRequest): boolean => req.headers[PEER_REQUEST_HEADER] === '1';

const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface ServerOptions extends ServiceOptions {
  /** Where `listen()` binds; createServer itself does not listen. Default 127.0.0.1:4000. */
  host?: string;
  port?: number;
  /** Bearer token for every route but /healthz (default: $TCPDIR_TOKEN, else none). */
  token?: string;
  /** pino level, or 'silent'. Default info. */
  logLevel?: string;
  /** Largest request body accepted, bytes. Default 64 KiB. */
  bodyLimit?: number;
  /** Requests per minute per client address; 0 or absent = no limit. */
  rateLimit?: number;
  /** Deepest GraphQL selection accepted. Default 10. */
  maxDepth?: number;
  /** Largest GraphQL query cost accepted (graphql-armor cost model). Default 5000. */
  maxCost?: number;
  /**
   * Connection rows one request may return, all its lists together (GraphQL aliases and nested
   * listener lists; a REST list's limit). Default 100,000 (MAX_ROWS).
   */
  maxRows?: number;
  /** Listeners exported by /metrics with their inbound connection counts, busiest first. Default 20; 0 = none. */
  metricsTopListeners?: number;
  /** /metrics also counts connections per network namespace (one series per namespace). Default false. */
  metricsPerNetns?: boolean;
  /** /metrics answers from a snapshot up to this old (default 10 s) rather than wait for a new one; 0 = never older than maxAgeMs. */
  metricsMaxAgeMs?: number;
  /**
   * Export connection events and metrics over OTLP/HTTP. Given (even as {}), the standard OTEL_*
   * variables are read too (src/export/otlp-config.ts); absent, no OTLP and no OTEL_* reading.
   */
  otlp?: OtlpOptions;
  /** Use this service instead of making one. */
  service?: TcpdirService;
  /** Record connection history (SQLite at history.path; ':memory:' allowed). Default off here; the CLI turns it on. */
  recordHistory?: HistoryOptions | false;
}

export interface TcpdirServer {
  /** A Node http.Server, not yet listening: supertest's request(server) works on it. */
  server: Server;
  app: FastifyInstance;
  service: TcpdirService;
  /** The /metrics registry; connectionEvents() is where a history recorder feeds its counters. */
  metrics: TcpdirMetrics;
  /** The OTLP export, when configured. */
  otlp: OtlpExport | null;
  /** Every path the server answers and its methods (HEAD included), as registered. */
  routes: ReadonlyMap<string, ReadonlySet<string>>;
  /** Listen on options.host/port (refusing a non-loopback host without a token). */
  listen(): Promise<string>;
  /** Stops accepting, drains in-flight requests, then closes. */
  close(): Promise<void>;
}

/**
 * Reports armor's rejection as a validation error. Armor words every rejection as a "Syntax Error:",
 * but a document too deep or too costly is well formed: the prefix is dropped.
 */
function reportRejection(ctx: ValidationContext | null, err: GraphQLError): void {
  ctx?.reportError(new GraphQLError(err.message.replace(/^Syntax Error: /, ''), { nodes: err.nodes, extensions: err.extensions }));
}

export async function createServer(options: ServerOptions = {}): Promise<TcpdirServer> {
  const token = options.token ?? (process.env.TCPDIR_TOKEN || undefined);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4000;
  // A bad OTLP setting (an endpoint that is no URL, a protocol tcpdir does not speak) stops the start.
  const otlpCfg = options.otlp ? otlpConfig(options.otlp) : null;
  const app = Fastify({
    logger: { level: options.logLevel ?? 'info' },
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Query strings are parsed into arrays on repetition, so "given twice" can be reported.
    routerOptions: { maxParamLength: 200 },
    // Errors the router raises before any handler (a path with invalid percent-encoding, a path
    // segment too long) and those of Node's HTTP parser get the same envelope as everything else,
    // with tcpdir's codes: Fastify's own codes and messages (which echo the URL) never leave.
    frameworkErrors: (err, _req, reply) => {
      const { status, body } = publicError(err);
      (reply as FastifyReply).code(status).send(body);
    },
    clientErrorHandler: clientError,
  });
  // Before any route, plugins' included: every path's methods, for 405s and the OpenAPI test.
  const routeTable = trackRoutes(app);

  const service =
    options.service ??
    new TcpdirService({
      ...options,
      // A history recorder needs the tracepoint's closes, not only births.
      lifecycle: options.lifecycle ?? Boolean(options.recordHistory),
      onKernelUnavailable: (why) => app.log.warn({ code: why.code }, `no kernel evidence: ${why.reason}`),
      // A socket found by probing that does not answer is no fault of the operator's: info, not warn.
      onPodsError: (m, source, everRead) => (!m ? app.log.info(`pods: ${source} readable again`)
        : options.criProbed && source === options.criSocket ? app.log.info(`pods unnamed: ${m}`)
        : app.log.warn(`pods unknown: ${m}; ${everRead ? 'the last list read is used' : 'pods stay unnamed until it answers'}`)),
      onPodsSource: (m) => app.log.info(m),
      onPeerStatus: (peer, why) => (why ? app.log.warn({ peer }, `peer agent unreachable: ${why}; its connections go without its verdict`) : app.log.info({ peer }, 'peer agent answers')),
    });
  app.addHook('onClose', async () => {
    if (!options.service) service.close();
  });

  // An unwritable data dir or a corrupt store is an error at start (HistoryStoreError names the path).
  let history: HistoryService | null = null;
  if (options.recordHistory) {
    try {
      history = new HistoryService(service, { onError: (m) => app.log.error(m), ...options.recordHistory });
    } catch (e) {
      // Asked for by name (--data-dir): refuse to start. The default place: serve without history.
      if (!options.recordHistory.optional) {
        if (!options.service) service.close();
        throw e;
      }
      app.log.warn(`no history: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  app.addHook('onClose', async () => history?.close());

  const maxRows = options.maxRows ?? MAX_ROWS;
  const schema = await tcpdirSchema();
  // Rejections are reported as validation errors (400, GRAPHQL_VALIDATION_FAILED); armor's
  // default is to throw, which Apollo would turn into a 500.
  const validationRules = [
    maxDepthRule({ n: options.maxDepth ?? 10, exposeLimits: true, propagateOnRejection: false, onReject: [reportRejection] }),
    costLimitRule({ maxCost: options.maxCost ?? 5000, exposeLimits: true, propagateOnRejection: false, onReject: [reportRejection] }),
  ];
  const apollo = new ApolloServer<RequestContext>({
    schema,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    // Apollo would otherwise catch SIGTERM itself and close Fastify at once, resetting requests
    // still in the accept queue; shutdown belongs to TcpdirServer.close() (the CLI calls it).
    stopOnTerminationSignals: false,
    validationRules,
    formatError: (formatted, error) => formatError(formatted, error, (e) => app.log.error({ err: e }, 'resolver failed')),
    // Cache-control hints are unused (answers are live state); the plugin's per-field hook would
    // wrap every resolver, a tenth of the time of a 100k-row answer.
    plugins: [fastifyApolloDrainPlugin(app), ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled()],
  });
  await apollo.start();

  if (token) registerAuth(app, token, isPublicPage);
  registerConsole(app);
  if (options.rateLimit && options.rateLimit > 0) {
    await app.register(rateLimit, {
      max: options.rateLimit,
      timeWindow: '1 minute',
      // The plugin throws what this returns, so it reaches the error handler below: give it the
      // statusCode/code/message that handler turns into the usual error envelope.
      errorResponseBuilder: (_req, ctx) => ({
        statusCode: 429,
        code: 'RATE_LIMITED',
        message: `more than ${ctx.max} requests per minute; retry in ${ctx.after}`,
      }),
    });
  }
  // Bodies are read as sent: a gzip one failed as "not valid JSON" and a mislabelled plain one was
  // read. A coded body is refused, saying which coding is taken (RFC 9110, 15.5.16).
  app.addHook('preParsing', async (req, reply, payload) => {
    const coding = req.headers['content-encoding'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      reply.header('accept-encoding', 'identity');
      throw Object.assign(new Error('send the body without a Content-Encoding'), { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    return payload;
  });
  app.setErrorHandler((e, _req, reply) => {
    // Body too large, malformed JSON and the like are the client's (4xx); never a 500 for them.
    const { status, body } = publicError(e as { statusCode?: number; code?: string; message: string });
    if (status === 500) app.log.error({ err: e }, 'request failed');
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((_req, reply) => {
    sendError(reply, 404, 'NOT_FOUND', 'no such route; /api/openapi.json lists them');
  });

  // Big `connections` answers over GraphQL leave page by page, as REST lists do (graphql-paging.ts).
  // A document run in parts is first validated whole, with the same rules as Apollo's.
  const wholeValid = new WeakMap<DocumentNode, boolean>();
  const validateWhole = (doc: DocumentNode): boolean => {
    let ok = wholeValid.get(doc);
    if (ok === undefined) wholeValid.set(doc, (ok = validate(schema, doc, [...specifiedRules, ...validationRules]).length === 0));
    return ok;
  };
  app.addHook('preHandler', async (req, reply) => {
    if (req.method !== 'POST' || req.routeOptions.url !== '/graphql') return;
    if (await sendPagedQuery(req.body, apollo, requestContext(service, maxRows, history, fromPeer(req)), reply, validateWhole, schema)) return reply;
  });
  await app.register(fastifyApollo(apollo), { context: async (req) => requestContext(service, maxRows, history, fromPeer(req)) });
  registerRest(app, apollo, compiledDocuments(schema), service, maxRows, history);
  registerEvents(app, history);
  const metrics = registerMetrics(app, service, { topListeners: options.metricsTopListeners, perNetns: options.metricsPerNetns, maxAgeMs: options.metricsMaxAgeMs });
  if (history) {
    const counters = metrics.connectionEvents();
    history.tally((type, direction, n) => (type === 'OPENED' ? counters.opened(direction, n) : counters.closed(direction, n)));
  }
  let otlp: OtlpExport | null = null;
  if (otlpCfg) {
    if (otlpCfg.logs && !history) app.log.warn('OTLP: no connection events without history (--no-history); metrics only');
    otlp = await startOtlpExport({
      service, history, registry: metrics.registry,
      onStatus: (signal, error) => (error ? app.log.warn({ signal }, `OTLP export failing: ${error}`) : app.log.info({ signal }, 'OTLP export works again')),
    }, otlpCfg);
    app.log.info({ logs: otlpCfg.logs?.url ?? null, metrics: otlpCfg.metrics?.url ?? null }, 'OTLP export on');
    // Before the history closes: what is queued is sent (at most 3 s) after the last event.
    app.addHook('preClose', async () => otlp?.close());
  }
  // For a draining close(): when the last connection arrived, and how many requests are open.
  let connections = 0;
  let inFlight = 0;
  app.addHook('onRequest', async () => {
    inFlight++;
  });
  app.addHook('onResponse', async () => {
    inFlight = Math.max(0, inFlight - 1);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Its `servers` entry names the port bound (with --port 0, the one the kernel chose): made on
  // the first request once the server listens.
  let openapi: ReturnType<typeof openApiDocument> | null = null;
  app.get('/api/openapi.json', async () => {
    if (openapi) return openapi;
    const bound = app.server.address();
    const doc = openApiDocument(schema, { version: VERSION, maxRows, bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT, host, port: typeof bound === 'object' && bound ? bound.port : port });
    if (bound) openapi = doc;
    return doc;
  });
  // After the last route: the other methods of each path answer 405.
  routeTable.close();
  await app.ready();
  const closeSubscriptions = registerSubscriptions(app.server, schema, () => requestContext(service, maxRows, history), token, (err) => app.log.error({ err }, 'subscription failed'), options.bodyLimit ?? DEFAULT_BODY_LIMIT);
  app.addHook('preClose', async () => closeSubscriptions());
  app.server.on('connection', () => {
    connections++;
  });

  return {
    server: app.server,
    app,
    service,
    metrics,
    otlp,
    routes: routeTable.routes,
    async listen() {
      assertSafeBind(host, token);
      return app.listen({ host, port });
    },
    async close() {
      // A connection still in the accept queue, or accepted with its request bytes unread because
      // the loop was busy (a snapshot), looks idle to Node and would be reset by close(). So first
      // wait, up to 5 s, for three checks in a row, each after a poll phase of the loop (timers run
      // before polling, so wall time alone says nothing after a long block), that saw no new
      // connection and no request in flight: then every request a client had sent is answered.
      const deadline = Date.now() + 5000;
      let quiet = 0;
      let seen = connections;
      while (quiet < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        quiet = connections === seen && inFlight === 0 ? quiet + 1 : 0;
        seen = connections;
      }
      await app.close();
    },
  };
}
