import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sendError } from './http-errors';

const OPEN_PATHS = new Set(['/healthz']);

/** With a token, every route but /healthz needs `Authorization: Bearer <token>`. */
export function registerAuth(app: FastifyInstance, token: string): void {
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook('onRequest', async (req, reply) => {
    if (OPEN_PATHS.has(req.url.split('?')[0])) return;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return;
    return sendError(reply.header('www-authenticate', 'Bearer'), 401, 'UNAUTHENTICATED', 'missing or wrong bearer token');
  });
}
