// OTLP export against a receiver started here (test/helpers/otlp-receiver.ts decodes the
// protobuf bodies with opentelemetry-proto's own .proto files): a loopback connection of known
// direction, held open by another process, must arrive as OPENED and CLOSED log records on both
// sides with every attribute right; the /metrics registry must arrive as OTLP metrics; with the
// receiver down the queue must stay within its bound and every event must be accounted for
// (exported, dropped and counted, or queued); with it back, delivery resumes.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import request from 'supertest';
import { createServer, type TcpdirServer } from '../../src';
import { OtlpReceiver, type ReceivedLog } from '../helpers/otlp-receiver';

// Holds one connection to its own listener: sends 'hello', answers 'hi!', prints the listener's
// and the client's ports, and closes both ends when a line comes on stdin.
const HOLD_PY = `
import socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
c = socket.create_connection(('127.0.0.1', l.getsockname()[1])); a, _ = l.accept()
c.sendall(b'hello'); a.recv(5); a.sendall(b'hi!'); c.recv(3)
print(l.getsockname()[1], c.getsockname()[1], flush=True)
sys.stdin.readline()
c.close(); a.close()
`;

// Opens and closes n connections to its own listener; prints the listener port.
const CHURN_PY = `
import socket, sys
n = int(sys.argv[1])
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)
port = l.getsockname()[1]
for _ in range(n):
    c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept(); c.close(); a.close()
print(port, flush=True)
`;

const ownNetns = `net:[${/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))![1]}]`;

async function until<T>(what: string, f: () => T | undefined | null | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The registry's value of a series, read in one pass. */
async function values(app: TcpdirServer): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await app.metrics.registry.getMetricsAsJSON()) {
    for (const v of m.values) out.set(`${m.name}${JSON.stringify(v.labels)}`, v.value);
  }
  return out;
}

function sum(v: Map<string, number>, prefix: string): number {
  let s = 0;
  for (const [k, n] of v) if (k.startsWith(prefix)) s += n;
  return s;
}

function logsFor(r: OtlpReceiver, port: number): ReceivedLog[] {
  return r.logs.filter((l) => l.attributes['network.local.port'] === port || l.attributes['network.peer.port'] === port);
}

