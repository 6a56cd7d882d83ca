import { Collector, kernelUnavailable, PeerAgents, type HostPaths, type KernelEvidenceSource, type KernelUnavailable, type PeerAsk } from '../collectors';
import type { KernelEvent, ProcessMap, ProcessRef, Snapshot, SourceName } from '../model';
import { findPeerIndexAt } from '../classifier';
import { HistoryKeeper } from './history-keeper';
import { podSources, type PodLookup } from './pods';
import type { ConnectionRecord, ListenerRecord } from './records';
import { InputError } from './errors';
import { checkConfidence, checkPort } from './validate';
import { remoteRange, SnapshotView, yieldToLoop, type ConnectionFilter } from './view';

export interface ServiceOptions {
  /**
   * auto: the eBPF iterator pass when the kernel source is loaded (the same pass gives the
   * evidence), else netlink, falling back to procfs. ebpf needs the kernel source.
   */
  source?: 'auto' | SourceName;
  /** A snapshot serves every request within this many ms; 0 = a fresh one per request. */
  maxAgeMs?: number;
  /** Where procfs and /run/netns are (fixtures use copied trees). */
  paths?: Partial<HostPaths>;
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
  /** Have the tracepoint send each connection's lifecycle, closes included (a history recorder needs them). */
  lifecycle?: boolean;
  /** Read netfilter's conntrack table of every namespace read, with NEW events (default true; needs CAP_NET_ADMIN). */
  conntrack?: boolean;
  /** Told once, at start, why kernel evidence is unavailable. */
  onKernelUnavailable?: (why: KernelUnavailable) => void;
  /**
   * The kubelet's pod list (an http(s) URL such as http://127.0.0.1:10255/pods, or a file of a
   * PodList): containers found in cgroups are then named by pod, namespace and container name.
   */
  kubeletPods?: string;
  /**
   * A container runtime's CRI socket (e.g. /run/containerd/containerd.sock): pods named from its
   * ListContainers. With kubeletPods too, both are read; the CRI socket is asked first.
   */
  criSocket?: string;
  /** criSocket was found at a usual path, not asked for: a socket that does not answer is given up. */
  criProbed?: boolean;
  /** Told when reading a pod source fails (null: it works again). */
  onPodsError?: (message: string | null, source: string, everRead: boolean) => void;
  /** Told once which runtime names the pods. */
  onPodsSource?: (message: string) => void;
  /**
   * Peer agents (tcpdir on other hosts): base URLs such as http://10.0.0.2:4000, or
   * ADDRESS=URL. Lone connections to their addresses that this host cannot settle are settled by
   * asking them (rule peer-agent).
   */
  peers?: readonly string[];
  /** Bearer token sent to peer agents. */
  peerToken?: string;
  /** Longest wait for the peer agents' answers per snapshot (default 500 ms). */
  peerTimeoutMs?: number;
  /** Told when a peer agent stops answering (with why) and when it answers again (null). */
  onPeerStatus?: (peer: string, reason: string | null) => void;
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
  /** `local`: the same snapshot classified without asking peer agents (what a peer agent is answered from). */
  private cached: { view: SnapshotView; local: SnapshotView; at: number } | null = null;
  private inflight: { view: Promise<SnapshotView>; local: Promise<SnapshotView> } | null = null;
  /** Peer agents to ask about lone connections; null without --peers. */
  readonly peers: PeerAgents | null;
  private readonly history: HistoryKeeper | null;
  private readonly processCache = new WeakMap<SnapshotView, Promise<ProcessMap>>();
  /** The same maps once resolved, for callers that can answer without awaiting. */
  private readonly processesDone = new WeakMap<SnapshotView, ProcessMap>();
  private readonly listeners: Array<(e: SnapshotEvent) => void> = [];
  /** Reads the host; null when snapshots come from a fixture (opts.collect). */
  private readonly collector: Collector | null;
  readonly maxAgeMs: number;
  /** 0 unless staleWhileRevalidate (and maxAgeMs > 0). */
  readonly staleGraceMs: number;
  /** The eBPF source, or why there is none. Loaded once, at construction. */
  readonly kernel: KernelEvidenceSource | KernelUnavailable;
  /** Container id -> pod, when a CRI socket or a kubelet pod list was given. */
  readonly pods: PodLookup | null;
  private readonly closePods: () => void;

