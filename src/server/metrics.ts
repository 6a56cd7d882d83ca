import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TcpdirService } from '../service';

/** Prometheus metrics on a registry of this server's own (several servers can share a process). */
export function registerMetrics(app: FastifyInstance, service: TcpdirService): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tcpdir_process_' });
  const duration = new Histogram({
    name: 'tcpdir_snapshot_duration_seconds',
    help: 'Time to collect and classify one snapshot.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const sockets = new Gauge({ name: 'tcpdir_sockets', help: 'Sockets in the last snapshot, by TCP state.', labelNames: ['state'], registers: [registry] });
  const connections = new Gauge({ name: 'tcpdir_connections', help: 'Connections in the last snapshot, by verdict direction.', labelNames: ['direction'], registers: [registry] });
  const kernelUp = new Gauge({
    name: 'tcpdir_kernel_evidence_available',
    help: '1 when the eBPF kernel evidence is loaded (verdicts can be certain), 0 when verdicts are heuristic.',
    registers: [registry],
  });
  kernelUp.set(service.kernel.available ? 1 : 0);
  if (!service.kernel.available) {
    // One series, naming why (NATIVE_UNAVAILABLE, EPERM, ENOBTF, KERNEL_TOO_OLD, EVERIFIER, DISABLED, ...).
    new Gauge({
      name: 'tcpdir_kernel_evidence_unavailable',
      help: 'Present (value 1) when kernel evidence is unavailable; the code label says why.',
      labelNames: ['code'],
      registers: [registry],
    }).set({ code: service.kernel.code }, 1);
  }
  const requests = new Counter({ name: 'tcpdir_http_requests_total', help: 'HTTP requests served.', labelNames: ['route', 'method', 'status'], registers: [registry] });

  service.onSnapshot(({ view, durationMs }) => {
    duration.observe(durationMs / 1000);
    const byState = new Map<string, number>();
    for (const s of view.snapshot.sockets) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
    sockets.reset();
    for (const [state, n] of byState) sockets.set({ state }, n);
    const sum = view.summary(0);
    connections.set({ direction: 'INBOUND' }, sum.inbound);
    connections.set({ direction: 'OUTBOUND' }, sum.outbound);
    connections.set({ direction: 'UNKNOWN' }, sum.unknown);
  });
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ route: req.routeOptions.url ?? 'unmatched', method: req.method, status: String(reply.statusCode) });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return registry;
}
