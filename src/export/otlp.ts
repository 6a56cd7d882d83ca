// OTLP export: connection events (the history recorder's OPENED and CLOSED) as log records,
// and the /metrics registry as metrics, through the OpenTelemetry SDK (batching, retry with
// backoff on 429/502/503/504 and network errors, per-export timeout). tcpdir bounds what waits:
// at most maxQueueSize records are queued or being sent, so a collector that is down costs that
// much memory; records past it, and batches whose export finally failed, are dropped and counted.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LifeEvent } from '../history';
import type { ContainerRef } from '../model';
import { netnsInfos, type HistoryService, type TcpdirService } from '../service';
import { VERSION } from '../server/version';
import type { OtlpConfig } from './otlp-config';
import { connectionLogRecord } from './otlp-log-record';
import { promClientProducer } from './otlp-metrics';
import { agentResource } from './otlp-resource';

export interface OtlpExportDeps {
  service: TcpdirService;
  /** Source of the connection events; null: metrics only. */
  history: HistoryService | null;
  /** The /metrics registry: exported as OTLP metrics, and where the exporter's own counters go. */
  registry: Registry;
  /** Told when exports start failing (with why) and when they work again (null). */
  onStatus?: (signal: 'logs' | 'metrics', error: string | null) => void;
}

export interface OtlpExport {
  readonly config: OtlpConfig;
  /** Sends what is queued now (tests; shutdown does it too). */
  flush(): Promise<void>;
  /** Stops taking events, sends what is queued (waiting at most `timeoutMs`), and stops. */
  close(timeoutMs?: number): Promise<void>;
}

