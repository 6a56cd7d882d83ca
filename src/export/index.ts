import { collectDefaultMetrics, Registry } from 'prom-client';
import type { TcpdirService } from '../service';
import { connectionEventSink, type ConnectionEventSink } from './events';
import { httpMetrics, type RequestLabels } from './http';
import { kernelMetrics } from './kernel';
import { snapshotMetrics } from './snapshot';

export type { ConnectionEventSink } from './events';
export { requestLabels, UNMATCHED_ROUTE, type RequestLabels } from './http';
export { topListeners, type ListenerCount } from './top-listeners';

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface MetricsOptions {
  /** How many of the busiest listeners get a tcpdir_listener_connections series (default 20; 0 = none). */
  topListeners?: number;
  /** Export tcpdir_netns_connections, one series per namespace and direction (default false). */
  perNetns?: boolean;
  /**
   * A scrape answers from the newest snapshot up to this old (default 10 s) and starts a new one
   * behind it, so it never waits for a collection while one that recent exists; 0 = always wait
   * for a snapshot within the server's --max-age-ms. tcpdir_snapshot_age_seconds says how old.
   */
  maxAgeMs?: number;
}

export interface TcpdirMetrics {
  registry: Registry;
  /** Called once per HTTP response. */
  observeRequest(r: RequestLabels, seconds: number): void;
  /** Asks the service for a current snapshot (the gauges read it), then renders the exposition text. */
  scrape(): Promise<string>;
  /** The hook for the history recorder (events.ts); counters appear at the first call. */
  connectionEvents(): ConnectionEventSink;
}

/**
 * One registry per server (several servers can share a process, as tests do). Process and
 * Node.js metrics keep their standard names (process_*, nodejs_*) for stock dashboards.
 */
export function createMetrics(service: TcpdirService, opts: MetricsOptions = {}): TcpdirMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client's three gauges named *_total fail promtool's lint (`_total` is for counters);
  // each is the sum of its per-type gauge without the suffix (nodejs_active_handles{type}, ...).
  for (const name of GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);
  kernelMetrics(registry, service);
  snapshotMetrics(registry, service, { topListeners: opts.topListeners ?? 20, perNetns: opts.perNetns ?? false });
  const observeRequest = httpMetrics(registry);
  let sink: ConnectionEventSink | null = null;
  return {
    registry,
    observeRequest,
    async scrape() {
      // A failed collection leaves the last snapshot's gauges; the error is the API's to report.
      await service.current({ acceptAgeMs: opts.maxAgeMs ?? 10_000 }).catch(() => undefined);
      return registry.metrics();
    },
    connectionEvents: () => (sink ??= connectionEventSink(registry)),
  };
}
export { otlpConfig, OtlpConfigError, type OtlpConfig, type OtlpOptions, type OtlpProtocol } from './otlp-config';
export { startOtlpExport, type OtlpExport, type OtlpExportDeps } from './otlp';
export { connectionLogRecord } from './otlp-log-record';
