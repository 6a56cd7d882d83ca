import type { ApolloServer } from '@apollo/server';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DIRECTIONS, TCP_STATE_NAMES } from '../model';
import { ConnectionOrder } from '../schema';

const CONNECTION_ORDERS = Object.values(ConnectionOrder);
import { MAX_ROWS, requestContext, type RequestContext } from '../resolvers';
import { InputError, type HistoryService, type TcpdirService } from '../service';
import { DOCUMENTS, type DocumentName } from './documents';
import { jsonPages, PAGE_ROWS } from './paging';
import type { RunDocument } from './compiled-documents';
import { parseParams, type ParamSpec } from './rest-params';

const FILTER: ParamSpec = {
  direction: { type: 'enum', values: DIRECTIONS },
  port: { type: 'int' },
  localPort: { type: 'int' },
  remotePort: { type: 'int' },
  minConfidence: { type: 'float' },
  // Connections are never LISTEN sockets (those are /api/v1/listeners).
  state: { type: 'enum', values: TCP_STATE_NAMES.filter((s) => s !== 'LISTEN') },
  netns: { type: 'string' },
  remoteAddress: { type: 'string' },
  process: { type: 'string' },
};

const HISTORY_DOCUMENTS = new Set<string>(['history', 'flows', 'historyStatus', 'historyGaps']);

export interface RestRoute {
  path: string;
  document: DocumentName;
  params: ParamSpec;
  summary: string;
  /** Extra variables from the path, or variables reshaped from parameters. */
  variables?: (params: Record<string, unknown>, path: Record<string, string>) => Record<string, unknown>;
  /** 404 when the field is null. */
  notFound?: string;
  /** A list with limit/offset: big answers are streamed page by page (see jsonPages). */
  paged?: boolean;
}

export const REST_ROUTES: readonly RestRoute[] = [
  { path: '/api/v1/connections', document: 'connections', params: { ...FILTER, limit: { type: 'int' }, offset: { type: 'int' }, orderBy: { type: 'enum', values: CONNECTION_ORDERS }, descending: { type: 'bool' } }, summary: 'Connections with their verdicts, filtered and paged.', paged: true },
  { path: '/api/v1/connection-count', document: 'connectionCount', params: FILTER, summary: 'How many connections match the filter.' },
  {
    path: '/api/v1/connections/:id', document: 'connection', params: {}, summary: 'One connection by id.',
    variables: (_p, path) => ({ id: path.id }), notFound: 'no connection with this id',
  },
  { path: '/api/v1/listeners', document: 'listeners', params: { port: { type: 'int' }, netns: { type: 'string' } }, summary: 'Listening sockets.' },
  {
    path: '/api/v1/verdict', document: 'verdict', params: { local: { type: 'endpoint' }, remote: { type: 'endpoint' } },
    summary: 'The verdict of one connection, by local=ADDR:PORT and remote=ADDR:PORT (IPv6 as [ADDR]:PORT).',
    variables: (p) => {
      for (const name of ['local', 'remote']) if (!p[name]) throw new InputError(name, `${name} is required (ADDRESS:PORT)`);
      const [la, lp] = p.local as [string, number];
      const [ra, rp] = p.remote as [string, number];
      return { localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp };
    },
    notFound: 'no connection with this local and remote endpoint',
  },
  { path: '/api/v1/summary', document: 'summary', params: { minConfidence: { type: 'float' }, netns: { type: 'string' } }, summary: 'Connections by direction.' },
  { path: '/api/v1/namespaces', document: 'namespaces', params: {}, summary: 'Every network namespace covered, how each was read, and which could not be.' },
  { path: '/api/v1/host', document: 'host', params: {}, summary: 'Where and when the snapshot was taken.' },
  { path: '/api/v1/tracked-flows', document: 'trackedFlows', params: { netns: { type: 'string' }, limit: { type: 'int' } }, summary: 'Flows conntrack tracks that no socket read here belongs to (forwarded or out of sight), with their opener.' },
  {
    path: '/api/v1/history', document: 'history', summary: 'Connections that opened or closed while tcpdir ran, newest first; the next page with after=<next>.',
    params: {
      since: { type: 'string' }, until: { type: 'string' }, direction: { type: 'enum', values: DIRECTIONS }, port: { type: 'int' }, localPort: { type: 'int' },
      remotePort: { type: 'int' }, remoteAddress: { type: 'string' }, process: { type: 'string' }, netns: { type: 'string' }, minConfidence: { type: 'float' },
      open: { type: 'bool' }, limit: { type: 'int' }, after: { type: 'string' },
    },
  },
  {
    path: '/api/v1/flows', document: 'flows', summary: 'Connection lives per minute, grouped (groupBy=direction,localPort,...).',
    params: {
      since: { type: 'string' }, until: { type: 'string' }, groupBy: { type: 'list' }, direction: { type: 'enum', values: DIRECTIONS },
      port: { type: 'int' }, netns: { type: 'string' }, limit: { type: 'int' },
    },
  },
  { path: '/api/v1/history/gaps', document: 'historyGaps', params: { since: { type: 'string' }, until: { type: 'string' } }, summary: 'Where history is incomplete: lost events, times tcpdir was not recording.' },
  { path: '/api/v1/history/status', document: 'historyStatus', params: {}, summary: 'The history recorder: mode, what it may miss, store health.' },
];

