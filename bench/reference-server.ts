// The yardstick for bench:api: the same stack as tcpdir (Fastify 5, Apollo Server 5 via
// @as-integrations/fastify, a Fastify GET route running a stored document for REST) with a trivial
// SDL schema answering `connections(port, minConfidence)` from an in-memory map. What tcpdir costs
// beyond this is tcpdir's own request path.
// Usage: node dist/bench/reference-server.js <port> <rows.json>   (prints {"port":N} when listening)
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

const typeDefs = `#graphql
type Endpoint { address: String! port: Int! }
type Evidence { rule: String! favors: String! weight: Float! detail: String! conclusive: Boolean! }
type Verdict { direction: String! confidence: Float! inboundProbability: Float! certain: Boolean! evidence: [Evidence!]! }
type Connection { id: ID! family: String! state: String! local: Endpoint! remote: Endpoint! inode: String uid: Int verdict: Verdict! }
type Query { connections(port: Int, minConfidence: Float, limit: Int = 1000): [Connection!]! }
`;

export interface RefConnection {
  local: { port: number };
  remote: { port: number };
  verdict: { confidence: number };
  [k: string]: unknown;
}

export const REFERENCE_QUERY = `query Connections($port: Int, $minConfidence: Float, $limit: Int = 1000) {
  connections(port: $port, minConfidence: $minConfidence, limit: $limit) {
    id family state local { address port } remote { address port } inode uid
    verdict { direction confidence inboundProbability certain evidence { rule favors weight detail conclusive } } } }`;

/** A reference server over `rows`, indexed by local and remote port. Not listening yet. */
export async function createReferenceServer(rows: RefConnection[]): Promise<FastifyInstance> {
  const byPort = new Map<number, RefConnection[]>();
  const add = (p: number, r: RefConnection) => (byPort.get(p) ?? byPort.set(p, []).get(p)!).push(r);
  for (const r of rows) {
    add(r.local.port, r);
    if (r.remote.port !== r.local.port) add(r.remote.port, r);
  }
  const resolvers = {
    Query: {
      connections: (_: unknown, a: { port?: number | null; minConfidence?: number | null; limit: number }) => {
        const list = a.port == null ? rows : (byPort.get(a.port) ?? []);
        return list.filter((r) => a.minConfidence == null || r.verdict.confidence >= a.minConfidence).slice(0, a.limit);
      },
    },
  };
  const app = Fastify({ logger: { level: 'warn' }, bodyLimit: 64 * 1024 });
  const apollo = new ApolloServer({ typeDefs, resolvers, plugins: [fastifyApolloDrainPlugin(app)] });
  await apollo.start();
  await app.register(fastifyApollo(apollo));
  app.get('/api/v1/connections', async (req, reply) => {
    const q = req.query as Record<string, string>;
    const variables = { port: q.port === undefined ? null : Number(q.port), minConfidence: q.minConfidence === undefined ? null : Number(q.minConfidence) };
    const res = await apollo.executeOperation({ query: REFERENCE_QUERY, variables });
    if (res.body.kind !== 'single' || res.body.singleResult.errors) return reply.code(400).send(res.body);
    return res.body.singleResult.data?.connections;
  });
  await app.ready();
  return app;
}

if (require.main === module) {
  const [port, file] = process.argv.slice(2);
  const rows = JSON.parse(readFileSync(file, 'utf8')) as RefConnection[];
  createReferenceServer(rows)
    .then(async (app) => {
      await app.listen({ host: '127.0.0.1', port: Number(port) });
      process.stdout.write(`${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`);
      process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
