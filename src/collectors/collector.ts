import { closeSync, fstatSync, openSync } from 'node:fs';
import type { KernelEvent, KernelEvidence, ProcessMap, Snapshot, SourceName } from '../model';
import { kernelBirthIndex, kernelRecordIndex } from '../model';
import { collectAllNamespaces } from './all-namespaces';
import { ConntrackReader, type ConntrackTarget } from './conntrack';
import { hostPaths, netnsEnterPath, type HostPaths } from './host-paths';
import { inInitialPidNamespace, kernelEventsIn, KernelEvidenceSource, KernelRecordTable, kernelUnavailable, scanSockets, type EbpfPass, type KernelUnavailable } from './kernel';
import { nativeSocketFds } from './native';
import { NetnsDiscovery } from './netns-discovery';
import { NetnsWalks, type WalkPass } from './netns-walks';
import { twoAtATime } from './two-lanes';
import { ProcessResolver } from './proc-fd';
import { readCommands } from './proc-comm';
import { collectSnapshot } from './snapshot';
import { SockDiagReuse } from './sockdiag';

export interface CollectorOptions {
  /**
   * auto: the eBPF iterator pass when the kernel source is loaded (the same pass gives the
   * evidence), else netlink, falling back to procfs. ebpf needs the kernel source.
   */
  source?: 'auto' | SourceName;
  /** Where procfs and /run/netns are (fixtures use copied trees). */
  paths?: Partial<HostPaths>;
  /** Directory holding the netlink addon (default build/Release); tests point it elsewhere. */
  nativeDir?: string;
  /**
   * Read every network namespace on the host. With CAP_SYS_ADMIN each is entered (sock_diag +
   * its own port range); without, foreign ones come from /proc/PID/net/tcp{,6}.
   */
  allNamespaces?: boolean;
  /**
   * Read the kernel's own socket state with eBPF (default true). When it cannot load (no
   * privilege, no BTF, built without the toolchain), `kernel` says why.
   */
  kernelEvidence?: boolean;
  /**
   * Have the tracepoint send each connection's lifecycle, not only its birth (a history recorder
   * needs the closes too). Costs more ring-buffer traffic under churn.
   */
  lifecycle?: boolean;
  /**
   * Read netfilter's conntrack table of every namespace read (default true), and subscribe to its
   * NEW events. Needs CAP_NET_ADMIN; without it, `conntrack` says why.
   */
  conntrack?: boolean;
}

