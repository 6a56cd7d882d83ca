import { getNamedType, isEnumType, type GraphQLArgument, type GraphQLSchema } from 'graphql';
import { DOCUMENTS } from './documents';
import { EVENT_PARAMS } from './events';
import { ERROR_CODES } from './http-errors';
import { SchemaComponents, type JsonSchema } from './json-schema';
import { REST_ROUTES } from './rest';
import { ENDPOINT_PATTERN, MAX_STRING, type ParamKind, type ParamSpec } from './rest-params';

export interface OpenApiOptions {
  version: string;
  /** The server's rows per request: the largest `limit` of a paged list. */
  maxRows: number;
  /** Largest request body, bytes. */
  bodyLimit: number;
  host: string;
  port: number;
}

type Tag = 'connections' | 'listeners' | 'host' | 'history' | 'graphql' | 'operations';

const TAGS: Record<Tag, string> = {
  connections: 'Established (non-listening) TCP connections and their verdicts.',
  listeners: 'Listening sockets.',
  host: 'The host, its network namespaces, and how they were read.',
  history: 'Connection lives recorded while tcpdir ran (404 HISTORY_OFF with --no-history).',
  graphql: 'The GraphQL endpoint every /api/v1 route mirrors.',
  operations: 'Health, metrics and this document.',
};

/** Error statuses: their meaning, and the codes each carries. */
const ERRORS: Record<number, { description: string; codes: Array<keyof typeof ERROR_CODES> }> = {
  400: { description: 'A bad parameter (named in error.parameter) or a malformed request.', codes: ['BAD_USER_INPUT', 'BAD_REQUEST'] },
  401: { description: 'Missing or wrong bearer token (when the server has one).', codes: ['UNAUTHENTICATED'] },
  404: { description: 'Not found.', codes: ['NOT_FOUND'] },
  413: { description: 'The body is over the server\'s limit.', codes: ['PAYLOAD_TOO_LARGE'] }, // with the limit, in errorResponses
  414: { description: 'A path segment is over 200 characters.', codes: ['URI_TOO_LONG'] },
  415: { description: 'The body is not application/json, or has a Content-Encoding (only identity is taken).', codes: ['UNSUPPORTED_MEDIA_TYPE'] },
  429: { description: 'Over the per-client request rate (--rate-limit); Retry-After says when to retry.', codes: ['RATE_LIMITED'] },
  500: { description: 'tcpdir failed; the log has the detail.', codes: ['INTERNAL_SERVER_ERROR'] },
};

/**
 * A route that runs no stored document; one entry each. `ok` is its 200 body: a content type
 * and a schema, or a function making it from the GraphQL types.
 */
interface PlainOperation {
  path: string;
  method: 'get' | 'post';
  operationId: string;
  tag: Tag;
  summary: string;
  description?: string;
  params?: ParamSpec;
  /** Header parameters, as OpenAPI parameter objects. */
  headers?: JsonSchema[];
  /** GraphQL arguments that describe `params` by name. */
  argsFrom?: { type: 'Query' | 'Subscription'; field: string };
  ok: { contentType: string; schema: JsonSchema | ((c: SchemaComponents) => JsonSchema) };
  errors: number[];
  /** 404 when history is off, or this description. */
  notFound?: string;
  open?: boolean;
  requestBody?: JsonSchema;
  /** Its 400s are GraphQL responses (errors, no data) when GraphQL refused the request. */
  graphql?: boolean;
}

const GRAPHQL_REQUEST: JsonSchema = {
  type: 'object', required: ['query'],
  properties: {
    query: { type: 'string', description: 'The GraphQL document.' },
    variables: { type: ['object', 'null'], additionalProperties: true },
    operationName: { type: ['string', 'null'] },
    extensions: { type: ['object', 'null'], additionalProperties: true },
  },
};

