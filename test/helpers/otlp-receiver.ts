// An OTLP/HTTP receiver for tests: a plain node http server that decodes the protobuf request
// bodies with the OpenTelemetry protocol's own .proto files (test/fixtures/otlp-proto, v1.11.0 of
// opentelemetry-proto) through protobufjs, and keeps what it got.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../scenarios/netns';

export type OtlpValue = string | number | boolean | null | OtlpValue[] | { [k: string]: OtlpValue };

export interface ReceivedLog {
  resource: Record<string, OtlpValue>;
  scope: string;
  eventName: string;
  timeUnixNano: bigint;
  severityText: string;
  body: OtlpValue;
  attributes: Record<string, OtlpValue>;
}

export interface ReceivedMetric {
  resource: Record<string, OtlpValue>;
  name: string;
  unit: string;
  /** sum, gauge or histogram */
  kind: string;
  monotonic: boolean;
  points: { attributes: Record<string, OtlpValue>; value: number; count?: number; bucketCounts?: number[]; bounds?: number[] }[];
}

let types: Promise<{ logs: protobuf.Type; metrics: protobuf.Type }> | null = null;
function loadTypes(): Promise<{ logs: protobuf.Type; metrics: protobuf.Type }> {
  types ??= (async () => {
    const root = new protobuf.Root();
    const dir = path.join(REPO_ROOT, 'test', 'fixtures', 'otlp-proto');
    root.resolvePath = (_origin, target) => path.join(dir, target);
    await root.load(['opentelemetry/proto/collector/logs/v1/logs_service.proto', 'opentelemetry/proto/collector/metrics/v1/metrics_service.proto'], { keepCase: true });
    return {
      logs: root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
      metrics: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    };
  })();
  return types;
}

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function anyValue(v: Msg | undefined): OtlpValue {
  if (!v) return null;
  if ('string_value' in v) return v.string_value;
  if ('bool_value' in v) return v.bool_value;
  if ('int_value' in v) return Number(v.int_value);
  if ('double_value' in v) return v.double_value;
  if ('array_value' in v) return (v.array_value.values ?? []).map(anyValue);
  if ('kvlist_value' in v) return attributes(v.kvlist_value.values);
  if ('bytes_value' in v) return Buffer.from(v.bytes_value).toString('hex');
  return null;
}

function attributes(kvs: Msg[] | undefined): Record<string, OtlpValue> {
  const out: Record<string, OtlpValue> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export class OtlpReceiver {
  readonly logs: ReceivedLog[] = [];
  readonly metrics: ReceivedMetric[] = [];
  /** Requests answered, by path. */
  readonly requests: Record<string, number> = {};
  /** The last request's headers, by path. */
  readonly headers: Record<string, Record<string, string | string[] | undefined>> = {};
  private server: Server | null = null;
  port = 0;

  /** Listens on 127.0.0.1 (port 0: a free one; give the old port to come back at the same URL). */
  async start(port = 0): Promise<string> {
    const t = await loadTypes();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.requests[req.url ?? ''] = (this.requests[req.url ?? ''] ?? 0) + 1;
        this.headers[req.url ?? ''] = req.headers;
        if (req.headers['content-type'] !== 'application/x-protobuf') {
          res.writeHead(415).end();
          return;
        }
        try {
          if (req.url === '/v1/logs') this.addLogs(t.logs.toObject(t.logs.decode(body), { longs: String, bytes: Buffer }));
          else if (req.url === '/v1/metrics') this.addMetrics(t.metrics.toObject(t.metrics.decode(body), { longs: String, bytes: Buffer }));
          else {
            res.writeHead(404).end();
            return;
          }
        } catch (e) {
          res.writeHead(400).end(String(e));
          return;
        }
        // An empty ExportLogsServiceResponse / ExportMetricsServiceResponse.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private addLogs(req: Msg): void {
    for (const rl of req.resource_logs ?? []) {
      const resource = attributes(rl.resource?.attributes);
      for (const sl of rl.scope_logs ?? []) {
        for (const r of sl.log_records ?? []) {
          this.logs.push({
            resource, scope: sl.scope?.name ?? '', eventName: r.event_name ?? '', timeUnixNano: BigInt(r.time_unix_nano ?? 0),
            severityText: r.severity_text ?? '', body: anyValue(r.body), attributes: attributes(r.attributes),
          });
        }
      }
    }
  }

  private addMetrics(req: Msg): void {
    for (const rm of req.resource_metrics ?? []) {
      const resource = attributes(rm.resource?.attributes);
      for (const sm of rm.scope_metrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : m.histogram ? 'histogram' : 'other';
          const pts = (m.sum ?? m.gauge ?? m.histogram)?.data_points ?? [];
          this.metrics.push({
            resource, name: m.name, unit: m.unit ?? '', kind, monotonic: m.sum?.is_monotonic === true,
            points: pts.map((p: Msg) => ({
              attributes: attributes(p.attributes),
              value: kind === 'histogram' ? Number(p.sum ?? 0) : Number(p.as_double ?? p.as_int ?? 0),
              count: p.count !== undefined ? Number(p.count) : undefined,
              bucketCounts: p.bucket_counts?.map(Number),
              bounds: p.explicit_bounds,
            })),
          });
        }
      }
    }
  }
}
