// The recorder: turns what tcpdir sees (the tracepoint's state changes, and snapshots) into
// connection lives in the store, and tells subscribers as lives open, close or change verdict.
//
// KERNEL mode (kernel evidence loaded): a life opens at its birth transition (CLOSE->SYN_SENT:
// connect(); LISTEN->SYN_RECV or SYN_RECV->ESTABLISHED: accepted) and closes at ->CLOSE, with
// the kernel's own timestamps; its direction is certain. Snapshots add what events lack (the
// namespace and the owning process while it is alive) and close a life whose CLOSE was lost.
// SNAPSHOT mode: lives are sockets appearing in and disappearing from successive snapshots,
// with heuristic verdicts and the poll's time resolution; a connection shorter than the poll
// interval can be missed entirely.
import { birthFromTransition } from '../classifier';
import { cookieKey, type CookieKey, type KernelEvent } from '../model';
import { LIFE_DIRECTIONS, type ClosedKernelLife, type ConnectionLife, type LifeDirection, type ObservedBy } from './record';
import { OpenLives, type OpenFacts } from './open-lives';
import { RecentCookies } from './recent-cookies';
import type { HistoryStore } from './store';

export type LifeEventType = 'OPENED' | 'CLOSED' | 'VERDICT_CHANGED';
export interface LifeEvent {
  type: LifeEventType;
  life: ConnectionLife;
  at: number;
}

/** What the recorder reads of one snapshot: its connections with verdicts (service/view builds it). */
export interface ObservedConnection extends Pick<ConnectionLife,
  'netns' | 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort' | 'direction' | 'confidence' | 'certain'> {
  id: string;
  cookie: string | null;
  state: string;
  /** A process may hold the socket (it has an inode): worth resolving owners for. */
  owned: boolean;
  /** The rule that settled the verdict (asked only for lives the recorder opens). */
  rule: () => string | null;
  /** The owning process, when known (asked only for lives the recorder opens). */
  process: () => { pid: number; command: string } | null;
}

/**
 * A snapshot's connections by index: an array, or a view that hands out one reused object (the
 * recorder reads each only until it asks for the next: 100k objects per look were garbage).
 */
export interface ObservedConnections {
  readonly length: number;
  at(i: number): ObservedConnection | undefined;
}

export interface Observation {
  at: number;
  connections: ObservedConnections;
  /**
   * The namespaces this snapshot lists every socket of, by cookie (read with eBPF or sock_diag):
   * only there does a socket's absence mean it is gone. Others (not read, or read from
   * /proc/PID/net/tcp, which has no cookies) say nothing about the kernel's lives in them.
   */
  covered: ReadonlySet<string>;
}

export interface RecorderOptions {
  store: HistoryStore;
  mode: ObservedBy;
  /** SNAPSHOT mode's poll interval, ms (what a missed connection is shorter than). */
  intervalMs: number;
  /** Open lives kept in memory at most; past it the oldest are forgotten and counted. */
  maxOpen?: number;
  now?: () => number;
  /** The owner of the listener accepting on a local endpoint: an inbound birth's process. */
  listenerOwner?: (netns: string | null, family: ConnectionLife['family'], address: string, port: number) => { pid: number; command: string } | null;
}

export interface RecorderStatus {
  mode: ObservedBy;
  intervalMs: number;
  open: number;
  opened: number;
  closed: number;
  /** Lives closed by a snapshot because their CLOSE event never came (KERNEL mode). */
  closedBySnapshot: number;
  forgotten: number;
  startedAt: number;
}

/** States a socket keeps after its connection ended: never the start of a life after the first snapshot. */
const LINGERING = new Set(['TIME_WAIT', 'CLOSE', 'LAST_ACK', 'CLOSING', 'FIN_WAIT2']);
const CLOSED_MEMORY = 131_072;

/** One observe() in progress: what it has seen and what it will write. */
interface ObservePass {
  o: Observation;
  kernel: boolean;
  first: boolean;
  /** Lives to write: each slice's, written as it ends (observeInSlices), and the closes. */
  out: ConnectionLife[];
  /** Its number: the open lives it lists are marked with it (OpenLives.see). */
  no: number;
}