  constructor(private readonly opts: ServiceOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
    this.staleGraceMs = opts.staleWhileRevalidate && this.maxAgeMs > 0 ? (opts.staleGraceMs ?? Math.max(this.maxAgeMs, 1000)) : 0;
    this.collector = opts.collect
      ? null
      : new Collector({ source: opts.source, paths: opts.paths, nativeDir: opts.nativeDir, allNamespaces: opts.allNamespaces, kernelEvidence: opts.kernelEvidence, lifecycle: opts.lifecycle, conntrack: opts.conntrack });
    this.kernel = this.collector?.kernel ?? (opts.kernelEvidence === false
      ? kernelUnavailable('DISABLED', '')
      : { available: false, code: 'FIXTURE', reason: 'snapshots come from a fixture collector' });
    if (!this.kernel.available) opts.onKernelUnavailable?.(this.kernel);
    this.history = opts.history === false ? null : new HistoryKeeper();
    ({ pods: this.pods, close: this.closePods } = podSources({
      criSocket: opts.criSocket, criProbed: opts.criProbed, kubeletPods: opts.kubeletPods, onError: opts.onPodsError, onSource: opts.onPodsSource,
    }));
    this.peers = opts.peers?.length ? new PeerAgents({ peers: opts.peers, token: opts.peerToken, timeoutMs: opts.peerTimeoutMs, onStatus: opts.onPeerStatus, ttlMs: Math.max(this.maxAgeMs, 1000) }) : null;
  }

  onSnapshot(fn: (e: SnapshotEvent) => void): void {
    this.listeners.push(fn);
  }

  /**
   * The current view: cached while fresh, else shared with any collection already running. With
   * staleWhileRevalidate, a stale view is served at once and the refresh runs behind it.
   * `acceptAgeMs`: a caller that prefers an older view now to a fresh one later (a metrics
   * scrape) takes one up to that age, the refresh still starting behind it.
   */
  current(opts: { local?: boolean; acceptAgeMs?: number } = {}): Promise<SnapshotView> {
    const c = this.cached;
    const age = c ? Date.now() - c.at : Infinity;
    if (c && age < this.maxAgeMs) return Promise.resolve(opts.local ? c.local : c.view);
    // Under steady load the stale view answers while its successor is built, so no request
    // queues behind a collection; an older one (after an idle spell) is not served.
    const staleBound = Math.max(this.staleGraceMs > 0 ? this.maxAgeMs + this.staleGraceMs : 0, opts.acceptAgeMs ?? 0);
    const serveStale = c !== null && age < staleBound;
    if (!this.inflight) {
      let localDone!: (v: SnapshotView) => void;
      const local = new Promise<SnapshotView>((resolve) => (localDone = resolve));
      const run = this.refresh(localDone).finally(() => {
        this.inflight = null;
      });
      // A failed collection never builds a local view: it fails with the run (handled here:
      // only peer requests wait on it).
      const localOrFail = Promise.race([local, run]);
      localOrFail.catch(() => undefined);
      const inflight = { view: run, local: localOrFail };
      this.inflight = inflight;
      // Nobody awaits a background refresh: a failure is reported by the next request that waits.
      if (serveStale) run.catch(() => undefined);
    }
    if (serveStale) return Promise.resolve(opts.local ? c.local : c.view);
    // A peer agent's question waits only for the local classification, never for this agent's
    // own questions to peers (two agents asking each other would otherwise wait on each other).
    return opts.local ? this.inflight.local : this.inflight.view;
  }

  private async refresh(localDone: (v: SnapshotView) => void): Promise<SnapshotView> {
    const t0 = performance.now();
    const snap: Snapshot = this.collector ? await this.collector.collect() : await this.opts.collect!();
    // Collection, history and classification each block the event loop for a while on a big host:
    // yield between them so requests queued meanwhile are not held up by the sum of the three.
    await yieldToLoop();
    if (this.history) snap.history = this.history.observe(snap);
    await yieldToLoop();
    const local = await SnapshotView.build(snap);
    localDone(local);
    const view = await this.withPeers(local);
    this.cached = { view, local, at: Date.now() };
    const durationMs = performance.now() - t0;
    for (const fn of this.listeners) fn({ view, durationMs });
    return view;
  }

