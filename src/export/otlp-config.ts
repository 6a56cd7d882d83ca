// Which OTLP export to run, from `serve --otlp-endpoint` and the standard OTEL_* variables
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/, .../configuration/sdk-environment-variables/).
// The OTLP exporters read OTEL_EXPORTER_OTLP_[LOGS_|METRICS_]HEADERS, _TIMEOUT and _COMPRESSION
// themselves; endpoints and protocols are decided here. Pure: the environment is a value.

export type OtlpProtocol = 'http/protobuf' | 'http/json';
type Env = Record<string, string | undefined>;

export class OtlpConfigError extends Error {}

export interface OtlpSignalConfig {
  /** Full URL the signal is POSTed to (…/v1/logs, …/v1/metrics). */
  url: string;
  protocol: OtlpProtocol;
}

export interface OtlpConfig {
  logs: OtlpSignalConfig | null;
  metrics: OtlpSignalConfig | null;
  /** Log records waiting or being sent, at most (OTEL_BLRP_MAX_QUEUE_SIZE, default 2048); past it they are dropped and counted. */
  maxQueueSize: number;
  /** Log records per export request (OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, default 512). */
  maxExportBatchSize: number;
  /** Wait before sending a batch that is not full (OTEL_BLRP_SCHEDULE_DELAY, default 1000 ms). */
  scheduledDelayMillis: number;
  /** One export's limit, retries included (OTEL_EXPORTER_OTLP_TIMEOUT, default 10000 ms). */
  exportTimeoutMillis: number;
  /** Metrics are sent this often (OTEL_METRIC_EXPORT_INTERVAL, default 60000 ms). */
  metricIntervalMillis: number;
}

export interface OtlpOptions {
  /** Base URL (http://collector:4318): /v1/logs and /v1/metrics are appended. Wins over the environment. */
  endpoint?: string;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  metricIntervalMillis?: number;
}

const PATHS = { logs: 'v1/logs', metrics: 'v1/metrics' } as const;

function positiveInt(env: Env, name: string, given: number | undefined, dflt: number): number {
  if (given !== undefined) return given;
  const raw = env[name]?.trim();
  if (!raw) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new OtlpConfigError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

function checkUrl(name: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OtlpConfigError(`${name} is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OtlpConfigError(`${name} must be http:// or https://, got ${JSON.stringify(url)}`);
  return url;
}

function signal(kind: 'logs' | 'metrics', opts: OtlpOptions, env: Env): OtlpSignalConfig | null {
  const K = kind.toUpperCase();
  // OTEL_LOGS_EXPORTER / OTEL_METRICS_EXPORTER=none turns one signal off.
  const exporterVar = env[`OTEL_${K}_EXPORTER`]?.trim();
  if (exporterVar && exporterVar.split(',').map((s) => s.trim()).includes('none')) return null;
  let url: string | null = null;
  if (opts.endpoint) {
    url = checkUrl('--otlp-endpoint', opts.endpoint).replace(/\/*$/, '/') + PATHS[kind];
  } else if (env[`OTEL_EXPORTER_OTLP_${K}_ENDPOINT`]?.trim()) {
    // A signal's own endpoint is used as given (the spec appends nothing to it).
    url = checkUrl(`OTEL_EXPORTER_OTLP_${K}_ENDPOINT`, env[`OTEL_EXPORTER_OTLP_${K}_ENDPOINT`]!.trim());
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) {
    url = checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', env.OTEL_EXPORTER_OTLP_ENDPOINT.trim()).replace(/\/*$/, '/') + PATHS[kind];
  }
  if (url === null) return null;
  const protoVar = env[`OTEL_EXPORTER_OTLP_${K}_PROTOCOL`]?.trim() ? `OTEL_EXPORTER_OTLP_${K}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protoVar]?.trim() || 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new OtlpConfigError(`${protoVar}=${protocol} is not supported: tcpdir sends OTLP over HTTP (http/protobuf, the default, or http/json); point it at the collector's OTLP/HTTP port (4318)`);
  }
  return { url, protocol };
}

/** The export to run, or null when no endpoint is configured (or OTEL_SDK_DISABLED=true). */
export function otlpConfig(opts: OtlpOptions = {}, env: Env = process.env): OtlpConfig | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const logs = signal('logs', opts, env);
  const metrics = signal('metrics', opts, env);
  if (!logs && !metrics) return null;
  const maxQueueSize = positiveInt(env, 'OTEL_BLRP_MAX_QUEUE_SIZE', opts.maxQueueSize, 2048);
  return {
    logs, metrics, maxQueueSize,
    maxExportBatchSize: Math.min(maxQueueSize, positiveInt(env, 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE', opts.maxExportBatchSize, 512)),
    scheduledDelayMillis: positiveInt(env, 'OTEL_BLRP_SCHEDULE_DELAY', opts.scheduledDelayMillis, 1000),
    exportTimeoutMillis: positiveInt(env, env.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT ? 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT', opts.exportTimeoutMillis, 10_000),
    metricIntervalMillis: positiveInt(env, 'OTEL_METRIC_EXPORT_INTERVAL', opts.metricIntervalMillis, 60_000),
  };
}