/**
 * A life's key as one flat string: a template literal leaves a tree of three strings (139 bytes
 * a key against 56 flat, measured), and the history writer keeps the key of every open life it
 * wrote (100k at 100k sockets). normalize() flattens it (the text is ASCII: unchanged).
 */
function lifeKey(prefix: 'k' | 's', socket: CookieKey, at: number): string {
  return `${prefix}:${socket}:${at}`.normalize();
}

/**
 * The last version of the life in slot `s` the kernel closed (its close's time and counters). The
 * key is left as the template built it: nothing keeps it (normalize() costs 0.35 µs a life).
 */
function closedLifeOf(lives: OpenLives, s: number, closedAt: number, e: KernelEvent): ConnectionLife {
  const firstSeenAt = lives.firstSeenAt(s), preExisting = lives.preExisting(s), observedBy = lives.observedBy(s);
  return {
    key: `${observedBy === 'KERNEL' ? 'k' : 's'}:${lives.id(s)}:${firstSeenAt}`, netns: lives.netns(s), family: lives.family(s),
    localAddress: lives.localAddress(s), localPort: lives.localPort(s), remoteAddress: lives.remoteAddress(s), remotePort: lives.remotePort(s),
    direction: lives.direction(s), confidence: lives.confidence(s), certain: lives.certain(s), rule: lives.rule(s),
    openedAt: preExisting ? null : firstSeenAt, closedAt, firstSeenAt, preExisting,
    pid: lives.pid(s), command: lives.command(s), bytesSent: e.bytesSent, bytesReceived: e.bytesReceived, retransmits: e.retransmits, observedBy,
  };
}

/** The same for a life born by the kernel's word in the batch that closes it, keyed by its numeric cookie. */
function closedKernelLifeOf(cookie: number, lives: OpenLives, s: number, closedAt: number, e: KernelEvent): ClosedKernelLife {
  const firstSeenAt = lives.firstSeenAt(s);
  return {
    cookie, netns: lives.netns(s), family: lives.family(s),
    localAddress: lives.localAddress(s), localPort: lives.localPort(s), remoteAddress: lives.remoteAddress(s), remotePort: lives.remotePort(s),
    direction: lives.direction(s), confidence: lives.confidence(s), certain: lives.certain(s), rule: lives.rule(s),
    openedAt: firstSeenAt, closedAt, firstSeenAt, preExisting: false,
    pid: lives.pid(s), command: lives.command(s), bytesSent: e.bytesSent, bytesReceived: e.bytesReceived, retransmits: e.retransmits, observedBy: 'KERNEL',
  };
}

/**
 * The ConnectionLife of the open life in slot `s`. Its key, `k:` (born while tcpdir ran) or `s:`
 * (first seen by a snapshot), the socket (a cookie, or a socket id in SNAPSHOT mode) and when it
 * was first seen, is the same for every version of that life: the store upserts by it.
 */
function lifeOf(lives: OpenLives, s: number): ConnectionLife {
  const firstSeenAt = lives.firstSeenAt(s), preExisting = lives.preExisting(s), observedBy = lives.observedBy(s);
  return {
    key: lifeKey(observedBy === 'KERNEL' ? 'k' : 's', lives.id(s), firstSeenAt), netns: lives.netns(s), family: lives.family(s),
    localAddress: lives.localAddress(s), localPort: lives.localPort(s), remoteAddress: lives.remoteAddress(s), remotePort: lives.remotePort(s),
    direction: lives.direction(s), confidence: lives.confidence(s), certain: lives.certain(s), rule: lives.rule(s),
    openedAt: preExisting ? null : firstSeenAt, closedAt: null, firstSeenAt, preExisting,
    pid: lives.pid(s), command: lives.command(s), bytesSent: null, bytesReceived: null, retransmits: null, observedBy,
  };
}

