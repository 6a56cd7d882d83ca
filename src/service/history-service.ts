import {
  HistoryFilterError, HistoryStore, Recorder, type FlowFilter, type GapMarker, type FlowRow, type HistoryFilter, type HistoryPage, type LifeEvent,
  type RecorderStatus, type StoreStatus,
} from '../history';
import { InputError } from './errors';
import { ListenerOwners } from './listener-owners';
import { checkConfidence, checkNetnsId, checkPort } from './validate';
import { LookConnections, type Look } from './observed-connection';
import type { TcpdirService } from './tcpdir-service';
import type { SnapshotView } from './view';

export interface HistoryOptions {
  /** SQLite file, or ':memory:'. */
  path: string;
  retentionMs?: number;
  maxBytes?: number;
  /**
   * How often a snapshot is taken for the recorder: SNAPSHOT mode's resolution (default 1 s),
   * and in KERNEL mode how soon namespaces and processes are filled in (default 5 s).
   */
  intervalMs?: number;
  /** Told when the store starts failing at run time; live queries go on meanwhile. */
  onError?: (message: string) => void;
  /** The path is a default, not asked for: when it cannot be used, the server runs without history (and logs why). */
  optional?: boolean;
}

/** What a live event stream is narrowed by (GraphQL connectionEvents, REST /api/v1/events). */
export interface EventFilter {
  direction?: string | null;
  port?: number | null;
  netns?: string | null;
  minConfidence?: number | null;
}

/** The events `f` lets through: checks the filter (InputError naming the bad one), then matches. */
export function eventFilter(f: EventFilter): (e: LifeEvent) => boolean {
  checkPort('port', f.port);
  checkConfidence('minConfidence', f.minConfidence);
  checkNetnsId('netns', f.netns);
  return (e) =>
    (f.direction == null || e.life.direction === f.direction) &&
    (f.port == null || e.life.localPort === f.port || e.life.remotePort === f.port) &&
    (f.netns == null || e.life.netns === f.netns) &&
    (f.minConfidence == null || e.life.confidence >= f.minConfidence);
}

export interface HistoryStatus {
  recorder: RecorderStatus;
  store: StoreStatus;
  /** What the history can miss, in words. */
  caveat: string;
  /** Tracepoint events lost since start (kernel ring buffer and native buffer). */
  droppedEvents: number;
}


/** Connections handled per turn of the event loop when the recorder looks at a snapshot. */
const OBSERVE_SLICE = 5000;
/** How soon a look follows an accepted connection whose listener no look has seen. */
const EARLY_LOOK_MS = 250;
/**
 * The history use cases: records every connection that opens and closes while tcpdir runs (from
 * the tracepoint when kernel evidence is loaded, else by polling snapshots) into the store, and
 * answers history, flows and live events.
 */
export class HistoryService {
  readonly store: HistoryStore;
  readonly recorder: Recorder;
  private readonly timer: NodeJS.Timeout;
  private lastDrops = 0;
  /** collectedAt of the last snapshot given to the recorder. */
  private lastObservedAt = -Infinity;
  private observing = false;
  private closed = false;
  private readonly listenerOwners = new ListenerOwners();
  /** The namespaces the last look covered (their listeners are all known to listenerOwners). */
  private covered: ReadonlySet<string> = new Set();
  /** Namespace|port of accepted connections whose listener no look knew: one early look each per interval. */
  private readonly askedPorts = new Set<string>();
  private askedClearedAt = -Infinity;
  private earlyLook: NodeJS.Timeout | null = null;
  private lastEarlyLook = -Infinity;

