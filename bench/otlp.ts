// bench:otlp: what the OTLP log export costs tcpdir. Connection events (real-shaped lives, as the
// recorder emits them) go through the export tcpdir runs (startOtlpExport: the bounded queue,
// the SDK's batch processor, the protobuf exporter) to a receiver in another process that reads
// and discards the bodies. Prints CPU per 1,000 events delivered, then, with the receiver gone,
// the heap held per queued record (what the queue bound costs at most).
//   node --expose-gc dist/bench/otlp.js [events=50000] [queue=20000]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LifeEvent } from '../src/history';
import { startOtlpExport } from '../src/export';
import type { Snapshot } from '../src/model';
import { TcpdirService, type HistoryService } from '../src/service';
import { Registry } from 'prom-client';

const N = Number(process.argv[2] ?? 50_000);
const QUEUE = Number(process.argv[3] ?? 20_000);
const gc = (globalThis as { gc?: () => void }).gc;

function event(i: number): LifeEvent {
  const t = Date.now();
  return {
    type: i % 2 ? 'CLOSED' : 'OPENED', at: t,
    life: {
      key: `k${i}`, netns: 'net:[4026531840]', family: 'IPV4', localAddress: '10.0.0.1', localPort: 40000 + (i % 20000),
      remoteAddress: '10.0.0.9', remotePort: 443, direction: 'OUTBOUND', confidence: 1, certain: true, rule: 'kernel-birth',
      openedAt: t - 5, closedAt: i % 2 ? t : null, firstSeenAt: t - 5, preExisting: false, pid: 4242, command: 'curl',
      bytesSent: i % 2 ? 517 : null, bytesReceived: i % 2 ? 4096 : null, retransmits: i % 2 ? 0 : null, observedBy: 'KERNEL',
    },
  };
}

async function exporter(endpoint: string, queue: number) {
  const subs: ((e: LifeEvent) => void)[] = [];
  const history = { subscribe: (f: (e: LifeEvent) => void) => (subs.push(f), () => undefined) } as unknown as HistoryService;
  const service = new TcpdirService({ collect: async () => ({}) as Snapshot, kernelEvidence: false });
  const registry = new Registry();
  const otlp = await startOtlpExport({ service, history, registry }, {
    logs: { url: `${endpoint}/v1/logs`, protocol: 'http/protobuf' }, metrics: null,
    maxQueueSize: queue, maxExportBatchSize: 512, scheduledDelayMillis: 200, exportTimeoutMillis: 10_000, metricIntervalMillis: 60_000,
  });
  const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.reduce((s, v) => s + v.value, 0);
  return { emit: (e: LifeEvent) => subs.forEach((f) => f(e)), otlp, value, service };
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => r.end()); })
    .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`]);
  const port = await new Promise<string>((r) => createInterface({ input: child.stdout }).once('line', r));
  const a = await exporter(`http://127.0.0.1:${port}`, N);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  for (let i = 0; i < N; i += 1000) {
    for (let j = i; j < Math.min(N, i + 1000); j++) a.emit(event(j));
    await new Promise((r) => setImmediate(r));
  }
  while ((await a.value('tcpdir_otlp_log_records_exported_total')) < N) await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage(cpu0);
  const ms = (cpu.user + cpu.system) / 1000;
  console.log(`delivered ${N} events in ${Date.now() - t0} ms wall; tcpdir CPU ${ms.toFixed(0)} ms = ${((ms * 1000) / N).toFixed(1)} ms per 1,000 events (${((ms * 1000) / N).toFixed(1)} µs each)`);
  await a.otlp.close();
  a.service.close();
  child.kill();

  // Receiver gone: the queue fills to its bound and holds it.
  const b = await exporter(`http://127.0.0.1:${port}`, QUEUE);
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < QUEUE * 2; i++) b.emit(event(i));
  gc?.();
  const held = process.memoryUsage().heapUsed - heap0;
  console.log(`collector down: ${await b.value('tcpdir_otlp_log_records_queued')} queued (bound ${QUEUE}), ${await b.value('tcpdir_otlp_log_records_dropped_total')} dropped; heap +${(held / 1024 / 1024).toFixed(1)} MiB = ${Math.round(held / QUEUE)} bytes per queued record${gc ? '' : ' (run with --expose-gc for a clean figure)'}`);
  await b.otlp.close(100);
  b.service.close();
  process.exit(0);
}

void main();