  /**
   * The view classified again with peer agents' verdicts, when some lone connection (not
   * certain, other end not on this host) goes to a peer's address; else `local` itself.
   */
  private async withPeers(local: SnapshotView): Promise<SnapshotView> {
    if (!this.peers) return local;
    await this.peers.resolveNames();
    const asks: PeerAsk[] = [];
    const v = local.verdicts;
    for (let i = 0; i < v.size; i++) {
      const s = local.ctx.conns[i];
      if (v.certain(i) || s.state === 'TIME_WAIT' || s.state === 'SYN_RECV') continue;
      const peer = this.peers.peerFor(s.remoteAddress);
      if (peer === null || findPeerIndexAt(local.ctx, i) >= 0) continue;
      asks.push({ socketId: s.id, peer, localAddress: s.localAddress, localPort: s.localPort, remoteAddress: s.remoteAddress, remotePort: s.remotePort });
    }
    if (asks.length === 0) return local;
    const peers = await this.peers.ask(asks);
    await yieldToLoop();
    return SnapshotView.build({ ...local.snapshot, peers });
  }

  /** Every batch of tracepoint state changes (see Collector.onKernelEvents). */
  onKernelEvents(fn: (events: Iterable<KernelEvent>, wallOffsetMs: number) => void): void {
    this.collector?.onKernelEvents(fn);
  }

  /** Stops the kernel source's reader; the service keeps answering from heuristics. */
  close(): void {
    this.collector?.close();
    this.closePods();
  }

  /**
   * Starts reading which processes hold which sockets before the next snapshot exists: the fd
   * tables are read on pool threads while the snapshot is built, and the owners of its sockets
   * then cost only the tables that changed meanwhile (a one-shot `tcpdir list`).
   */
  warmProcesses(): void {
    if (!this.opts.resolveProcesses) this.collector?.warmProcesses().catch(() => undefined);
  }

  /** Owners of the view's sockets, resolved once per view and only when a query asks. */
  processesOf(view: SnapshotView): Promise<ProcessMap> {
    let p = this.processCache.get(view);
    if (!p) {
      const inodes: number[] = [];
      for (const s of view.snapshot.sockets) if (s.inode !== 0) inodes.push(s.inode);
      p = this.opts.resolveProcesses
        ? this.opts.resolveProcesses(inodes)
        : this.collector ? this.collector.processes(inodes) : Promise.resolve(new Map() as ProcessMap);
      p.then((m) => this.processesDone.set(view, m), () => undefined);
      this.processCache.set(view, p);
    }
    return p;
  }

  /** The view's owners if already resolved (processesOf ran and finished), else null. */
  processesReady(view: SnapshotView): ProcessMap | null {
    return this.processesDone.get(view) ?? null;
  }

  async processesFor(view: SnapshotView, rec: ConnectionRecord | ListenerRecord): Promise<readonly ProcessRef[]> {
    if (rec.socket.inode === 0) return [];
    return (await this.processesOf(view)).get(rec.socket.inode) ?? [];
  }

  /**
   * A connections filter checked (an InputError names the bad argument), its `process` turned
   * into the inodes of that process's sockets: what Query.connections and `tcpdir list` apply.
   */
  async filterFor(view: SnapshotView, a: ConnectionFilter): Promise<ConnectionFilter> {
    checkPort('port', a.port);
    checkPort('localPort', a.localPort);
    checkPort('remotePort', a.remotePort);
    checkConfidence('minConfidence', a.minConfidence);
    if (a.state === 'LISTEN') throw new InputError('state', 'state LISTEN matches no connection: listening sockets are listeners (query listeners instead)');
    if (a.remoteAddress != null) remoteRange(a.remoteAddress);
    if (a.process == null) return a;
    if (a.process.trim() === '' || a.process.length > 64) throw new InputError('process', 'process must be a command name or a pid');
    return { ...a, inodes: await this.inodesOfProcess(view, a.process.trim()) };
  }

  /** Inodes of the sockets held by a process, by command or pid (digits: a pid or an all-digit command). */
  async inodesOfProcess(view: SnapshotView, process: string): Promise<Set<number>> {
    const pid = /^\d+$/.test(process) ? Number(process) : null;
    const out = new Set<number>();
    for (const [inode, procs] of await this.processesOf(view)) {
      if (procs.some((p) => p.command === process || p.pid === pid)) out.add(inode);
    }
    return out;
  }

  /** Commands of a namespace's processes (Netns.processes), at most `limit`. */
  commands(pids: readonly number[], limit?: number): Promise<{ pid: number; command: string }[]> {
    return this.collector ? this.collector.commands(pids, limit) : Promise.resolve([]);
  }
}
