import { closeSync, openSync } from 'node:fs';
import { collectAllNamespaces, collectSnapshot, ProcessResolver } from '../collectors';
import { KernelEvidenceSource, KernelRecordTable, type KernelUnavailable } from '../collectors/kernel';
import { kernelUnavailable } from '../collectors/kernel';
import { scanSockets, type EbpfPass } from '../collectors/kernel';
import { SockDiagReuse } from '../collectors/sockdiag';
import { kernelBirthIndex, kernelRecordIndex, type KernelEvidence, type ProcessMap, type ProcessRef, type Snapshot, type SourceName } from '../model';
import { HistoryKeeper } from './history-keeper';
import type { ConnectionRecord, ListenerRecord } from './records';
import { SnapshotView, yieldToLoop } from './view';

export interface ServiceOptions {
  /**
   * auto: the eBPF iterator pass when the kernel source is loaded (the same pass gives the
   * evidence), else netlink, falling back to procfs. ebpf needs the kernel source.
   */
  source?: 'auto' | SourceName;
  /** A snapshot serves every request within this many ms; 0 = a fresh one per request. */
  maxAgeMs?: number;
  procRoot?: string;
  /** Replaces the collector (tests use fixture snapshots). */
  collect?: () => Promise<Snapshot>;
  /** Replaces process attribution (tests). */
  resolveProcesses?: (inodes: number[]) => Promise<ProcessMap>;
  /** Remember listeners and handshakes across snapshots (default true). */
  history?: boolean;
  /**
   * Once a snapshot exists, answer from it even when older than maxAgeMs while a fresh one is
   * collected in the background (default false: a stale cache makes the request wait). Only
   * with maxAgeMs > 0, and only up to staleGraceMs past maxAgeMs: after an idle spell the first
   * request waits for a fresh snapshot rather than getting an old one.
   */
  staleWhileRevalidate?: boolean;
  /** How long past maxAgeMs a stale snapshot may still answer (default: maxAgeMs, at least 1 s). */
  staleGraceMs?: number;
  /** Directory holding the netlink addon (default build/Release); tests point it elsewhere. */
  nativeDir?: string;
  /**
   * Read every network namespace on the host (default false here; the CLI turns it on). With
   * CAP_SYS_ADMIN each is entered (sock_diag + its own port range); without, foreign ones come
   * from /proc/PID/net/tcp{,6} and Query.namespaces says so.
   */
  allNamespaces?: boolean;
  /**
   * Read the kernel's own socket state with eBPF (default true). When it cannot load (no
   * privilege, no BTF, built without the toolchain), tcpdir runs on heuristics and says why.
   */
  kernelEvidence?: boolean;
  /** Told once, at start, why kernel evidence is unavailable. */
  onKernelUnavailable?: (why: KernelUnavailable) => void;
}

export interface SnapshotEvent {
  view: SnapshotView;
  /** Collection plus classification, ms. */
  durationMs: number;
}

/**
 * Owns the snapshot cache. One snapshot (with its classification) serves all requests within
 * maxAgeMs, and concurrent requests share one in-flight collection.
 */
export class TcpdirService {
  private cached: { view: SnapshotView; at: number } | null = null;
  private inflight: Promise<SnapshotView> | null = null;
  private readonly history: HistoryKeeper | null;
  private readonly processCache = new WeakMap<SnapshotView, Promise<ProcessMap>>();
  private readonly resolver: ProcessResolver;
  private readonly listeners: Array<(e: SnapshotEvent) => void> = [];
  /** The last iterator pass used as the socket list: the next one reuses its unchanged sockets. */
  private lastPass: EbpfPass | null = null;
  /** The same for the last sock_diag dump of this namespace (kernel evidence off). */
  private readonly lastDump = new SockDiagReuse();
  readonly maxAgeMs: number;
  /** 0 unless staleWhileRevalidate (and maxAgeMs > 0). */
  readonly staleGraceMs: number;
  /** The eBPF source, or why there is none. Loaded once, at construction. */
  readonly kernel: KernelEvidenceSource | KernelUnavailable;

  constructor(private readonly opts: ServiceOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
    this.staleGraceMs = opts.staleWhileRevalidate && this.maxAgeMs > 0 ? (opts.staleGraceMs ?? Math.max(this.maxAgeMs, 1000)) : 0;
    this.kernel =
      opts.kernelEvidence === false
        ? kernelUnavailable('DISABLED', '')
        : opts.collect
          ? { available: false, code: 'FIXTURE', reason: 'snapshots come from a fixture collector' }
          : KernelEvidenceSource.open();
    if (!this.kernel.available && opts.source === 'ebpf' && !opts.collect) {
      // Asked for explicitly: refuse to start rather than fail every request.
      throw new Error(`source ebpf needs the eBPF kernel source, which is unavailable (${this.kernel.code}): ${this.kernel.reason}`);
    }
    if (!this.kernel.available) opts.onKernelUnavailable?.(this.kernel);
    this.history = opts.history === false ? null : new HistoryKeeper();
    this.resolver = new ProcessResolver(opts.procRoot ?? '/proc');
  }

  onSnapshot(fn: (e: SnapshotEvent) => void): void {
    this.listeners.push(fn);
  }

  /**
   * The current view: cached while fresh, else shared with any collection already running. With
   * staleWhileRevalidate, a stale view is served at once and the refresh runs behind it.
   */
  current(): Promise<SnapshotView> {
    const c = this.cached;
    const age = c ? Date.now() - c.at : Infinity;
    if (c && age < this.maxAgeMs) return Promise.resolve(c.view);
    // Under steady load the stale view answers while its successor is built, so no request
    // queues behind a collection; an older one (after an idle spell) is not served.
    const serveStale = c !== null && this.staleGraceMs > 0 && age < this.maxAgeMs + this.staleGraceMs;
    if (!this.inflight) {
      const run = this.refresh().finally(() => {
        this.inflight = null;
      });
      this.inflight = run;
      // Nobody awaits a background refresh: a failure is reported by the next request that waits.
      if (serveStale) run.catch(() => undefined);
    }
    if (serveStale) return Promise.resolve(c.view);
    return this.inflight;
  }

