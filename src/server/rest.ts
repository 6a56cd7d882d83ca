import type { ApolloServer } from '@apollo/server';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { FLOW_GROUPS, MAX_FLOW_LIMIT, MAX_HISTORY_LIMIT } from '../history';
import { DIRECTIONS, MAX_LIMIT, TCP_STATE_NAMES } from '../model';
import { ConnectionOrder } from '../schema';
import { connectionPage, MAX_ROWS, requestContext, type RequestContext } from '../resolvers';
import { InputError, type HistoryService, type TcpdirService } from '../service';
import { DOCUMENTS, type DocumentName } from './documents';
import { sendError } from './http-errors';
import { CHUNKS_AHEAD, jsonPages, jsonRowPages, PAGE_ROWS } from './paging';
import { requestRowWriter, rowSelection } from './row-writer';
import type { RunDocument } from './compiled-documents';
import { CONFIDENCE, INT32_MAX, parseParams, PORT, type ParamSpec } from './rest-params';

// No example: a namespace id or name exists on one host only (an unknown one is a 400).
const NETNS = { type: 'string' } as const;
const TIME_SINCE = { type: 'string', example: '1h' } as const;
const TIME_UNTIL = { type: 'string', example: '5m' } as const;
const DIRECTION = { type: 'enum', values: DIRECTIONS, example: 'INBOUND' } as const;
// A command (comm: at most 15 characters) or a pid; the service refuses longer than 64.
const PROCESS = { type: 'string', maxLength: 64 } as const;

const FILTER: ParamSpec = {
  direction: DIRECTION,
  port: { ...PORT, example: 8080 },
  localPort: { ...PORT, example: 8080 },
  remotePort: { ...PORT, example: 51000 },
  minConfidence: { ...CONFIDENCE, example: 0.9 },
  // Connections are never LISTEN sockets (those are /api/v1/listeners).
  state: { type: 'enum', values: TCP_STATE_NAMES.filter((s) => s !== 'LISTEN'), example: 'ESTABLISHED' },
  netns: NETNS,
  remoteAddress: { type: 'string', example: '127.0.0.0/8' },
  process: PROCESS,
};

const HISTORY_DOCUMENTS = new Set<string>(['history', 'flows', 'historyStatus', 'historyGaps']);

export interface RestRoute {
  path: string;
  document: DocumentName;
  params: ParamSpec;
  summary: string;
  /** Group in /api/openapi.json. */
  tag: 'connections' | 'listeners' | 'host' | 'history';
  /** Extra variables from the path, or variables reshaped from parameters. */
  variables?: (params: Record<string, unknown>, path: Record<string, string>) => Record<string, unknown>;
  /** 404 when the field is null. */
  notFound?: string;
  /** GraphQL arguments that are parts of a REST parameter: errors name the REST parameter. */
  partOf?: Record<string, string>;
  /** A list with limit/offset: big answers are streamed page by page (see jsonPages). */
  paged?: boolean;
}