export class Recorder {
  /** Open lives by socket cookie (KERNEL) or socket id (SNAPSHOT). */
  private readonly open = new OpenLives();
  /**
   * Cookies whose life closed lately (KERNEL), with when: a snapshot taken just before the CLOSE
   * event was drained still lists the socket, which is not a new life. Kept only back to the
   * last snapshot's start (or a little more), and at most CLOSED_MEMORY of them.
   */
  private readonly closedCookies = new RecentCookies(CLOSED_MEMORY);
  /** ingest() calls so far (OpenLives.batch). */
  private batches = 0;
  /** Snapshot looks begun so far (OpenLives.seenIn). */
  private passes = 0;
  private readonly subscribers = new Set<(e: LifeEvent) => void>();
  private readonly tallies = new Set<(type: 'OPENED' | 'CLOSED', direction: LifeDirection, n: number) => void>();
  /** OPENED and CLOSED events not yet told to tallies, by type (0, 1) * 3 + direction (LIFE_DIRECTIONS). */
  private readonly untold = new Float64Array(6);
  private readonly now: () => number;
  private readonly maxOpen: number;
  private first = true;
  private readonly counts = { opened: 0, closed: 0, closedBySnapshot: 0, forgotten: 0 };
  readonly startedAt: number;

  constructor(private readonly opts: RecorderOptions) {
    this.now = opts.now ?? Date.now;
    this.maxOpen = opts.maxOpen ?? 1_000_000;
    this.startedAt = this.now();
  }

  get mode(): ObservedBy {
    return this.opts.mode;
  }

  /** How often snapshots are looked at (SNAPSHOT mode: what a missed connection is shorter than). */
  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /**
   * Calls `fn` with the number of OPENED and CLOSED events of each direction, after each batch of
   * events or snapshot that had some, until the returned function is called: for counters, which
   * need no life (a subscriber makes the recorder build an object per event; under churn that
   * was a tenth of its work).
   */
  tally(fn: (type: 'OPENED' | 'CLOSED', direction: LifeDirection, n: number) => void): () => void {
    this.tallies.add(fn);
    return () => this.tallies.delete(fn);
  }

