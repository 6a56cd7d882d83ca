// The /metrics registry as OTLP metrics: a MetricProducer (the SDK's hook for metrics from
// another library) that reads prom-client's registry at each export. Every metric is defined
// once, in prom-client, and keeps its Prometheus name; counters become monotonic cumulative
// sums, gauges gauges, histograms explicit-bucket histograms.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime, millisToHrTime } from '@opentelemetry/core';
import {
  AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { VERSION } from '../server/version';

type Labels = Record<string, string | number>;

/** UCUM unit from the Prometheus suffix (the OTLP descriptor's unit field). */
function unitOf(name: string): string {
  if (/_seconds(_total)?$/.test(name)) return 's';
  if (/_bytes(_total)?$/.test(name)) return 'By';
  return '1';
}

function attrs(labels: Labels, drop?: string): Attributes {
  const a: Attributes = {};
  for (const [k, v] of Object.entries(labels)) if (k !== drop) a[k] = typeof v === 'number' ? v : String(v);
  return a;
}

function key(labels: Labels, drop?: string): string {
  return JSON.stringify(Object.entries(labels).filter(([k]) => k !== drop).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** One prom-client metric (getMetricsAsJSON shape) as OTLP metric data; null for types OTLP has no match for here (summaries). */
export function toOtlpMetric(m: MetricObjectWithValues<MetricValue<string>>, startTime: HrTime, endTime: HrTime): MetricData | null {
  const descriptor = { name: m.name, description: m.help, unit: unitOf(m.name), valueType: ValueType.DOUBLE };
  // prom-client's typings say an enum; at run time the type is a string.
  const type = m.type as unknown as string;
  const values = m.values as { value: number; labels: Labels; metricName?: string }[];
  if (type === 'counter' || type === 'gauge') {
    const dataPoints = values.map((v) => ({ startTime, endTime, attributes: attrs(v.labels), value: v.value }));
    return type === 'counter'
      ? { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints }
      : { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints };
  }
  if (type !== 'histogram') return null;
  // prom-client lists, per label set, cumulative `le` buckets, then _sum and _count.
  const series = new Map<string, { labels: Labels; les: [number, number][]; sum: number; count: number }>();
  for (const v of values) {
    const k = key(v.labels, 'le');
    let s = series.get(k);
    if (!s) series.set(k, (s = { labels: v.labels, les: [], sum: 0, count: 0 }));
    if (v.metricName?.endsWith('_bucket')) s.les.push([v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), v.value]);
    else if (v.metricName?.endsWith('_sum')) s.sum = v.value;
    else if (v.metricName?.endsWith('_count')) s.count = v.value;
  }
  const dataPoints = [...series.values()].map((s) => {
    s.les.sort((a, b) => a[0] - b[0]);
    const boundaries = s.les.filter(([le]) => le !== Infinity).map(([le]) => le);
    const counts: number[] = [];
    let prev = 0;
    for (const [, cum] of s.les) {
      counts.push(cum - prev);
      prev = cum;
    }
    if (s.les.length === 0 || s.les[s.les.length - 1][0] !== Infinity) counts.push(s.count - prev);
    return { startTime, endTime, attributes: attrs(s.labels, 'le'), value: { buckets: { boundaries, counts }, sum: s.sum, count: s.count } };
  });
  return { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM, dataPoints };
}

/**
 * The registry's metrics, for a PeriodicExportingMetricReader. `before` runs first at each
 * collection (the gauges read the newest snapshot, as a Prometheus scrape does).
 */
export function promClientProducer(registry: Registry, before: () => Promise<unknown>): MetricProducer {
  const startTime = hrTime();
  return {
    async collect(): Promise<CollectionResult> {
      await before().catch(() => undefined);
      const endTime = millisToHrTime(Date.now());
      const metrics = (await registry.getMetricsAsJSON()).map((m) => toOtlpMetric(m, startTime, endTime)).filter((m): m is MetricData => m !== null);
      return {
        // The reader puts these under the MeterProvider's resource.
        resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: { name: 'tcpdir', version: VERSION }, metrics }] },
        errors: [],
      };
    },
  };
}