/** The REST mirror, one entry a route: the server and /api/openapi.json are both made from it. */
export const REST_ROUTES: readonly RestRoute[] = [
  {
    path: '/api/v1/connections', document: 'connections', tag: 'connections', summary: 'Connections with their verdicts, filtered and paged.', paged: true,
    params: {
      ...FILTER, limit: { type: 'int', min: 0, max: MAX_LIMIT, example: 100 }, offset: { type: 'int', min: 0, max: INT32_MAX, example: 0 },
      orderBy: { type: 'enum', values: Object.values(ConnectionOrder), example: 'LOCAL' }, descending: { type: 'bool' },
    },
  },
  { path: '/api/v1/connection-count', document: 'connectionCount', tag: 'connections', params: FILTER, summary: 'How many connections match the filter.' },
  {
    path: '/api/v1/connections/:id', document: 'connection', tag: 'connections', params: {}, summary: 'One connection by id.',
    variables: (_p, path) => ({ id: path.id }), notFound: 'no connection with this id',
  },
  { path: '/api/v1/listeners', document: 'listeners', tag: 'listeners', params: { port: { ...PORT, example: 8080 }, netns: NETNS }, summary: 'Listening sockets.' },
  {
    path: '/api/v1/verdict', document: 'verdict', tag: 'connections',
    params: {
      local: { type: 'endpoint', required: true, example: '127.0.0.1:8080', description: 'The local end, ADDRESS:PORT (IPv6 as [ADDRESS]:PORT). IPv4 text also finds an IPv4-mapped IPv6 socket.' },
      remote: { type: 'endpoint', required: true, example: '127.0.0.1:51000', description: 'The peer end, ADDRESS:PORT (IPv6 as [ADDRESS]:PORT).' },
    },
    summary: 'The verdict of one connection, by local=ADDR:PORT and remote=ADDR:PORT (IPv6 as [ADDR]:PORT).',
    variables: (p) => {
      const [la, lp] = p.local as [string, number];
      const [ra, rp] = p.remote as [string, number];
      return { localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp };
    },
    notFound: 'no connection with this local and remote endpoint',
    partOf: { localAddress: 'local', localPort: 'local', remoteAddress: 'remote', remotePort: 'remote' },
  },
  { path: '/api/v1/summary', document: 'summary', tag: 'connections', params: { minConfidence: { ...CONFIDENCE, example: 0.9 }, netns: NETNS }, summary: 'Connections by direction.' },
  { path: '/api/v1/namespaces', document: 'namespaces', tag: 'host', params: {}, summary: 'Every network namespace covered, how each was read, and which could not be.' },
  { path: '/api/v1/host', document: 'host', tag: 'host', params: {}, summary: 'Where and when the snapshot was taken.' },
  { path: '/api/v1/tracked-flows', document: 'trackedFlows', tag: 'host', params: { netns: NETNS, limit: { type: 'int', min: 0, max: MAX_LIMIT, example: 100 } }, summary: 'Flows conntrack tracks that no socket read here belongs to (forwarded or out of sight), with their opener.' },
  {
    path: '/api/v1/history', document: 'history', tag: 'history', summary: 'Connections that opened or closed while tcpdir ran, newest first; the next page with after=<next>.',
    params: {
      since: TIME_SINCE, until: TIME_UNTIL, direction: DIRECTION, port: { ...PORT, example: 8080 }, localPort: { ...PORT, example: 8080 },
      remotePort: { ...PORT, example: 51000 }, remoteAddress: { type: 'string', example: '10.0.0.0/8' }, process: { ...PROCESS, example: 'nginx' },
      netns: NETNS, minConfidence: { ...CONFIDENCE, example: 0.9 }, open: { type: 'bool', example: false },
      limit: { type: 'int', min: 1, max: MAX_HISTORY_LIMIT, example: 100 }, after: { type: 'string', example: 'WzE3NjUwMDAwMDAwMDAsMV0' },
    },
  },
  {
    path: '/api/v1/flows', document: 'flows', tag: 'history', summary: 'Connection lives per minute, grouped (groupBy=direction,localPort,...).',
    params: {
      since: TIME_SINCE, until: TIME_UNTIL, groupBy: { type: 'list', values: FLOW_GROUPS, example: 'direction,localPort' }, direction: DIRECTION,
      port: { ...PORT, example: 8080 }, netns: NETNS, limit: { type: 'int', min: 1, max: MAX_FLOW_LIMIT, example: 100 },
    },
  },
  {
    path: '/api/v1/history/gaps', document: 'historyGaps', tag: 'history', params: { since: TIME_SINCE, until: TIME_UNTIL },
    summary: 'Where history is incomplete: lost events, times tcpdir was not recording.',
  },
  { path: '/api/v1/history/status', document: 'historyStatus', tag: 'history', params: {}, summary: 'The history recorder: mode, what it may miss, store health.' },
];

