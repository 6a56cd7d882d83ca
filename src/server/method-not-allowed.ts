import type { FastifyInstance } from 'fastify';
import { sendError } from './http-errors';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * Records every route as it is registered (the hook must come before the routes, plugins
 * included). `close()`, called after the last route, answers the other methods of each path
 * with 405 and an `Allow` header instead of a 404; the routes it adds are not recorded.
 */
export function trackRoutes(app: FastifyInstance): { routes: ReadonlyMap<string, ReadonlySet<string>>; close(): void } {
  const routes = new Map<string, Set<string>>();
  let closed = false;
  app.addHook('onRoute', (r) => {
    if (closed) return;
    const set = routes.get(r.url) ?? new Set<string>();
    for (const m of [r.method].flat()) set.add(m);
    routes.set(r.url, set);
  });
  return {
    routes,
    close() {
      closed = true;
      for (const [url, methods] of routes) {
        const others = METHODS.filter((m) => !methods.has(m));
        if (others.length === 0) continue;
        const allow = METHODS.filter((m) => methods.has(m)).join(', ');
        app.route({
          method: others, url,
          handler: (req, reply) => sendError(reply.header('allow', allow), 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow}`),
        });
      }
    },
  };
}
