import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where scripts/build-web.mjs writes the bundles (dist/web, beside dist/src). */
export const WEB_ROOT = join(__dirname, '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf',
};

// Scripts, styles, fonts and API calls from this origin only (no CDN: hosts are often offline);
// no inline script, no framing, no plugins. connect-src 'self' covers the same-origin ws: of
// graphql-ws. GraphiQL's editor (CodeMirror 5) and its React components write style attributes
// in markup, so its page allows inline styles; the console's does not.
const CSP_BASE = "default-src 'none'; script-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
export const CONSOLE_CSP = `${CSP_BASE}; style-src 'self'`;
export const GRAPHIQL_CSP = `${CSP_BASE}; style-src 'self' 'unsafe-inline'`;

interface StaticFile { body: Buffer; gzip: Buffer | null; type: string }

/**
 * Reads and gzips each bundle once, on first request; null when it is not there. Pages (HTML) are
 * read on every request: a rebuild while the server runs names new bundles, and the pages must say so.
 */
class StaticFiles {
  private cache = new Map<string, StaticFile | null>();
  constructor(private readonly root: string) {}

  get(rel: string): StaticFile | null {
    let f = this.cache.get(rel);
    if (f !== undefined) return f;
    const page = rel.endsWith('.html');
    const path = normalize(join(this.root, rel));
    f = null;
    if (path.startsWith(this.root + sep) && existsSync(path)) {
      try {
        const body = readFileSync(path);
        const type = TYPES[extname(path)] ?? 'application/octet-stream';
        f = { body, type, gzip: /^(text|application\/json|image\/svg)/.test(type) && body.length > 1024 ? gzipSync(body) : null };
      } catch {
        f = null; // a directory, or unreadable
      }
    }
    if (!page) this.cache.set(rel, f);
    return f;
  }
}

function send(req: FastifyRequest, reply: FastifyReply, f: StaticFile, cache: string, csp?: string): FastifyReply {
  reply.header('content-type', f.type).header('cache-control', cache).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('vary', 'accept-encoding');
  if (csp) reply.header('content-security-policy', csp);
  if (f.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(f.gzip);
  return reply.send(f.body);
}

function notBuilt(reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'the web console is not built here (run npm run build)', parameter: null } });
}

/** A browser opening /graphql (it asks for HTML first): answered with GraphiQL, not by Apollo. */
export function wantsGraphiQL(req: FastifyRequest): boolean {
  if (req.method !== 'GET' || req.url.split('?')[0] !== '/graphql') return false;
  const accept = String(req.headers.accept ?? '');
  return /\btext\/html\b/.test(accept);
}

/** Pages and bundles hold no data: they are served without the bearer token (the API calls they make need it). */
export function isPublicPage(req: FastifyRequest): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = req.url.split('?')[0];
  return path === '/' || path.startsWith('/assets/') || wantsGraphiQL(req);
}

/**
 * The web console at / and its bundles under /assets/ (content-hashed names: cached for a year),
 * and GraphiQL on GET /graphql for a browser. Pages are revalidated on every visit (no-cache),
 * so a new build is picked up at once.
 */
export function registerConsole(app: FastifyInstance, root = WEB_ROOT): void {
  const files = new StaticFiles(root);
  app.addHook('onRequest', async (req, reply) => {
    if (!wantsGraphiQL(req)) return;
    const page = files.get('graphiql/index.html');
    if (!page) return notBuilt(reply);
    return send(req, reply, page, 'no-cache', GRAPHIQL_CSP);
  });
  app.get('/', async (req, reply) => {
    const page = files.get('console/index.html');
    return page ? send(req, reply, page, 'no-cache', CONSOLE_CSP) : notBuilt(reply);
  });
  app.get('/assets/*', async (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    const f = rel.includes('..') ? null : files.get(join('assets', rel));
    if (!f) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no asset ${rel.slice(0, 100)}`, parameter: null } });
    return send(req, reply, f, 'public, max-age=31536000, immutable');
  });
}