  constructor(private readonly service: TcpdirService, opts: HistoryOptions) {
    const kernel = service.kernel.available;
    const intervalMs = opts.intervalMs ?? (kernel ? 5000 : 1000);
    this.store = HistoryStore.open({
      path: opts.path, retentionMs: opts.retentionMs, maxBytes: opts.maxBytes,
      onError: (e) => opts.onError?.(`history store failing (${e.code}): ${e.message}; live queries go on, history is incomplete until it recovers`),
    });
    this.recorder = new Recorder({
      store: this.store, mode: kernel ? 'KERNEL' : 'SNAPSHOT', intervalMs,
      listenerOwner: (netns, family, address, port) => {
        const owner = this.listenerOwners.find(netns, family, address, port);
        if (owner === null) this.ownerUnknown(netns, port);
        return owner;
      },
    });
    this.store.closeOpen(this.recorder.startedAt);
    service.onKernelEvents((events, offset) => {
      if (this.closed) return;
      this.recorder.ingest(events, offset);
      this.noteDrops();
    });
    // After the request that caused the snapshot has its answer (setImmediate runs once the
    // answer's microtasks are done), and in KERNEL mode at most once an interval: there the
    // tracepoint records lives and a snapshot only fills in namespaces and processes, which
    // 100k connections made cost more than the snapshot itself on every fresh request.
    service.onSnapshot(({ view }) => {
      const at = view.snapshot.collectedAt;
      // One look at a time: under load a look (in slices) can outlast the next snapshot.
      if (this.closed || this.observing || (this.recorder.mode === 'KERNEL' && at - this.lastObservedAt < intervalMs * 0.9)) return;
      this.lastObservedAt = at;
      this.observing = true;
      setImmediate(() => {
        if (this.closed) return;
        void this.observe(view).finally(() => (this.observing = false));
      });
    });
    // Snapshots on a clock, besides those requests cause; a failed one is the next request's to report.
    this.timer = setInterval(() => void service.current().catch(() => undefined), intervalMs);
    this.timer.unref();
    void service.current().catch(() => undefined);
  }

  private async observe(view: SnapshotView): Promise<void> {
    const snap = view.snapshot;
    // The recorder reads the view's columns through one reused object (LookConnections), and
    // records in slices with turns of the event loop between them: at 100k connections a look
    // held the main thread for about 100 ms in one piece (measured), and a request that came
    // meanwhile waited for all of it.
    const look: Look = { view, conns: view.ctx.conns, procs: null };
    const connections = new LookConnections(look);
    // Owners only when the recorder would ask for one: every snapshot would pay a /proc scan.
    const newListeners = this.recorder.mode === 'KERNEL' && this.listenerOwners.needsOwners(view);
    if (newListeners || this.recorder.wantsOwners(connections)) {
      try {
        look.procs = await this.service.processesOf(view);
      } catch {
        // owners unknown this time
      }
    }
    if (this.recorder.mode === 'KERNEL') this.listenerOwners.update(view, look.procs);
    if (snap.collectedAt - this.askedClearedAt >= this.recorder.intervalMs) {
      this.askedPorts.clear();
      this.askedClearedAt = snap.collectedAt;
    }
    // Namespaces whose every socket the snapshot lists under the recorder's key: by cookie
    // (KERNEL: eBPF or sock_diag; procfs has no cookies), or by id (SNAPSHOT: any that was read).
    const byCookie = this.recorder.mode === 'KERNEL';
    const listed = (source: string) => (byCookie ? source === 'ebpf' || source === 'netlink' : source !== 'none');
    const covered = new Set<string>();
    if (snap.namespaces) {
      for (const n of snap.namespaces) if (listed(n.source)) covered.add(n.id);
    } else if (snap.host.netns && listed(snap.source)) {
      covered.add(snap.host.netns);
    }
    this.covered = covered;
    // A snapshot that was being taken, or an owner scan awaited, when close() ran: the store is gone.
    if (this.closed) return;
    await this.recorder.observeInSlices({ at: snap.collectedAt, connections, covered }, OBSERVE_SLICE, () => this.closed);
  }

  /**
   * An accepted connection whose listener the last look did not see (a server started since):
   * its life has no process. Rather than wait up to an interval for the next look, look soon:
   * the look finds the listener's owner for the next connections and fills in the open lives.
   * Only for namespaces the looks cover, once per port per interval, and at most one early look
   * a second: a listener that is gone before any look sees it cannot make looks run back to back.
   */
  private ownerUnknown(netns: string | null, port: number): void {
    if (this.closed || netns === null || !this.covered.has(netns) || this.listenerOwners.knows(netns, port)) return;
    const key = `${netns}|${port}`;
    if (this.askedPorts.has(key)) return;
    this.askedPorts.add(key);
    if (this.earlyLook !== null) return;
    const askedAt = Date.now();
    const wait = Math.max(EARLY_LOOK_MS, this.lastEarlyLook + 1000 - askedAt);
    this.earlyLook = setTimeout(() => void this.lookSince(askedAt, 8), wait);
    this.earlyLook.unref();
  }

