import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const OPEN_PATHS = new Set(['/healthz']);

/**
 * With a token, every route but /healthz and the public pages (isPublic: the console's and
 * GraphiQL's HTML and bundles, which hold no data) needs `Authorization: Bearer <token>`.
 */
export function registerAuth(app: FastifyInstance, token: string, isPublic: (req: FastifyRequest) => boolean = () => false): void {
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook('onRequest', async (req, reply) => {
    if (OPEN_PATHS.has(req.url.split('?')[0]) || isPublic(req)) return;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: { code: 'UNAUTHENTICATED', message: 'missing or wrong bearer token', parameter: null } });
  });
}