  /** Calls `fn` for every event until the returned function is called. */
  subscribe(fn: (e: LifeEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  status(): RecorderStatus {
    return { mode: this.opts.mode, intervalMs: this.opts.intervalMs, open: this.open.size, ...this.counts, startedAt: this.startedAt };
  }

  /**
   * Tracepoint state changes, in order. `wallOffsetMs` turns their CLOCK_MONOTONIC stamps into
   * wall-clock ms (Date.now() minus the monotonic clock, read together). An event object may be
   * reused for the next (collectors' kernelEventsIn): only its values are kept.
   */
  ingest(events: Iterable<KernelEvent>, wallOffsetMs: number): void {
    if (this.opts.mode !== 'KERNEL') return;
    // Each life this batch touched is written once, as it is at the end of the batch: most lives
    // open and close within one batch, and those are written once, closed, as new to the store
    // (no merge by key there). Lives still open, or closed but written open before, are written
    // as versions to merge. Open lives (OpenLives' columns) are the recorder's own: changed in place.
    const batch = (this.batches = this.batches >= 0xffffffff ? 1 : this.batches + 1);
    const lives = this.open;
    lives.recycle();
    const touched: number[] = [];
    const closedNew: ClosedKernelLife[] = [];
    const closedOld: ConnectionLife[] = [];
    const touch = (s: number): void => {
      if (lives.batch(s) !== batch) {
        lives.setBatch(s, batch);
        touched.push(s);
      }
    };
    const announce = this.subscribers.size > 0;
    for (const e of events) {
      const id = e.cookieKey ?? cookieKey(e.cookie);
      const at = Math.round(wallOffsetMs + (e.monotonicMs ?? Number(e.monotonicNs) / 1e6));
      const birth = birthFromTransition(e.oldState, e.newState);
      if (birth !== null) {
        if (lives.has(id)) continue; // LISTEN->SYN_RECV then SYN_RECV->ESTABLISHED: one life
        touch(this.born(e, id, birth, at, batch));
        continue;
      }
      let s = lives.slotOf(id);
      if (s < 0) {
        // Leaving a handshake state unseen entering it: a child reset before it was established
        // (SYN_RECV->CLOSE) or a lost birth event. The state it leaves still says who opened it.
        if ((e.oldState === 'SYN_RECV' || e.oldState === 'SYN_SENT') && !this.closedCookies.has(id)) {
          s = this.born(e, id, e.oldState === 'SYN_SENT' ? 'OUTBOUND' : 'INBOUND', at, batch);
          touch(s);
        } else {
          continue; // born before tcpdir started, and not seen by a snapshot yet
        }
      }
      // connect() enters SYN_SENT before it picks the local port: later events carry it.
      if (lives.localPort(s) === 0 && e.localPort !== 0) {
        lives.setLocal(s, e.localAddress, e.localPort);
        touch(s);
      }
      if (lives.unannounced(s)) {
        lives.announced(s);
        this.count('OPENED', lives.direction(s));
        if (announce) this.tell('OPENED', lifeOf(lives, s), lives.firstSeenAt(s));
      }
      if (e.newState === 'CLOSE') {
        // Its slot stays as it is until the next batch (touched holds it).
        lives.delete(id);
        this.closedCookies.add(id, at);
        lives.setClosed(s);
        // The kernel's own counters at the close.
        const closedAt = Math.max(at, lives.firstSeenAt(s));
        // Born in this batch: never written before, and never again (its cookie is in closedCookies).
        if (lives.bornIn(s) === batch && typeof id === 'number') {
          const closed = closedKernelLifeOf(id, lives, s, closedAt, e);
          closedNew.push(closed);
          if (announce) this.tell('CLOSED', closedLifeOf(lives, s, closedAt, e), at);
        } else {
          const closed = closedLifeOf(lives, s, closedAt, e);
          closedOld.push(closed);
          if (announce) this.tell('CLOSED', closed, at);
        }
        touch(s);
        this.counts.closed++;
        this.count('CLOSED', lives.direction(s));
      }
    }
    const open: ConnectionLife[] = [];
    for (const s of touched) if (!lives.closed(s)) open.push(lifeOf(lives, s));
    if (open.length || closedOld.length) this.opts.store.write(closedOld.length ? open.concat(closedOld) : open);
    if (closedNew.length) this.opts.store.write(closedNew, true);
    this.tellTallies();
  }

  /**
   * One snapshot. The first records every connection as pre-existing. In SNAPSHOT mode, sockets
   * that appeared open lives and sockets that vanished close them; in KERNEL mode the snapshot
   * fills in namespace and process, and closes a life whose socket is gone but whose CLOSE event
   * never came. Either mode reports verdicts that changed.
   */
  observe(o: Observation): void {
    const pass = this.beginObserve(o);
    const cs = o.connections;
    for (let i = 0; i < cs.length; i++) this.observeOne(pass, cs.at(i)!);
    this.finishObserve(pass);
  }

  /**
   * observe() in slices of `slice` connections, giving the event loop a turn between them: at
   * 100k connections one pass holds the main thread for tens of milliseconds, and a request that
   * came meanwhile would wait for all of it. Kernel events ingested between slices are safe: a
   * life they close is in closedCookies (skipped here), and one they open was born after the
   * snapshot began (not judged gone by its absence). `stop`, asked after each turn, abandons the
   * rest of the pass unwritten (the recorder's store is closing).
   */
  async observeInSlices(o: Observation, slice = 5000, stop: () => boolean = () => false): Promise<void> {
    const pass = this.beginObserve(o);
    const cs = o.connections;
    for (let i = 0; i < cs.length; i++) {
      this.observeOne(pass, cs.at(i)!);
      if ((i + 1) % slice === 0) {
        // Each slice's lives go to the store now, and the next slice waits while the store is
        // behind: a first snapshot of 100k pre-existing connections otherwise passed the store's
        // queue bound in one write, and 80k of them were dropped.
        await new Promise<void>((r) => setImmediate(r));
        if (stop()) return;
        if (pass.out.length) {
          this.opts.store.write(pass.out);
          pass.out = [];
        }
        await this.opts.store.drain();
        if (stop()) return;
      }
    }
    this.finishObserve(pass);
  }

  private beginObserve(o: Observation): ObservePass {
    const first = this.first;
    this.first = false;
    this.open.recycle();
    // A Set of the listed sockets was 3.5 MiB at 100k, garbage after each look.
    this.passes = this.passes >= 0xffffffff ? 1 : this.passes + 1;
    return { o, kernel: this.opts.mode === 'KERNEL', first, out: [], no: this.passes };
  }

  private observeOne(pass: ObservePass, c: ObservedConnection): void {
    const { o, kernel, first, out } = pass;
    const lives = this.open;
    const k = kernel ? (c.cookie === null ? null : cookieKey(c.cookie)) : c.id;
    if (k === null) return;
    const s = lives.slotOf(k);
    if (s < 0) {
      // KERNEL mode: a socket without a life is one that existed before tcpdir started (or
      // whose birth event was lost); SNAPSHOT mode: a socket new since the last poll.
      // A closed life's socket lingers (TIME_WAIT keeps the cookie): not a new life.
      if (kernel && (this.closedCookies.has(k) || (!first && LINGERING.has(c.state)))) return;
      const p = c.process();
      const fresh = this.remember(k, {
        netns: c.netns, family: c.family,
        localAddress: c.localAddress, localPort: c.localPort, remoteAddress: c.remoteAddress, remotePort: c.remotePort,
        direction: c.direction, confidence: c.confidence, certain: c.certain, rule: c.rule(),
        firstSeenAt: o.at, preExisting: first || kernel, pid: p?.pid ?? null, command: p?.command ?? null, observedBy: 'SNAPSHOT',
      }, false, 0);
      lives.see(fresh, pass.no);
      const life = lifeOf(lives, fresh);
      out.push(life);
      this.emit('OPENED', life, o.at);
      return;
    }
    lives.see(s, pass.no);
    let updated = false;
    if (lives.netns(s) === null && c.netns !== null) {
      lives.setNetns(s, c.netns);
      updated = true;
    }
    // A connect() still in SYN_SENT (a peer not answering): the snapshot has its port.
    if (lives.localPort(s) === 0 && c.localPort !== 0) {
      lives.setLocal(s, c.localAddress, c.localPort);
      updated = true;
    }
    if (lives.localPort(s) !== 0 && lives.unannounced(s)) {
      lives.announced(s);
      this.emit('OPENED', lifeOf(lives, s), lives.firstSeenAt(s));
    }
    if (lives.pid(s) === null) {
      const p = c.process();
      if (p) {
        lives.setProcess(s, p.pid, p.command);
        updated = true;
      }
    }
    const changed = !lives.certain(s) && (lives.direction(s) !== c.direction || Math.abs(lives.confidence(s) - c.confidence) > 0.05);
    if (changed) lives.setVerdict(s, c.direction, c.confidence, c.certain, c.rule());
    if (updated || changed) {
      const written = lifeOf(lives, s);
      out.push(written);
      if (changed) this.emit('VERDICT_CHANGED', written, o.at);
    }
  }

  private finishObserve(pass: ObservePass): void {
    const { o, kernel, out } = pass;
    const lives = this.open;
    // Gone since the last snapshot: only lives in a namespace the snapshot lists in full, and
    // (KERNEL mode) born before this snapshot began, can be judged gone by their absence.
    for (const [k, s] of lives.entries()) {
      if (lives.seenIn(s) === pass.no) continue;
      const netns = lives.netns(s);
      if (netns === null || !o.covered.has(netns)) continue;
      if (kernel && lives.firstSeenAt(s) >= o.at - 1000) continue;
      lives.delete(k);
      const full = lifeOf(lives, s);
      if (lives.unannounced(s)) this.emit('OPENED', full, lives.firstSeenAt(s));
      const closed = { ...full, closedAt: o.at };
      out.push(closed);
      this.counts.closed++;
      if (kernel) this.counts.closedBySnapshot++;
      this.emit('CLOSED', closed, o.at);
    }
    lives.recycle();
    if (out.length) this.opts.store.write(out);
    this.tellTallies();
    // Closes before this snapshot began cannot race it any more.
    this.closedCookies.forgetBefore(o.at - 1000);
  }

  /**
   * Whether observe() would ask any of these connections for its owner: a socket it would open a
   * life for, or whose open life has no process yet. Resolving owners is a /proc scan of every
   * socket (a quarter of a second at 100k): only worth it then.
   */
  wantsOwners(connections: ObservedConnections): boolean {
    const kernel = this.opts.mode === 'KERNEL';
    for (let i = 0; i < connections.length; i++) {
      const c = connections.at(i)!;
      if (!c.owned) continue;
      const k = kernel ? (c.cookie === null ? null : cookieKey(c.cookie)) : c.id;
      if (k === null) continue;
      const s = this.open.slotOf(k);
      if (s < 0 ? !(kernel && this.closedCookies.has(k)) : this.open.pid(s) === null) return true;
    }
    return false;
  }

  /** A life opened by the kernel's word, remembered and announced; its slot. */
  private born(e: KernelEvent, id: CookieKey, direction: 'INBOUND' | 'OUTBOUND', at: number, batch: number): number {
    // connect() runs CLOSE->SYN_SENT in the connecting process: the event names it. Other
    // changes run in softirq, in whatever task was current: not the socket's owner.
    const connecting = e.oldState === 'CLOSE' && e.newState === 'SYN_SENT';
    // Accepted: the listener's owner (accept() has not run yet, and may run in any process holding it).
    const owner = connecting ? e : direction === 'INBOUND' ? (this.opts.listenerOwner?.(e.netns, e.family, e.localAddress, e.localPort) ?? null) : null;
    // connect() enters SYN_SENT before it picks the local port: OPENED waits for the event that
    // carries it (its handshake's end, or the close), so subscribers never see port 0.
    const unannounced = e.localPort === 0;
    const s = this.remember(id, {
      netns: e.netns, family: e.family,
      localAddress: e.localAddress, localPort: e.localPort, remoteAddress: e.remoteAddress, remotePort: e.remotePort,
      direction, confidence: 1, certain: true, rule: 'kernel-birth',
      firstSeenAt: at, preExisting: false, pid: owner?.pid ?? null, command: owner?.command ?? null, observedBy: 'KERNEL',
    }, unannounced, batch);
    if (!unannounced) {
      this.count('OPENED', direction);
      if (this.subscribers.size > 0) this.tell('OPENED', lifeOf(this.open, s), at);
    }
    return s;
  }

  /** Opens a life; past maxOpen the oldest is forgotten (its slot stays readable until recycled). */
  private remember(k: CookieKey, f: OpenFacts, unannounced: boolean, bornIn: number): number {
    const s = this.open.add(k, f, unannounced, bornIn);
    this.counts.opened++;
    if (this.open.size > this.maxOpen) {
      this.open.delete(this.open.oldest()!);
      this.counts.forgotten++;
    }
    return s;
  }

  private emit(type: LifeEventType, life: ConnectionLife, at: number): void {
    if (type !== 'VERDICT_CHANGED') this.count(type, life.direction);
    this.tell(type, life, at);
  }

  private count(type: 'OPENED' | 'CLOSED', direction: LifeDirection): void {
    this.untold[(type === 'OPENED' ? 0 : 3) + (direction === 'INBOUND' ? 0 : direction === 'OUTBOUND' ? 1 : 2)]++;
  }

  private tellTallies(): void {
    const u = this.untold;
    for (let i = 0; i < 6; i++) {
      const n = u[i];
      if (n === 0) continue;
      u[i] = 0;
      for (const fn of this.tallies) {
        try {
          fn(i < 3 ? 'OPENED' : 'CLOSED', LIFE_DIRECTIONS[i % 3], n);
        } catch {
          // a counter's failure is its own
        }
      }
    }
  }

  private tell(type: LifeEventType, life: ConnectionLife, at: number): void {
    for (const fn of this.subscribers) {
      try {
        fn({ type, life, at });
      } catch {
        // a subscriber's failure is its own
      }
    }
  }
}