function badRequest(reply: FastifyReply, code: string, message: string, parameter: string | null): FastifyReply {
  return reply.code(400).send({ error: { code, message, parameter } });
}

/** The REST mirror: each route runs its stored GraphQL document and answers with that field's data. */
export function registerRest(
  app: FastifyInstance, apollo: ApolloServer<RequestContext>, runDocument: RunDocument, service: TcpdirService, maxRows = MAX_ROWS, history: HistoryService | null = null,
): void {
  for (const route of REST_ROUTES) {
    app.get(route.path, async (req, reply) => {
      if (HISTORY_DOCUMENTS.has(route.document) && !history) {
        return reply.code(404).send({ error: { code: 'HISTORY_OFF', message: 'history is off on this server (started with --no-history)', parameter: null } });
      }
      let variables: Record<string, unknown>;
      try {
        const params = parseParams(req.query as Record<string, unknown>, route.params);
        variables = route.variables ? route.variables(params, req.params as Record<string, string>) : params;
      } catch (e) {
        if (e instanceof InputError) return badRequest(reply, e.code, e.message, e.parameter);
        throw e;
      }
      // One context for every page of an answer: it pins one snapshot, so pages never overlap or skip.
      const contextValue = requestContext(service, maxRows, history);
      const run = (v: Record<string, unknown>) => apollo.executeOperation({ query: DOCUMENTS[route.document], variables: v }, { contextValue });
      const limit = typeof variables.limit === 'number' ? variables.limit : PAGE_ROWS;
      // A REST list is one list: a limit above the row budget is refused up front, not cut short mid-stream.
      if (route.paged === true && limit > maxRows) {
        return badRequest(reply, 'BAD_USER_INPUT', `limit must be at most ${maxRows} on this server (its rows per request), got ${limit}`, 'limit');
      }
      const offset = typeof variables.offset === 'number' ? variables.offset : 0;
      const paging = route.paged === true && limit > PAGE_ROWS;
      const res = await run(paging ? { ...variables, limit: PAGE_ROWS } : variables);
      if (res.body.kind !== 'single') throw new Error('unexpected incremental result');
      const { data, errors } = res.body.singleResult;
      if (errors?.length) {
        const e = errors[0];
        const code = String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
        if (code === 'INTERNAL_SERVER_ERROR') return reply.code(500).send({ error: { code, message: e.message, parameter: null } });
        const parameter = typeof e.extensions?.parameter === 'string' ? e.extensions.parameter : null;
        return badRequest(reply, code, e.message, parameter);
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
        return reply.type('application/json; charset=utf-8').send(Readable.from(jsonPages(first, runPage, limit, offset)));
      }
      const value = data?.[route.document];
      if (value === null && route.notFound) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: route.notFound, parameter: null } });
      return value;
    });
  }
}