/** Calls `done(n, result)` once per export with the number of items it carried. */
function countingLogExporter(inner: LogRecordExporter, done: (n: number, r: ExportResult) => void): LogRecordExporter {
  return {
    export: (records: ReadableLogRecord[], cb: (r: ExportResult) => void) =>
      inner.export(records, (r) => {
        done(records.length, r);
        cb(r);
      }),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

function countingMetricExporter(inner: PushMetricExporter, done: (r: ExportResult) => void): PushMetricExporter {
  return {
    export: (metrics: ResourceMetrics, cb: (r: ExportResult) => void) =>
      inner.export(metrics, (r) => {
        done(r);
        cb(r);
      }),
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    selectAggregationTemporality: inner.selectAggregationTemporality?.bind(inner),
    selectAggregation: inner.selectAggregation?.bind(inner),
  };
}

function statusTracker(signal: 'logs' | 'metrics', onStatus: OtlpExportDeps['onStatus']): (r: ExportResult) => void {
  let failing = false;
  return (r) => {
    const ok = r.code === ExportResultCode.SUCCESS;
    if (ok === !failing) return;
    failing = !ok;
    onStatus?.(signal, ok ? null : (r.error?.message ?? 'export failed'));
  };
}

export async function startOtlpExport(deps: OtlpExportDeps, config: OtlpConfig): Promise<OtlpExport> {
  const { service, history, registry } = deps;
  const resource = await agentResource(service);
  let unsubscribe: (() => void) | null = null;
  let loggerProvider: LoggerProvider | null = null;
  let meterProvider: MeterProvider | null = null;
  // Once closing, the last metric export reads the newest snapshot instead of taking one: a
  // snapshot finishing after the server closed would reach a closed history store.
  let closing = false;

  if (config.logs && history) {
    const exported = new Counter({
      name: 'tcpdir_otlp_log_records_exported_total',
      help: 'Connection events the OTLP collector accepted.',
      registers: [registry],
    });
    const dropped = new Counter({
      name: 'tcpdir_otlp_log_records_dropped_total',
      help: 'Connection events not delivered over OTLP: queue_full (the bounded queue was full, e.g. the collector is down) or export_failed (the collector refused the batch, or retries ran out).',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of ['queue_full', 'export_failed']) dropped.inc({ reason }, 0);
    let pending = 0;
    new Gauge({
      name: 'tcpdir_otlp_log_records_queued',
      help: 'Connection events waiting for or in an OTLP export (at most OTEL_BLRP_MAX_QUEUE_SIZE).',
      registers: [registry],
      collect() {
        this.set(pending);
      },
    });
    const track = statusTracker('logs', deps.onStatus);
    const inner = config.logs.protocol === 'http/json'
      ? new OTLPLogExporterJson({ url: config.logs.url, timeoutMillis: config.exportTimeoutMillis })
      : new OTLPLogExporterProto({ url: config.logs.url, timeoutMillis: config.exportTimeoutMillis });
    const exporter = countingLogExporter(inner, (n, r) => {
      pending -= n;
      if (r.code === ExportResultCode.SUCCESS) exported.inc(n);
      else dropped.inc({ reason: 'export_failed' }, n);
      track(r);
    });
    loggerProvider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({
        exporter,
        // Never reached: tcpdir admits at most maxQueueSize records (queued + being sent) itself.
        maxQueueSize: config.maxQueueSize,
        maxExportBatchSize: config.maxExportBatchSize,
        scheduledDelayMillis: config.scheduledDelayMillis,
        // Past the exporter's own timeout, so its result (and the count) always comes back first.
        exportTimeoutMillis: config.exportTimeoutMillis + 5000,
      })],
    });
    const logger = loggerProvider.getLogger('tcpdir', VERSION);
    // Namespace -> container from every snapshot, kept past the last one that saw it: a pod's last
    // connections close as its processes exit, when the next snapshot no longer finds the
    // container. A namespace seen with processes and no container forgets it (its inode number
    // was reused); the 4,096 most recently seen are kept.
    const containers = new Map<string, ContainerRef>();
    service.onSnapshot(({ view }) => {
      for (const ns of netnsInfos(view.snapshot)) {
        if (ns.container) {
          containers.delete(ns.id);
          containers.set(ns.id, ns.container);
        } else if (ns.pids.length > 0) {
          containers.delete(ns.id);
        }
      }
      for (const id of containers.keys()) {
        if (containers.size <= 4096) break;
        containers.delete(id);
      }
    });
    const emit = (e: LifeEvent): void => {
      const container = e.life.netns !== null ? (containers.get(e.life.netns) ?? null) : null;
      const cached = container && service.pods ? service.pods.cached(container.id) : null;
      if (!container || !service.pods || cached) {
        logger.emit(connectionLogRecord(e, container, cached));
        return;
      }
      // A container the pod list does not name yet (a pod started since it was read).
      void service.pods.lookup(container.id).then((pod) => logger.emit(connectionLogRecord(e, container, pod)));
    };
    unsubscribe = history.subscribe((e) => {
      if (e.type !== 'OPENED' && e.type !== 'CLOSED') return;
      if (pending >= config.maxQueueSize) {
        dropped.inc({ reason: 'queue_full' });
        return;
      }
      pending++;
      emit(e);
    });
  }

  if (config.metrics) {
    const failed = new Counter({
      name: 'tcpdir_otlp_metric_exports_failed_total',
      help: 'OTLP metric exports that failed after retries (the next export sends the cumulative values again).',
      registers: [registry],
    });
    const track = statusTracker('metrics', deps.onStatus);
    const inner = config.metrics.protocol === 'http/json'
      ? new OTLPMetricExporterJson({ url: config.metrics.url, timeoutMillis: config.exportTimeoutMillis })
      : new OTLPMetricExporterProto({ url: config.metrics.url, timeoutMillis: config.exportTimeoutMillis });
    meterProvider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({
        exporter: countingMetricExporter(inner, (r) => {
          if (r.code !== ExportResultCode.SUCCESS) failed.inc();
          track(r);
        }),
        exportIntervalMillis: config.metricIntervalMillis,
        exportTimeoutMillis: Math.min(config.exportTimeoutMillis, config.metricIntervalMillis),
        metricProducers: [promClientProducer(registry, () => (closing ? Promise.resolve() : service.current()))],
      })],
    });
  }

  return {
    config,
    async flush() {
      await Promise.all([loggerProvider?.forceFlush(), meterProvider?.forceFlush()]);
    },
    async close(timeoutMs = 3000) {
      closing = true;
      unsubscribe?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([loggerProvider?.shutdown(), meterProvider?.shutdown()]),
        new Promise((r) => (timer = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(timer);
    },
  };
}