const GRAPHQL_RESPONSE: JsonSchema = {
  type: 'object', additionalProperties: false,
  description: 'A GraphQL response: data (null where a field failed), and errors with extensions.code (BAD_USER_INPUT names extensions.parameter).',
  properties: {
    data: { type: ['object', 'null'], additionalProperties: true },
    errors: {
      type: 'array',
      items: {
        type: 'object', required: ['message'],
        properties: {
          message: { type: 'string' },
          locations: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, column: { type: 'integer' } } } },
          path: { type: 'array', items: { type: ['string', 'integer'] } },
          extensions: { type: 'object', properties: { code: { type: 'string' }, parameter: { type: 'string' } }, additionalProperties: true },
        },
      },
    },
    extensions: { type: 'object', additionalProperties: true },
  },
};
const GRAPHQL_REF = { $ref: '#/components/schemas/GraphQLResponse' };

export const PLAIN_OPERATIONS: readonly PlainOperation[] = [
  {
    path: '/api/v1/events', method: 'get', operationId: 'events', tag: 'history', params: EVENT_PARAMS, argsFrom: { type: 'Subscription', field: 'connectionEvents' },
    summary: 'Connection lives as they open and close, as Server-Sent Events.',
    description: 'event: OPENED, CLOSED or VERDICT_CHANGED; data: a ConnectionEventData (the history record with type and at). A reader that falls 4 MiB behind gets `event: dropped` and is disconnected.',
    ok: { contentType: 'text/event-stream', schema: (c) => ({ type: 'string', description: 'SSE frames; each data line is a ConnectionEventData (JSON).', contentSchema: eventData(c) }) },
    errors: [400, 401, 404, 429, 500], notFound: 'history',
  },
  {
    path: '/graphql', method: 'post', operationId: 'graphql', tag: 'graphql', summary: 'Run a GraphQL query (the schema is schema.graphql, and introspection is on).',
    description: 'A bad argument nulls its field only (partial result, 200); a document that fails validation or whose variables cannot be coerced answers 400 with errors and no data.',
    ok: { contentType: 'application/json', schema: GRAPHQL_REF }, requestBody: GRAPHQL_REQUEST, errors: [400, 401, 413, 415, 429, 500], graphql: true,
  },
  {
    path: '/graphql', method: 'get', operationId: 'graphqlGet', tag: 'graphql', summary: 'Run a GraphQL query given in the URL.',
    description: 'Browsers\' simple requests are refused (CSRF): send an `apollo-require-preflight` header (or a Content-Type other than a form\'s).',
    // A header, so that a client generated from this document sends it: without, the example is refused.
    headers: [{
      name: 'apollo-require-preflight', in: 'header', required: true, example: 'true', schema: { type: 'string', minLength: 1 },
      description: 'Any value: a browser sends it only after a CORS preflight, so the request is not a cross-site one (CSRF). `x-apollo-operation-name`, or a Content-Type other than a form\'s, does as well.',
    }],
    params: {
      query: { type: 'string', maxLength: 16_384, required: true, example: '{ summary { total } }', description: 'The GraphQL document.' },
      variables: { type: 'string', maxLength: 16_384, description: 'The variables, as JSON text.' },
      operationName: { type: 'string', maxLength: 16_384, description: 'Which operation of the document to run.' },
    },
    ok: { contentType: 'application/json', schema: GRAPHQL_REF }, errors: [400, 401, 429, 500], graphql: true,
  },
  {
    path: '/healthz', method: 'get', operationId: 'health', tag: 'operations', summary: 'Liveness: answers while the server runs (no token needed).', open: true,
    ok: { contentType: 'application/json', schema: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } }, additionalProperties: false } },
    errors: [429],
  },
  {
    path: '/metrics', method: 'get', operationId: 'metrics', tag: 'operations', summary: 'Prometheus metrics (text exposition format 0.0.4; docs/metrics.md lists them).',
    ok: { contentType: 'text/plain', schema: { type: 'string' } }, errors: [401, 429, 500],
  },
  {
    path: '/api/openapi.json', method: 'get', operationId: 'openapi', tag: 'operations', summary: 'This document.',
    ok: {
      contentType: 'application/json',
      schema: { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { type: 'string' }, info: { type: 'object' }, paths: { type: 'object' } } },
    },
    errors: [401, 429],
  },
];

