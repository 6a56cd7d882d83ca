// OTLP pieces that need no network: configuration from options and OTEL_* variables, the
// prom-client -> OTLP metric conversion, the PodList parser and the pod directory's re-reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hrTime } from '@opentelemetry/core';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { Counter, Histogram, Registry } from 'prom-client';
import { parsePodList } from '../../src/collectors';
import { otlpConfig, OtlpConfigError } from '../../src/export';
import { toOtlpMetric } from '../../src/export/otlp-metrics';
import type { PodRef } from '../../src/model';
import { PodDirectory } from '../../src/service';

test('otlpConfig: endpoints, per-signal variables, protocols, limits', () => {
  assert.equal(otlpConfig({}, {}), null, 'nothing configured: no export');
  const base = otlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })!;
  assert.deepEqual([base.logs, base.metrics], [{ url: 'http://c:4318/v1/logs', protocol: 'http/protobuf' }, { url: 'http://c:4318/v1/metrics', protocol: 'http/protobuf' }]);
  assert.deepEqual([base.maxQueueSize, base.maxExportBatchSize, base.scheduledDelayMillis, base.exportTimeoutMillis, base.metricIntervalMillis], [2048, 512, 1000, 10_000, 60_000]);
  // A signal's own endpoint is taken as is; its own protocol wins over the general one.
  const per = otlpConfig({}, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://logs:443/custom',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
  })!;
  assert.deepEqual(per.logs, { url: 'https://logs:443/custom', protocol: 'http/json' });
  assert.deepEqual(per.metrics, { url: 'http://c:4318/v1/metrics', protocol: 'http/protobuf' });
  // The flag wins over the environment; OTEL_*_EXPORTER=none turns a signal off.
  const flag = otlpConfig({ endpoint: 'http://flag:4318' }, { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://env/x', OTEL_METRICS_EXPORTER: 'none' })!;
  assert.deepEqual([flag.logs?.url, flag.metrics], ['http://flag:4318/v1/logs', null]);
  assert.equal(otlpConfig({ endpoint: 'http://c:4318' }, { OTEL_SDK_DISABLED: 'true' }), null);
  const lim = otlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_BLRP_MAX_QUEUE_SIZE: '100', OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '500', OTEL_METRIC_EXPORT_INTERVAL: '5000' })!;
  assert.deepEqual([lim.maxQueueSize, lim.maxExportBatchSize, lim.metricIntervalMillis], [100, 100, 5000], 'a batch is never bigger than the queue');
  // Bad settings are errors naming the setting.
  assert.throws(() => otlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), (e: Error) => e instanceof OtlpConfigError && /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/.test(e.message));
  assert.throws(() => otlpConfig({ endpoint: 'collector:4318' }, {}), /--otlp-endpoint must be http:\/\/ or https:\/\/, got "collector:4318"$/);
  assert.throws(() => otlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_BLRP_MAX_QUEUE_SIZE: '-1' }), /OTEL_BLRP_MAX_QUEUE_SIZE must be a positive integer/);
});

test('toOtlpMetric: counters are monotonic sums, histograms per-bucket counts with their bounds', async () => {
  const r = new Registry();
  const h = new Histogram({ name: 'x_duration_seconds', help: 'h', labelNames: ['route'], buckets: [0.1, 1], registers: [r] });
  h.observe({ route: '/a' }, 0.05);
  h.observe({ route: '/a' }, 0.5);
  h.observe({ route: '/a' }, 5);
  h.observe({ route: '/b' }, 0.5);
  new Counter({ name: 'x_events_total', help: 'c', labelNames: ['direction'], registers: [r] }).inc({ direction: 'INBOUND' }, 3);
  const [hm, cm] = await r.getMetricsAsJSON();
  const t = hrTime();
  const hist = toOtlpMetric(hm, t, t)!;
  assert.equal(hist.dataPointType, DataPointType.HISTOGRAM);
  assert.equal(hist.descriptor.unit, 's');
  const a = hist.dataPoints.find((p) => p.attributes.route === '/a')!;
  assert.deepEqual(a.value, { buckets: { boundaries: [0.1, 1], counts: [1, 1, 1] }, sum: 5.55, count: 3 });
  assert.deepEqual(a.attributes, { route: '/a' }, 'no le attribute');
  const sum = toOtlpMetric(cm, t, t)!;
  assert.equal(sum.dataPointType, DataPointType.SUM);
  assert.equal(sum.dataPointType === DataPointType.SUM && sum.isMonotonic, true);
  assert.deepEqual(sum.dataPoints.map((p) => [p.attributes, p.value]), [[{ direction: 'INBOUND' }, 3]]);
});

test('parsePodList: container ids without their scheme, init containers included, malformed entries skipped', () => {
  const id = 'a'.repeat(64);
  const m = parsePodList({
    items: [
      { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, status: {
        containerStatuses: [{ name: 'c', containerID: `containerd://${id}` }, { name: 'waiting' }],
        initContainerStatuses: [{ name: 'i', containerID: `cri-o://${'b'.repeat(64)}` }] } },
      { metadata: { namespace: 'no-name' }, status: { containerStatuses: [{ name: 'x', containerID: 'docker://c' }] } },
    ],
  });
  assert.deepEqual([...m], [
    [id, { name: 'p', namespace: 'ns', uid: 'u', containerName: 'c' }],
    ['b'.repeat(64), { name: 'p', namespace: 'ns', uid: 'u', containerName: 'i' }],
  ]);
  assert.throws(() => parsePodList({ kind: 'Status' }), /not a PodList/);
});

test('PodDirectory: an unknown id reads the list again, at most every minRefreshMs; a failed read keeps the last list', async () => {
  const pod: PodRef = { name: 'p', namespace: 'ns', uid: 'u', containerName: 'c' };
  let reads = 0;
  let list = new Map<string, PodRef>();
  let fail = false;
  const errors: (string | null)[] = [];
  const d = new PodDirectory('x', {
    minRefreshMs: 60_000, onError: (m) => errors.push(m),
    read: async () => {
      reads++;
      if (fail) throw new Error('down');
      return list;
    },
  });
  assert.equal(await d.lookup('a'), null);
  list = new Map([['a', pod]]);
  assert.equal(await d.lookup('a'), null, 'read a moment ago: not again');
  assert.equal(reads, 1);
  await d.refresh();
  assert.deepEqual(await Promise.all([d.lookup('a'), d.lookup('a')]), [pod, pod]);
  fail = true;
  await d.refresh();
  assert.deepEqual(d.cached('a'), pod, 'the last good list still answers');
  await d.refresh();
  fail = false;
  await d.refresh();
  assert.deepEqual(errors, ['down', null], 'told once when it fails and once when it works again');
});