  /** Takes a snapshot no older than `since` and looks at it (a cached one may predate the listener). */
  private async lookSince(since: number, tries: number): Promise<void> {
    this.lastEarlyLook = Date.now();
    this.lastObservedAt = -Infinity; // the next snapshot gets a look, whoever asked for it
    try {
      const view = await this.service.current();
      if (view.snapshot.collectedAt < since && tries > 1 && !this.closed) {
        this.earlyLook = setTimeout(() => void this.lookSince(since, tries - 1), EARLY_LOOK_MS);
        this.earlyLook.unref();
        return;
      }
    } catch {
      // the next request reports a failed collection
    }
    this.earlyLook = null;
  }

  /** Marks a gap in history when the tracepoint lost events since the last look. */
  private noteDrops(): void {
    const k = this.service.kernel;
    const s = k.available ? k.stats() : null;
    if (!s) return;
    const total = s.kernelDrops + s.userDrops;
    if (total > this.lastDrops) {
      this.store.markGap({ at: Date.now(), lost: total - this.lastDrops, reason: 'kernel ring buffer full: state changes lost' });
      this.lastDrops = total;
    }
  }

  query(filter: HistoryFilter, limit: number, after: string | null): HistoryPage {
    this.store.flush(); // answers include what was recorded up to now
    return wrap(() => this.store.query(filter, { limit, after }));
  }

  flows(filter: FlowFilter, groupBy: string[], limit: number): FlowRow[] {
    this.store.flush();
    return wrap(() => this.store.flows(filter, groupBy, limit));
  }

  gaps(since: number | undefined, until: number | undefined): GapMarker[] {
    this.store.flush();
    return wrap(() => this.store.gaps(since, until));
  }

  subscribe(fn: (e: LifeEvent) => void): () => void {
    return this.recorder.subscribe(fn);
  }

  /** The type and direction of every OPENED and CLOSED event, for counters (Recorder.tally). */
  tally(fn: Parameters<Recorder['tally']>[0]): () => void {
    return this.recorder.tally(fn);
  }

  /**
   * The events matching `match`, as an async iterator (a GraphQL subscription). At most
   * `maxQueue` wait for a slow reader: past that the iterator fails with a reason and
   * unsubscribes, so a subscriber never holds the recorder up or grows memory.
   */
  events(match: (e: LifeEvent) => boolean, maxQueue = 10_000): AsyncIterableIterator<LifeEvent> {
    const queue: LifeEvent[] = [];
    let wake: (() => void) | null = null;
    let failure: Error | null = null;
    let done = false;
    const unsubscribe = this.recorder.subscribe((e) => {
      if (done || failure || !match(e)) return;
      if (queue.length >= maxQueue) {
        failure = new Error(`dropped: the subscriber did not read events as fast as they came (${maxQueue} waiting)`);
        unsubscribe();
      } else {
        queue.push(e);
      }
      wake?.();
    });
    const finish = (): void => {
      done = true;
      unsubscribe();
      wake?.();
    };
    const it: AsyncIterableIterator<LifeEvent> = {
      [Symbol.asyncIterator]: () => it,
      next: async () => {
        for (;;) {
          if (queue.length > 0) return { value: queue.shift()!, done: false };
          if (failure) {
            const f = failure;
            finish();
            throw f;
          }
          if (done) return { value: undefined, done: true };
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      },
      return: async () => {
        finish();
        return { value: undefined, done: true };
      },
    };
    return it;
  }

  status(): HistoryStatus {
    const recorder = this.recorder.status();
    return {
      recorder,
      store: this.store.status(),
      caveat: recorder.mode === 'KERNEL'
        ? 'every connection that opens and closes is recorded from the kernel tracepoint; events lost when its ring buffer fills are marked as gaps'
        : `no kernel evidence: connections are found by polling every ${recorder.intervalMs} ms, so one that opens and closes between two polls is missed`,
      droppedEvents: this.lastDrops,
    };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    if (this.earlyLook) clearTimeout(this.earlyLook);
    this.store.close();
  }
}

/** The store's filter errors as the API's input errors (BAD_USER_INPUT / 400 naming the parameter). */
function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HistoryFilterError) throw new InputError(e.param, e.message);
    throw e;
  }
}