/** An SSE event's data: the full history record, its event type and time. */
function eventData(c: SchemaComponents): JsonSchema {
  const record = c.schemas[refName(c.ofType('HistoryRecord'))];
  const event = c.ofType('ConnectionEvent') as { $ref: string };
  const props = (c.schemas[refName(event)] as { properties: Record<string, JsonSchema> }).properties;
  delete c.schemas[refName(event)]; // only its type and at are used
  c.schemas.ConnectionEventData = {
    type: 'object',
    description: 'The data of an event of /api/v1/events: the history record, with its event type and time.',
    properties: { ...(record.properties as object), type: props.type, at: props.at },
    required: [...(record.required as string[]), 'type', 'at'],
    additionalProperties: false,
  };
  return { $ref: '#/components/schemas/ConnectionEventData' };
}

function refName(s: JsonSchema): string {
  return String(s.$ref).split('/').pop()!;
}

/** A query parameter's schema, as parseParams enforces it. */
function paramSchema(k: ParamKind, def: unknown, maxOverride?: number): JsonSchema {
  const withDefault = (s: JsonSchema): JsonSchema => (def === undefined || def === null ? s : { ...s, default: def });
  switch (k.type) {
    case 'int':
      return withDefault({ type: 'integer', format: 'int32', minimum: k.min, maximum: maxOverride ?? k.max });
    case 'float':
      return withDefault({ type: 'number', minimum: k.min, maximum: k.max });
    case 'bool':
      return withDefault({ type: 'boolean' });
    case 'enum':
      return withDefault({ type: 'string', enum: [...k.values] });
    case 'list':
      return withDefault({ type: 'array', minItems: 1, items: k.values ? { type: 'string', enum: [...k.values] } : { type: 'string' } });
    case 'endpoint':
      return { type: 'string', pattern: ENDPOINT_PATTERN };
    case 'string':
      return withDefault({ type: 'string', minLength: 1, maxLength: k.maxLength ?? MAX_STRING });
  }
}

function parameters(spec: ParamSpec, args: readonly GraphQLArgument[], maxLimit?: number): JsonSchema[] {
  return Object.entries(spec).map(([name, k]) => {
    const arg = args.find((a) => a.name === name);
    const anyCase = k.type === 'enum' || (arg && isEnumType(getNamedType(arg.type))) ? ' Any case is accepted.' : '';
    const description = `${k.description ?? arg?.description ?? ''}${anyCase}`.trim() || undefined;
    const example = k.type === 'list' && typeof k.example === 'string' ? k.example.split(',') : k.example;
    return {
      name, in: 'query', required: k.required === true, description,
      ...(k.type === 'list' ? { style: 'form', explode: false } : {}),
      schema: paramSchema(k, arg?.defaultValue, name === 'limit' ? maxLimit : undefined),
      ...(example === undefined ? {} : { example }),
    };
  });
}

function errorResponses(statuses: number[], bodyLimit: number, notFound?: string, graphql = false): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const status of statuses) {
    const e = ERRORS[status];
    const description = status === 404 && notFound
      ? (notFound === 'history' ? 'History is off on this server (HISTORY_OFF).' : `${notFound[0].toUpperCase()}${notFound.slice(1)} (NOT_FOUND).`)
      : status === 413 ? `The body is over this server's limit, ${bodyLimit} bytes.` : e.description;
    const code = status === 404 && notFound === 'history' ? 'HISTORY_OFF' : graphql && status === 400 ? 'BAD_REQUEST' : e.codes[0];
    const message = code === 'BAD_USER_INPUT' ? 'unknown parameter "bogus"' : code === 'BAD_REQUEST' ? 'the body is not valid JSON' : description;
    const schema = graphql && status === 400 ? { anyOf: [{ $ref: '#/components/schemas/Error' }, GRAPHQL_REF] } : { $ref: '#/components/schemas/Error' };
    out[status] = {
      description: graphql && status === 400 ? `${description} GraphQL's own refusals (parse, validation, variables) are GraphQL responses.` : description,
      content: { 'application/json': { schema, example: { error: { code, message, parameter: code === 'BAD_USER_INPUT' ? 'bogus' : null } } } },
    };
  }
  return out;
}

