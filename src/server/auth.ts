import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sendError } from './http-errors';

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
    return sendError(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', 'missing or wrong bearer token');
  });
}