const ENV = ['OTEL_RESOURCE_ATTRIBUTES', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS'];
const saved = ENV.map((k) => process.env[k]);
after(() => {
  ENV.forEach((k, i) => {
    if (saved[i] === undefined) delete process.env[k];
    else process.env[k] = saved[i];
  });
});

describe('OTLP export', () => {
  test('a held connection arrives as OPENED and CLOSED log records on both sides with every attribute; metrics arrive with the resource', async (t) => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'k8s.node.name=test-node,deployment.environment.name=test';
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-api-key=k1';
    process.env.OTEL_EXPORTER_OTLP_LOGS_HEADERS = 'x-logs-only=yes';
    const app = await createServer({
      logLevel: 'silent', maxAgeMs: 0, recordHistory: { path: ':memory:', intervalMs: 200 },
      otlp: { endpoint, scheduledDelayMillis: 50, metricIntervalMillis: 300, maxQueueSize: 100_000 },
    });
    let child: ChildProcessWithoutNullStreams | null = null;
    try {
      if (!app.service.kernel.available) {
        t.skip(`no kernel evidence here (${app.service.kernel.code}): processes and closes are not certain`);
        return;
      }
      assert.deepEqual([app.otlp?.config.logs?.url, app.otlp?.config.metrics?.url], [`${endpoint}/v1/logs`, `${endpoint}/v1/metrics`]);
      await new Promise((r) => setTimeout(r, 300));
      const startedAt = Date.now();
      child = spawn('python3', ['-c', HOLD_PY]);
      const line = await new Promise<string>((resolve) => createInterface({ input: child!.stdout }).once('line', resolve));
      const [serverPort, clientPort] = line.split(' ').map(Number);
      await until('both OPENED records', () => logsFor(receiver, serverPort).filter((l) => l.eventName === 'tcpdir.connection.opened').length === 2);
      // Held until a snapshot has seen it: the accepting process comes from one.
      for (let i = 0; i < 200; i++) {
        const h = await request(app.server).get('/api/v1/history').query({ port: serverPort, limit: 10 });
        if (h.body.records.length === 2 && h.body.records.every((l: { process: unknown }) => l.process !== null)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      child.stdin.write('\n');
      await until('both CLOSED records', () => logsFor(receiver, serverPort).filter((l) => l.eventName === 'tcpdir.connection.closed').length === 2);
      const closedBy = Date.now();
      const pid = child.pid!;
      const mine = logsFor(receiver, serverPort);
      assert.equal(mine.length, 4, 'one OPENED and one CLOSED per side, nothing twice');

      for (const side of ['INBOUND', 'OUTBOUND'] as const) {
        const [local, peer] = side === 'INBOUND' ? [serverPort, clientPort] : [clientPort, serverPort];
        const closed = mine.find((l) => l.eventName === 'tcpdir.connection.closed' && l.attributes['tcpdir.direction'] === side)!;
        assert.ok(closed, `a CLOSED record for the ${side} side`);
        const a = closed.attributes;
        const openedAt = Date.parse(a['tcpdir.connection.opened_at'] as string);
        const closedAt = Date.parse(a['tcpdir.connection.closed_at'] as string);
        assert.ok(openedAt >= startedAt - 50 && openedAt <= closedAt && closedAt <= closedBy, `${side}: opened ${openedAt}, closed ${closedAt}, test ${startedAt}..${closedBy}`);
        const [client, server] = side === 'INBOUND' ? [peer, local] : [local, peer];
        assert.deepEqual(a, {
          'network.transport': 'tcp', 'network.type': 'ipv4',
          'network.local.address': '127.0.0.1', 'network.local.port': local,
          'network.peer.address': '127.0.0.1', 'network.peer.port': peer,
          'client.address': '127.0.0.1', 'client.port': client, 'server.address': '127.0.0.1', 'server.port': server,
          'tcpdir.direction': side, 'tcpdir.confidence': 1, 'tcpdir.certain': true, 'tcpdir.rule': 'kernel-birth',
          'tcpdir.observed_by': 'KERNEL', 'tcpdir.pre_existing': false, 'tcpdir.netns': ownNetns,
          // Both ends are held by the python process: the connecting one from the tracepoint, the
          // accepting one from a snapshot taken while it was open.
          'process.pid': pid, 'process.command': 'python3',
          'tcpdir.connection.opened_at': new Date(openedAt).toISOString(), 'tcpdir.connection.closed_at': new Date(closedAt).toISOString(),
          'tcpdir.connection.duration': (closedAt - openedAt) / 1000,
          'tcpdir.connection.bytes_sent': a['tcpdir.connection.bytes_sent'], 'tcpdir.connection.bytes_received': a['tcpdir.connection.bytes_received'],
          'tcpdir.connection.retransmits': 0,
        }, `${side} CLOSED record`);
        const [sent, received] = side === 'OUTBOUND' ? [5, 3] : [3, 5];
        // The kernel's counters count SYN and FIN (one each) besides the payload.
        assert.ok((a['tcpdir.connection.bytes_sent'] as number) >= sent && (a['tcpdir.connection.bytes_sent'] as number) <= sent + 2, `${side} sent ${a['tcpdir.connection.bytes_sent']}`);
        assert.ok((a['tcpdir.connection.bytes_received'] as number) >= received && (a['tcpdir.connection.bytes_received'] as number) <= received + 2, `${side} received ${a['tcpdir.connection.bytes_received']}`);
        assert.equal(closed.body, `CLOSED ${side} 127.0.0.1:${local} ${side === 'INBOUND' ? '<-' : '->'} 127.0.0.1:${peer}`);
        assert.equal(closed.severityText, 'INFO');
        assert.equal(closed.scope, 'tcpdir');
        assert.equal(closed.timeUnixNano, BigInt(closedAt) * 1_000_000n, 'the record is stamped with the close');

        const opened = mine.find((l) => l.eventName === 'tcpdir.connection.opened' && l.attributes['tcpdir.direction'] === side)!;
        assert.equal(opened.attributes['network.local.port'], local);
        assert.equal(opened.attributes['client.port'], client);
        assert.equal(opened.attributes['tcpdir.certain'], true);
        assert.equal(opened.attributes['tcpdir.connection.opened_at'], a['tcpdir.connection.opened_at']);
        assert.equal(opened.attributes['tcpdir.connection.closed_at'], undefined, 'not closed yet when opened');
        if (side === 'OUTBOUND') assert.equal(opened.attributes['process.pid'], pid, 'connect() ran in the python process');
      }
      // The two sides agree on what one sent the other received (up to a FIN still in flight when a side's close was read).
      const c = mine.filter((l) => l.eventName === 'tcpdir.connection.closed');
      for (const [x, y] of [[c[0], c[1]], [c[1], c[0]]]) {
        const d = (x.attributes['tcpdir.connection.bytes_sent'] as number) - (y.attributes['tcpdir.connection.bytes_received'] as number);
        assert.ok(d >= 0 && d <= 1, `sent ${x.attributes['tcpdir.connection.bytes_sent']}, received ${y.attributes['tcpdir.connection.bytes_received']}`);
      }

      assert.equal(receiver.headers['/v1/logs']['x-api-key'], 'k1', 'OTEL_EXPORTER_OTLP_HEADERS is honoured');
      assert.equal(receiver.headers['/v1/logs']['x-logs-only'], 'yes', 'and the per-signal one');
      assert.equal(receiver.headers['/v1/logs']['content-type'], 'application/x-protobuf');
      const res = mine[0].resource;
      assert.equal(res['service.name'], 'tcpdir');
      assert.equal(typeof res['service.version'], 'string');
      assert.equal(res['host.name'], hostname());
      assert.equal(res['tcpdir.netns'], ownNetns);
      assert.equal(res['k8s.node.name'], 'test-node', 'OTEL_RESOURCE_ATTRIBUTES is honoured');
      assert.equal(res['deployment.environment.name'], 'test');

      // Metrics: the same registry as /metrics, with units, under the same resource.
      const opened = await until('tcpdir_connections_opened_total over OTLP', () => {
        const m = receiver.metrics.filter((x) => x.name === 'tcpdir_connections_opened_total').at(-1);
        return m && m.points.some((p) => p.value >= 2) && m;
      });
      assert.equal(opened.kind, 'sum');
      assert.equal(opened.monotonic, true);
      assert.deepEqual(opened.points.map((p) => p.attributes.direction).sort(), ['INBOUND', 'OUTBOUND', 'UNKNOWN'].filter((d) => opened.points.some((p) => p.attributes.direction === d)));
      assert.equal(opened.resource['service.name'], 'tcpdir');
      assert.equal(opened.resource['k8s.node.name'], 'test-node');
      const snap = receiver.metrics.filter((x) => x.name === 'tcpdir_snapshot_duration_seconds').at(-1)!;
      assert.equal(snap.kind, 'histogram');
      assert.equal(snap.unit, 's');
      const p = snap.points[0];
      assert.equal(p.bounds!.length + 1, p.bucketCounts!.length, 'one count per bucket, +Inf included');
      assert.equal(p.bucketCounts!.reduce((x, y) => x + y, 0), p.count, 'bucket counts add up to the count');
      const conns = receiver.metrics.filter((x) => x.name === 'tcpdir_connections').at(-1)!;
      assert.equal(conns.kind, 'gauge');
      assert.equal(conns.points.length, 6, 'direction x certain');
      assert.ok(receiver.metrics.some((x) => x.name === 'process_resident_memory_bytes' && x.unit === 'By'));
      assert.equal(receiver.headers['/v1/metrics']['x-api-key'], 'k1');
      assert.equal(receiver.headers['/v1/metrics']['x-logs-only'], undefined, 'the logs-only header stays on logs');
    } finally {
      child?.kill();
      await app.close();
      await receiver.stop();
    }
  });

  test('with the receiver down the queue stays within its bound and drops are counted; back up, delivery resumes', async (t) => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const bound = 20;
    const app = await createServer({
      logLevel: 'silent', maxAgeMs: 0, recordHistory: { path: ':memory:' },
      otlp: { endpoint, maxQueueSize: bound, maxExportBatchSize: 10, scheduledDelayMillis: 20, exportTimeoutMillis: 500, metricIntervalMillis: 200 },
    });
    try {
      if (!app.service.kernel.available) {
        t.skip(`no kernel evidence here (${app.service.kernel.code}): short connections are missed`);
        return;
      }
      const events = (v: Map<string, number>) => sum(v, 'tcpdir_connections_opened_total') + sum(v, 'tcpdir_connections_closed_total');
      const accounted = (v: Map<string, number>) =>
        sum(v, 'tcpdir_otlp_log_records_exported_total') + sum(v, 'tcpdir_otlp_log_records_dropped_total') + sum(v, 'tcpdir_otlp_log_records_queued');
      // The start: every connection open now is an OPENED event (more than the bound on a busy host).
      await until('the queue empty after the start', () => app.otlp && receiver.requests['/v1/logs'] !== undefined);
      let v0 = await values(app);
      for (let i = 0; i < 100 && v0.get('tcpdir_otlp_log_records_queued{}') !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        v0 = await values(app);
      }
      assert.equal(events(v0), accounted(v0), 'every event so far exported, dropped or queued');

      await receiver.stop();
      let maxQueued = 0;
      const sampler = setInterval(() => {
        void values(app).then((v) => (maxQueued = Math.max(maxQueued, v.get('tcpdir_otlp_log_records_queued{}') ?? 0)));
      }, 5);
      const r = spawnSync('python3', ['-c', CHURN_PY, '100'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const downPort = Number(r.stdout.trim());
      // 100 connections, two sides, OPENED and CLOSED: 400 events, of which at most `bound` wait.
      let v = await values(app);
      for (let i = 0; i < 200 && events(v) - events(v0) < 400; i++) {
        await new Promise((res) => setTimeout(res, 50));
        v = await values(app);
      }
      clearInterval(sampler);
      assert.ok(events(v) - events(v0) >= 400, `events seen: ${events(v) - events(v0)}`);
      assert.ok(maxQueued <= bound, `queued at most ${bound}: saw ${maxQueued}`);
      assert.ok((v.get('tcpdir_otlp_log_records_queued{}') ?? 0) <= bound);
      const dq = (x: Map<string, number>) => x.get('tcpdir_otlp_log_records_dropped_total{"reason":"queue_full"}') ?? 0;
      const df = (x: Map<string, number>) => x.get('tcpdir_otlp_log_records_dropped_total{"reason":"export_failed"}') ?? 0;
      // Nothing gets through: each event is dropped (queue full, or its export failed) or still queued.
      assert.ok(dq(v) - dq(v0) >= 400 - 3 * bound, `dropped for a full queue: ${dq(v) - dq(v0)}`);
      assert.equal(events(v), accounted(v), 'every event exported, dropped or queued');
      // What was queued fails once its export (500 ms, retries included) runs out: counted too.
      for (let i = 0; i < 100 && df(v) === df(v0); i++) {
        await new Promise((res) => setTimeout(res, 50));
        v = await values(app);
      }
      assert.ok(df(v) > df(v0), 'failed exports counted');
      assert.equal(sum(v, 'tcpdir_otlp_log_records_exported_total'), sum(v0, 'tcpdir_otlp_log_records_exported_total'), 'nothing exported while down');
      for (let i = 0; i < 100 && !((v.get('tcpdir_otlp_metric_exports_failed_total{}') ?? 0) > 0); i++) {
        await new Promise((res) => setTimeout(res, 50));
        v = await values(app);
      }
      assert.ok((v.get('tcpdir_otlp_metric_exports_failed_total{}') ?? 0) > 0, 'metric exports failed while down');
      assert.equal(logsFor(receiver, downPort).length, 0);

      // Back on the same port: records flow again, and the drops arrive as an OTLP metric. (Which
      // records is the host's business: on a host opening thousands of connections a second, a
      // queue of 20 is full most of the time, so the test's own connections may be among the drops.)
      const seenBefore = receiver.metrics.length;
      const logsBefore = receiver.logs.length;
      await receiver.start(receiver.port);
      const r2 = spawnSync('python3', ['-c', CHURN_PY, '3'], { encoding: 'utf8' });
      assert.equal(r2.status, 0, r2.stderr);
      await until('log records after the restart', () => receiver.logs.length > logsBefore);
      const drops = await until('the drop counter over OTLP', () => receiver.metrics.slice(seenBefore).find((m) => m.name === 'tcpdir_otlp_log_records_dropped_total'));
      const qf = drops.points.find((p) => p.attributes.reason === 'queue_full')!;
      assert.ok(qf.value >= dq(v), `OTLP says ${qf.value} dropped for a full queue, /metrics said ${dq(v)}`);
      const back = await values(app);
      assert.ok(sum(back, 'tcpdir_otlp_log_records_exported_total') > sum(v, 'tcpdir_otlp_log_records_exported_total'), 'exports succeed again');
      assert.ok(receiver.logs.slice(logsBefore).every((l) => l.resource['service.name'] === 'tcpdir'));
    } finally {
      await app.close();
      await receiver.stop();
    }
  });
});
