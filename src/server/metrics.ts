import type { FastifyInstance } from 'fastify';
import { createMetrics, type MetricsOptions, type TcpdirMetrics } from '../export';
import type { TcpdirService } from '../service';

/** GET /metrics and the request-latency hook; the metrics themselves live in src/export. */
export function registerMetrics(app: FastifyInstance, service: TcpdirService, opts: MetricsOptions = {}): TcpdirMetrics {
  const metrics = createMetrics(service, opts);
  app.addHook('onResponse', async (req, reply) => {
    metrics.observeRequest({ route: req.routeOptions.url, method: req.method, statusCode: reply.statusCode }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.scrape();
  });
  return metrics;
}