/**
 * OpenAPI 3.1 description of every HTTP route, built at start-up from the same route tables the
 * server uses and from the built GraphQL schema (answers' schemas, parameter descriptions and
 * defaults), so the contract is the code.
 */
export function openApiDocument(schema: GraphQLSchema, opts: OpenApiOptions): object {
  const components = new SchemaComponents(schema);
  components.reserve(REST_ROUTES.map((r) => DOCUMENTS[r.document]));
  const paths: Record<string, Record<string, object>> = {};
  const add = (path: string, method: string, op: object): void => {
    paths[path] = { ...paths[path], [method]: op };
  };
  for (const r of REST_ROUTES) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const { field, schema: body } = components.ofDocument(DOCUMENTS[r.document]);
    const pathParams = [...r.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1], in: 'path', required: true, description: field.args.find((a) => a.name === m[1])?.description ?? undefined,
      schema: { type: 'string', minLength: 1, maxLength: 200 },
    }));
    const history = r.tag === 'history';
    add(path, 'get', {
      operationId: r.document, tags: [r.tag], summary: r.summary,
      description: `${field.description ?? ''}\n\nRuns the GraphQL field \`${r.document}\`; the body is that field's data${r.notFound ? ' (404 when it is null)' : ''}.`.trim(),
      parameters: [...pathParams, ...parameters(r.params, field.args, r.paged ? opts.maxRows : undefined)],
      responses: {
        200: { description: `The data of GraphQL \`${r.document}\`.`, content: { 'application/json': { schema: body } } },
        ...errorResponses([400, 401, ...(r.notFound || history ? [404] : []), ...(pathParams.length ? [414] : []), 429, 500], opts.bodyLimit, history ? 'history' : r.notFound),
      },
    });
  }
  for (const o of PLAIN_OPERATIONS) {
    const args = o.argsFrom ? (o.argsFrom.type === 'Query' ? schema.getQueryType() : schema.getSubscriptionType())!.getFields()[o.argsFrom.field].args : [];
    add(o.path, o.method, {
      operationId: o.operationId, tags: [o.tag], summary: o.summary, description: o.description,
      ...(o.open ? { security: [] } : {}),
      parameters: [...(o.headers ?? []), ...(o.params ? parameters(o.params, args) : [])],
      ...(o.requestBody ? { requestBody: { required: true, content: { 'application/json': { schema: o.requestBody } } } } : {}),
      responses: {
        200: { description: o.summary, content: { [o.ok.contentType]: { schema: typeof o.ok.schema === 'function' ? o.ok.schema(components) : o.ok.schema } } },
        ...errorResponses(o.errors, opts.bodyLimit, o.notFound, o.graphql),
      },
    });
  }
  components.schemas.GraphQLResponse = GRAPHQL_RESPONSE;
  components.schemas.Error = {
    type: 'object', required: ['error'], additionalProperties: false,
    description: 'Every error of a /api route, /healthz, /metrics, and those of /graphql that come before GraphQL (body, content type).',
    properties: {
      error: {
        type: 'object', required: ['code', 'message', 'parameter'], additionalProperties: false,
        properties: {
          code: { type: 'string', enum: Object.keys(ERROR_CODES), description: Object.entries(ERROR_CODES).map(([c, d]) => `${c}: ${d}`).join('\n') },
          message: { type: 'string', description: 'For people; never echoes the URL.' },
          parameter: { type: ['string', 'null'], description: 'The query parameter at fault (BAD_USER_INPUT), by its REST name.' },
        },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'tcpdir', version: opts.version,
      description: 'Which way every TCP connection of this host was opened, how sure that is, and why. Every /api/v1 route runs a stored GraphQL query of /graphql; its body is that field\'s data.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{
      url: 'http://{host}:{port}', description: 'tcpdir serve (--host, --port)',
      variables: { host: { default: opts.host.includes(':') ? `[${opts.host}]` : opts.host }, port: { default: String(opts.port || 4000) } },
    }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearer: [] }, {}],
    paths,
    components: { schemas: components.schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Needed when the server has a token (--token, $TCPDIR_TOKEN).' } } },
  };
}