/** One iterator pass inside the namespace at `path`, when it still is `inode` (null: not checked). */
async function iterateInNetns(k: KernelEvidenceSource, path: string, inode: number | null): Promise<Buffer> {
  const fd = openSync(path, 'r');
  try {
    if (inode !== null && fstatSync(fd).ino !== inode) throw new Error(`${path} is another namespace now`);
    return await k.iterateInNetnsRaw(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The collectors' one face: every read of the host a snapshot needs (sockets of one or every
 * namespace, host facts, the kernel source's passes and births, processes) behind collect(),
 * with the state that makes the next collection cheaper (the last iterator pass and netlink
 * dump, whose unchanged sockets are reused).
 */
export class Collector {
  /** The eBPF source, or why there is none. Loaded once, at construction. */
  readonly kernel: KernelEvidenceSource | KernelUnavailable;
  readonly paths: HostPaths;
  private readonly resolver: ProcessResolver;
  /** A kernel owner pass started by warmProcesses(), for the next processes() call. */
  private warmOwners: Promise<ProcessMap> | null = null;
  /** Whether kernel owner passes stand for /proc here (inInitialPidNamespace); read once. */
  private ownersUsable: boolean | undefined;
  /** The last iterator pass used as the socket list: the next one reuses its unchanged sockets. */
  private lastPass: EbpfPass | null = null;
  /** The same for the last sock_diag dump of this namespace (kernel evidence off). */
  private readonly lastDump = new SockDiagReuse();
  /** Other namespaces' last walks: one where the kernel counted no change is not walked again. */
  private readonly walks = new NetnsWalks();
  /** ctnetlink per namespace, with NEW-event subscriptions kept between collections. */
  readonly conntrack: ConntrackReader;
  /** Namespaces found so far, updated incrementally (all namespaces only). */
  private readonly discovery: NetnsDiscovery | null;

  constructor(private readonly opts: CollectorOptions = {}) {
    this.paths = hostPaths(opts.paths);
    this.kernel = opts.kernelEvidence === false ? kernelUnavailable('DISABLED', '') : KernelEvidenceSource.open({ lifecycle: opts.lifecycle, drainIntervalMs: opts.lifecycle ? 200 : undefined });
    if (!this.kernel.available && opts.source === 'ebpf') {
      // Asked for explicitly: refuse to start rather than fail every request.
      throw new Error(`source ebpf needs the eBPF kernel source, which is unavailable (${this.kernel.code}): ${this.kernel.reason}`);
    }
    this.resolver = new ProcessResolver(this.paths.procRoot, { socketFds: nativeSocketFds(opts.nativeDir) });
    this.conntrack = ConntrackReader.open({ nativeDir: opts.nativeDir, enabled: opts.conntrack !== false });
    this.discovery = opts.allNamespaces ? new NetnsDiscovery({ procRoot: this.paths.procRoot, runNetnsDir: this.paths.netnsDir }) : null;
  }

  /** One snapshot: sockets, host facts, namespaces and the kernel's evidence (births attached). */
  async collect(): Promise<Snapshot> {
    const startedAt = Date.now();
    // One iterator pass per collection, shared: it is the kernel evidence, and (source auto or
    // ebpf) also the socket list of this namespace, which then needs no sock_diag dump.
    const k = this.kernel;
    const source = this.opts.source ?? 'auto';
    let pass: Promise<EbpfPass> | null = null;
    const ebpf = k.available && (source === 'auto' || source === 'ebpf')
      ? () => (pass ??= scanSockets(k, this.lastPass).then((p) => (this.lastPass = p)))
      : undefined;
    const scan = k.available ? (ebpf ? async () => (await ebpf()).table : () => k.scan()) : undefined;
    // Without kernel evidence verdicts are heuristic: tcp_info lets the syn-acked rule settle
    // lone connections (it counts our SYN only if this side connected), worth its dump cost there.
    const walks = this.walks.pass();
    const collectOpts = {
      source, procRoot: this.paths.procRoot, runNetnsDir: this.paths.netnsDir, nativeDir: this.opts.nativeDir, ebpf, netlinkReuse: this.lastDump,
      tcpInfo: !k.available, discovery: this.discovery ?? undefined,
      walks, netnsChanges: k.available ? (inodes: number[]) => (k as KernelEvidenceSource).netnsChanges(inodes) : undefined,
      iterateIn: ebpf ? (path: string, inode: number) => iterateInNetns(k as KernelEvidenceSource, path, inode) : undefined,
    };
    const [snap, kernel] = await Promise.all([
      this.opts.allNamespaces ? collectAllNamespaces(collectOpts) : collectSnapshot(collectOpts),
      this.readKernel(scan),
    ]);
    // conntrack (its own threads) runs while the iterator is read in the other namespaces.
    const ctRead = this.conntrack.read(this.conntrackTargets(snap));
    const table = kernel instanceof KernelRecordTable ? await this.withForeign(kernel, snap, walks) : kernel;
    snap.kernel = this.kernelEvidenceFor(table, startedAt);
    const ct = await ctRead;
    if (ct.code !== 'DISABLED' && ct.code !== 'NATIVE_UNAVAILABLE') {
      for (const ns of snap.namespaces ?? []) {
        if (ns.self || ns.source === 'netlink' || ns.source === 'ebpf') continue;
        ct.namespaces.push({ netns: ns.id, available: false, code: 'NOT_ENTERED', reason: `its conntrack table is read from inside it, which needs CAP_SYS_ADMIN (setns): ${ns.reason ?? 'not entered'}`, entries: 0, events: false });
      }
    }
    snap.conntrack = ct;
    return snap;
  }

  /**
   * The namespaces whose conntrack table to read: the own one, and every other one this snapshot
   * entered (entering needs CAP_SYS_ADMIN, as for sock_diag). Ids as the sockets carry them.
   */
  private conntrackTargets(snap: Snapshot): ConntrackTarget[] {
    if (!snap.namespaces) return [{ netns: null, path: null }];
    const out: ConntrackTarget[] = [];
    for (const ns of snap.namespaces) {
      if (ns.self) out.push({ netns: ns.id, path: null });
      else if (ns.source === 'netlink' || ns.source === 'ebpf') {
        const path = netnsEnterPath(this.paths, ns);
        if (path) out.push({ netns: ns.id, path });
      }
    }
    return out;
  }

  /**
   * Owners of these socket inodes: with the kernel source (in the initial pid namespace) one
   * kernel walk of every process's descriptors, else a /proc/PID/fd scan cached between calls.
   * The kernel's answer may hold other sockets' owners too.
   */
  processes(inodes: number[]): Promise<ProcessMap> {
    const warm = this.warmOwners;
    this.warmOwners = null;
    const kernel = warm ?? this.kernelOwners();
    if (!kernel) return this.resolver.resolve(inodes);
    // A failed owner pass (never seen: the kernel refusing the iterator) must not fail the view's
    // processes: /proc answers, this time and from then on.
    return kernel.catch(() => {
      this.ownersUsable = false;
      return this.resolver.resolve(inodes);
    });
  }

  /**
   * Reads which processes hold which sockets now, ahead of a snapshot, for the next processes()
   * call (a one-shot `list`): as `ss -p`, descriptors are read before the sockets, so a socket
   * opened in between has no owner.
   */
  warmProcesses(): Promise<void> {
    const kernel = this.kernelOwners();
    if (!kernel) return this.resolver.warm();
    this.warmOwners = kernel;
    return kernel.then(() => undefined);
  }

  /** A kernel owner pass, or null when there is none to be had here. */
  private kernelOwners(): Promise<ProcessMap> | null {
    const k = this.kernel;
    if (!k.available) return null;
    this.ownersUsable ??= inInitialPidNamespace();
    if (!this.ownersUsable) return null;
    try {
      return k.owners();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `/proc/PID/comm` of each pid (at most `limit`), skipping processes that exited. */
  commands(pids: readonly number[], limit?: number): Promise<{ pid: number; command: string }[]> {
    return readCommands(pids, this.paths.procRoot, limit);
  }

  /**
   * Calls `fn` with every batch of tracepoint state changes, decoded, and the offset that turns
   * their CLOCK_MONOTONIC stamps into wall-clock ms. Nothing happens without kernel evidence.
   */
  onKernelEvents(fn: (events: Iterable<KernelEvent>, wallOffsetMs: number) => void): void {
    if (!this.kernel.available) return;
    this.kernel.onEvents((raw) => {
      // process.hrtime reads CLOCK_MONOTONIC, the clock bpf_ktime_get_ns stamps events with.
      const offset = Date.now() - Number(process.hrtime.bigint()) / 1e6;
      fn(kernelEventsIn(raw), offset); // read in place: fn copies what it keeps
    });
  }

  /** Stops the kernel source's reader; collections go on with heuristics' inputs only. */
  close(): void {
    if (this.kernel.available) this.kernel.close();
    this.conntrack.close();
    this.discovery?.close();
  }

  /** Iterator records (and births, drained by the same call), or the reason there are none. */
  private async readKernel(scan: (() => Promise<KernelRecordTable>) | undefined): Promise<KernelRecordTable | KernelUnavailable> {
    const k = this.kernel;
    if (!k.available) return k;
    if (!scan) return { available: false, code: 'EITERATE', reason: 'the eBPF iterator was not read' };
    try {
      return await scan();
    } catch (e) {
      return { available: false, code: 'EITERATE', reason: `the eBPF iterator failed: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  /**
   * The iterator sees only the namespace it is read from: every other entered namespace has its
   * own pass (entering needs CAP_SYS_ADMIN), read with its socket list (source ebpf), kept from
   * an earlier walk, or read here when its sockets came from sock_diag.
   * Cookies are host-wide, so the records merge into one map. A namespace that vanished or
   * cannot be entered just goes without kernel evidence.
   */
  private async withForeign(own: KernelRecordTable, snap: Snapshot, walks: WalkPass): Promise<KernelRecordTable> {
    const k = this.kernel;
    if (!k.available || !snap.namespaces) return own;
    // Namespaces listed by their own pass (source ebpf) or kept from an earlier walk have it already.
    const targets = snap.namespaces.filter((ns) => !ns.self && (ns.source === 'netlink' || ns.source === 'ebpf'));
    const out: (Buffer | null)[] = targets.map((ns) => walks.records(ns.id));
    const read = async (i: number): Promise<void> => {
      const ns = targets[i];
      const path = netnsEnterPath(this.paths, ns);
      if (!path) return;
      try {
        const records = await iterateInNetns(k, path, null);
        walks.iterated(ns.id, records);
        out[i] = records;
      } catch {
        // gone or not enterable: heuristics still judge its sockets
      }
    };
    // Each pass is a walk of the host's whole table in the kernel: one after another they added up
    // (50 changed namespaces beside 20k sockets).
    await twoAtATime(targets.length, async (i) => {
      if (out[i] === null) await read(i);
    });
    // Added to this collection's own table (its sockets are already listed) rather than indexing
    // the own pass a second time in a new one.
    for (const b of out) if (b !== null) own.append(b);
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
}
