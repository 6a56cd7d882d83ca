import { collectSnapshot, ProcessResolver } from '../collectors';
import type { ProcessMap, ProcessRef, Snapshot, SourceName } from '../model';
import { HistoryKeeper } from './history-keeper';
import type { ConnectionRecord, ListenerRecord } from './records';
import { SnapshotView, yieldToLoop } from './view';

export interface ServiceOptions {
  /** auto: netlink, falling back to procfs. */
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
   * collected in the background (default false: a stale cache makes the request wait).
   */
  staleWhileRevalidate?: boolean;
  /** Directory holding the netlink addon (default build/Release); tests point it elsewhere. */
  nativeDir?: string;
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
  readonly maxAgeMs: number;

  constructor(private readonly opts: ServiceOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
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
    if (c && Date.now() - c.at < this.maxAgeMs) return Promise.resolve(c.view);
    if (!this.inflight) {
      const run = this.refresh().finally(() => {
        this.inflight = null;
      });
      this.inflight = run;
      // Nobody awaits a background refresh: a failure is reported by the next request that waits.
      if (c && this.opts.staleWhileRevalidate) run.catch(() => undefined);
    }
    if (c && this.opts.staleWhileRevalidate) return Promise.resolve(c.view);
    return this.inflight;
  }

  private async refresh(): Promise<SnapshotView> {
    const t0 = performance.now();
    const snap = this.opts.collect ? await this.opts.collect() : await collectSnapshot({ source: this.opts.source ?? 'auto', procRoot: this.opts.procRoot, nativeDir: this.opts.nativeDir });
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