  private async refresh(): Promise<SnapshotView> {
    const t0 = performance.now();
    const startedAt = Date.now();
    // One iterator pass per refresh, shared: it is the kernel evidence, and (source auto or
    // ebpf) also the socket list of this namespace, which then needs no sock_diag dump.
    const k = this.kernel;
    const source = this.opts.source ?? 'auto';
    let pass: Promise<EbpfPass> | null = null;
    const ebpf = k.available && !this.opts.collect && (source === 'auto' || source === 'ebpf')
      ? () => (pass ??= scanSockets(k, this.lastPass).then((p) => (this.lastPass = p)))
      : undefined;
    const scan = k.available && !this.opts.collect ? (ebpf ? async () => (await ebpf()).table : () => k.scan()) : undefined;
    const collectOpts = { source, procRoot: this.opts.procRoot, nativeDir: this.opts.nativeDir, ebpf, netlinkReuse: this.lastDump };
    const [snap, kernel] = await Promise.all([
      this.opts.collect
        ? this.opts.collect()
        : this.opts.allNamespaces
          ? collectAllNamespaces(collectOpts)
          : collectSnapshot(collectOpts),
      this.readKernel(scan),
    ]);
    if (kernel) {
      const table = kernel instanceof KernelRecordTable ? await this.withForeign(kernel, snap) : kernel;
      snap.kernel = this.kernelEvidenceFor(table, startedAt);
    }
    // Collection, history and classification each block the event loop for a while on a big host:
    // yield between them so requests queued meanwhile are not held up by the sum of the three.
    await yieldToLoop();
    if (this.history) snap.history = this.history.observe(snap);
    await yieldToLoop();
    const view = await SnapshotView.build(snap);
    this.cached = { view, at: Date.now() };
    const durationMs = performance.now() - t0;
    for (const fn of this.listeners) fn({ view, durationMs });
    return view;
  }

  /** Iterator records (and births, drained by the same call), or the reason there are none. */
  private async readKernel(scan: (() => Promise<KernelRecordTable>) | undefined): Promise<KernelRecordTable | KernelUnavailable | null> {
    const k = this.kernel;
    if (!k.available) return this.opts.collect ? null : k;
    if (!scan) return null;
    try {
      return await scan();
    } catch (e) {
      return { available: false, code: 'EITERATE', reason: `the eBPF iterator failed: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /**
   * The iterator sees only the namespace it is read from: read it again inside every other
   * namespace whose sockets came from sock_diag (entering needs CAP_SYS_ADMIN, as for those).
   * Cookies are host-wide, so the records merge into one map. A namespace that vanished or
   * cannot be entered just goes without kernel evidence.
   */
  private async withForeign(own: KernelRecordTable, snap: Snapshot): Promise<KernelRecordTable> {
    const k = this.kernel;
    if (!k.available || !snap.namespaces) return own;
    const out: Buffer[] = [];
    for (const ns of snap.namespaces) {
      if (ns.self || ns.source !== 'netlink') continue;
      const path = ns.name ? `/run/netns/${ns.name}` : ns.pids.length ? `/proc/${ns.pids[0]}/ns/net` : null;
      if (!path) continue;
      let fd: number | null = null;
      try {
        fd = openSync(path, 'r');
        out.push(await k.iterateInNetnsRaw(fd));
      } catch {
        // gone or not enterable: heuristics still judge its sockets
      } finally {
        if (fd !== null) closeSync(fd);
      }
    }
    // Added to this refresh's own table (its sockets are already listed) rather than indexing
    // the own pass a second time in a new one.
    for (const b of out) own.append(b);
    return own;
  }

  private kernelEvidenceFor(k: KernelRecordTable | KernelUnavailable, startedAt: number): KernelEvidence {
    if (!(k instanceof KernelRecordTable)) {
      return { available: false, code: k.code, reason: k.reason, records: kernelRecordIndex([]), births: kernelBirthIndex([]), tracepoint: false };
    }
    // Births of sockets the passes did not see are of no use: gone (and forgotten here), or in
    // a namespace this snapshot does not read through sock_diag (no cookie to join them by).
    k.attachBirths((this.kernel as KernelEvidenceSource).births, Date.now(), startedAt);
    return { available: true, code: null, reason: null, records: k, births: k.births, tracepoint: true };
  }

  /** Stops the kernel source's reader; the service keeps answering from heuristics. */
  close(): void {
    if (this.kernel.available) this.kernel.close();
  }

  /** Owners of the view's sockets, resolved once per view and only when a query asks. */
  processesOf(view: SnapshotView): Promise<ProcessMap> {
    let p = this.processCache.get(view);
    if (!p) {
      const inodes: number[] = [];
      for (const s of view.snapshot.sockets) if (s.inode !== 0) inodes.push(s.inode);
      p = this.opts.resolveProcesses ? this.opts.resolveProcesses(inodes) : this.resolver.resolve(inodes);
      this.processCache.set(view, p);
    }
    return p;
  }

  async processesFor(view: SnapshotView, rec: ConnectionRecord | ListenerRecord): Promise<readonly ProcessRef[]> {
    if (rec.socket.inode === 0) return [];
    return (await this.processesOf(view)).get(rec.socket.inode) ?? [];
  }
}
