import { Counter, Gauge, type Registry } from 'prom-client';
import type { TcpdirService } from '../service';
import { VERSION } from '../server/version';

/**
 * Build info and the kernel source's state. Availability is decided once, when the service
 * opens the source; the unavailable code is one of kernel-unavailable.ts's fixed set.
 */
export function kernelMetrics(registry: Registry, service: TcpdirService): void {
  const k = service.kernel;
  new Gauge({
    name: 'tcpdir_build_info',
    help: 'Always 1; the labels say which tcpdir, on which Node.js, with or without kernel evidence.',
    labelNames: ['version', 'node_version', 'kernel_evidence'],
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version, kernel_evidence: k.available ? 'available' : 'unavailable' }, 1);
  new Gauge({
    name: 'tcpdir_kernel_evidence_available',
    help: '1 when the eBPF kernel evidence is loaded (verdicts can be certain), 0 when verdicts are heuristic.',
    registers: [registry],
  }).set(k.available ? 1 : 0);
  if (!k.available) {
    // One series, naming why (NATIVE_UNAVAILABLE, EPERM, ENOBTF, KERNEL_TOO_OLD, EVERIFIER, DISABLED, ...).
    new Gauge({
      name: 'tcpdir_kernel_evidence_unavailable',
      help: 'Present (value 1) when kernel evidence is unavailable; the code label says why.',
      labelNames: ['code'],
      registers: [registry],
    }).set({ code: k.code }, 1);
    return;
  }
  // The native reader's own running totals, copied at scrape time (it never decreases them).
  new Counter({
    name: 'tcpdir_kernel_ringbuf_dropped_events_total',
    help: 'Socket-birth events lost because the ring buffer (buffer="kernel") or the reader\'s queue (buffer="user") was full.',
    labelNames: ['buffer'],
    registers: [registry],
    collect() {
      const s = k.stats();
      if (!s) return;
      this.reset();
      this.inc({ buffer: 'kernel' }, s.kernelDrops);
      this.inc({ buffer: 'user' }, s.userDrops);
    },
  });
}