/** The REST mirror: each route runs its stored GraphQL document and answers with that field's data. */
export function registerRest(
  app: FastifyInstance, apollo: ApolloServer<RequestContext>, runDocument: RunDocument, service: TcpdirService, maxRows = MAX_ROWS, history: HistoryService | null = null,
): void {
  for (const route of REST_ROUTES) {
    app.get(route.path, async (req, reply) => {
      if (HISTORY_DOCUMENTS.has(route.document) && !history) {
        return sendError(reply, 404, 'HISTORY_OFF', 'history is off on this server (started with --no-history)');
      }
      let variables: Record<string, unknown>;
      try {
        const params = parseParams(req.query as Record<string, unknown>, route.params);
        variables = route.variables ? route.variables(params, req.params as Record<string, string>) : params;
      } catch (e) {
        if (e instanceof InputError) return sendError(reply, 400, 'BAD_USER_INPUT', e.message, e.parameter);
        throw e;
      }
      // One context for every page of an answer: it pins one snapshot, so pages never overlap or skip.
      const contextValue = requestContext(service, maxRows, history);
      const run = (v: Record<string, unknown>) => apollo.executeOperation({ query: DOCUMENTS[route.document], variables: v }, { contextValue });
      const limit = typeof variables.limit === 'number' ? variables.limit : PAGE_ROWS;
      // A REST list is one list: a limit above the row budget is refused up front, not cut short mid-stream.
      if (route.paged === true && limit > maxRows) {
        return sendError(reply, 400, 'BAD_USER_INPUT', `limit must be at most ${maxRows} on this server (its rows per request), got ${limit}`, 'limit');
      }
      const offset = typeof variables.offset === 'number' ? variables.offset : 0;
      const paging = route.paged === true && limit > PAGE_ROWS;
      const res = await run(paging ? { ...variables, limit: PAGE_ROWS } : variables);
      if (res.body.kind !== 'single') throw new Error('unexpected incremental result');
      const { data, errors } = res.body.singleResult;
      if (errors?.length) {
        const e = errors[0];
        const code = String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
        if (code === 'INTERNAL_SERVER_ERROR') return sendError(reply, 500, 'INTERNAL_SERVER_ERROR', e.message);
        const named = typeof e.extensions?.parameter === 'string' ? e.extensions.parameter : null;
        const parameter = named === null ? null : (route.partOf?.[named] ?? named);
        // A stored document is valid, so a failing one has a bad value: BAD_USER_INPUT is GraphQL's word for that.
        return sendError(reply, 400, code === 'BAD_USER_INPUT' ? code : 'BAD_REQUEST', e.message, parameter);
      }
      if (paging) {
        const first = data?.[route.document] as unknown[];
        if (first.length < PAGE_ROWS) return first;
        const field = route.document;
        // Apollo ran the first page (and would have reported its errors); the rest, where the time
        // goes, run compiled. A failure then ends the body early: the headers are gone.
        const runPage = async (size: number, at: number): Promise<unknown[]> => {
          const r = await runDocument(route.document, { ...variables, limit: size, offset: at }, contextValue);
          if (r.errors?.length) throw new Error(`page at offset ${at} failed: ${r.errors.map((e) => e.message).join('; ')}`);
          return r.data?.[field] as unknown[];
        };
        const body = route.document === 'connections'
          // Connections' rows are written as bytes by the resolvers' own reads (row-writer.ts;
          // test/api/rest-paging.test.ts checks them against one GraphQL execution): a third of
          // the time and none of the result objects and strings of a compiled execution.
          ? jsonRowPages(first, (size, at) => connectionPage(contextValue, { ...variables, limit: size, offset: at }), await requestRowWriter(contextValue, CONNECTIONS_SELECTION), limit, offset)
          : jsonPages(first, runPage, limit, offset);
        return reply.type('application/json; charset=utf-8').send(Readable.from(body, { highWaterMark: CHUNKS_AHEAD }));
      }
      const value = data?.[route.document];
      if (value === null && route.notFound) return sendError(reply, 404, 'NOT_FOUND', route.notFound);
      return value;
    });
  }
}

/** The REST connections document's rows, selection and all. */
const CONNECTIONS_SELECTION = rowSelection(DOCUMENTS.connections);
