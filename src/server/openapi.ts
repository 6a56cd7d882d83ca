import type { ParamSpec } from './rest-params';
import { REST_ROUTES } from './rest';
import { EVENT_PARAMS } from './events';

const ERROR = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, parameter: { type: ['string', 'null'] } } } },
};

function parameters(spec: ParamSpec): object[] {
  return Object.entries(spec).map(([name, k]) => ({
    name,
    in: 'query',
    required: false,
    schema:
      k.type === 'int' ? { type: 'integer' } : k.type === 'float' ? { type: 'number' } : k.type === 'enum' ? { type: 'string', enum: k.values } : k.type === 'string' ? { type: 'string' } : k.type === 'bool' ? { type: 'boolean' } : k.type === 'list' ? { type: 'string', description: 'comma-separated' } : { type: 'string', example: '127.0.0.1:8080' },
  }));
}

/** OpenAPI 3.1 description of the REST mirror, built from the same route table the server uses. */
export function openApiDocument(version: string): object {
  const paths: Record<string, object> = {};
  for (const r of REST_ROUTES) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const pathParams = [...r.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] = {
      get: {
        summary: r.summary,
        description: `Runs the GraphQL field \`${r.document}\`; the body is that field's data.`,
        parameters: [...pathParams, ...parameters(r.params)],
        responses: {
          200: { description: 'The GraphQL field data' },
          400: { description: 'A bad parameter, named in error.parameter', content: { 'application/json': { schema: ERROR } } },
          401: { description: 'Missing or wrong bearer token (when the server has one)' },
          ...(r.notFound ? { 404: { description: r.notFound } } : {}),
        },
      },
    };
  }
  paths['/api/v1/events'] = {
    get: {
      summary: 'Connection lives as they open and close, as Server-Sent Events (event: OPENED, CLOSED, VERDICT_CHANGED; data: the history record with type and at). A reader that falls 4 MiB behind gets event: dropped and is disconnected.',
      parameters: parameters(EVENT_PARAMS),
      responses: {
        200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        400: { description: 'A bad parameter, named in error.parameter', content: { 'application/json': { schema: ERROR } } },
        401: { description: 'Missing or wrong bearer token (when the server has one)' },
        404: { description: 'History is off on this server (HISTORY_OFF)', content: { 'application/json': { schema: ERROR } } },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'tcpdir REST mirror', version, description: 'Every route mirrors a GraphQL query at /graphql.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }, {}],
    paths,
  };
}
