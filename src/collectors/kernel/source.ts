import type { KernelEvent, KernelRecord } from '../../model/kernel';
import { loadNative, NativeUnavailableError } from '../native';
import { decodeKernelEvents, decodeKernelRecords } from './decode';
import { KernelBirthStore } from './birth-store';
import { KernelRecordTable } from './record-table';
import { decodeOwners } from './owners';
import type { ProcessRef } from '../../model';
import { KERNEL_EVENT_SIZE, KERNEL_LAYOUT_VERSION, KERNEL_OWNER_SIZE, KERNEL_RECORD_SIZE } from './layout';
import { kernelUnavailable, type KernelUnavailable } from './unavailable';
import { tcpSocketsHint } from '../sockstat';

/** Events the scratch buffer holds (just under 2 MiB). */
const EVENT_SCRATCH_EVENTS = 20_164;

/** What tcpdir_kernel.node exports (native/kernel/kernel_addon.cc). */
export interface KernelBinding {
  /** Loads and attaches the programs; throws an Error with `code` (EPERM, ENOBTF, EVERIFIER, ...). */
  open(options?: { events?: boolean; lifecycle?: boolean; wakeupBytes?: number }): void;
  /** With onChunk, whole records stream to it as read; the promise then holds what was not sent. */
  iterate(onChunk?: (chunk: Buffer) => void): Promise<Buffer>;
  iterateInNetns(fd: number): Promise<Buffer>;
  drainEvents(): Buffer;
  /** Copies as many whole pending events as fit into `into`; returns their bytes (the rest wait). */
  drainEventsInto?(into: Buffer): number;
  stats(): { kernelDrops: number; userDrops: number; pendingBytes: number; eventsAttached: boolean } | null;
  /** Change counts of these network namespaces (by nsfs inode); null when not counted. Older addons lack it. */
  netnsChanges?(inodes: number[]): Float64Array | null;
  /** One pass of iter/task_file (struct tcpdir_owner_rec[]); null when not attached. Older addons lack it. */
  owners?(): Promise<Buffer> | null;
  readonly ownerSize?: number;
  close(): void;
  readonly recordSize: number;
  readonly eventSize: number;
}


/** Receives each chunk of a streamed pass after the table indexed it (records first..). */
export interface RecordSink {
  add(chunk: Buffer, firstIndex: number): void;
}

export type { KernelUnavailable } from './unavailable';

export interface KernelSourceOptions {
  /** Directory holding tcpdir_kernel.node; default build/Release. */
  dir?: string;
  /** A binding to use instead of loading one. */
  binding?: KernelBinding;
  /** Attach the state-change tracepoint (default true). */
  events?: boolean;
  /**
   * Send each connection's lifecycle (its birth, leaving a handshake state, its close), not only
   * the changes that tell how a socket was born (default false).
   */
  lifecycle?: boolean;
  /** How often JS drains the native event buffer (default 500 ms; the native reader drains
   * the ring buffer every 100 ms on its own thread). 0 disables the timer. */
  drainIntervalMs?: number;
  /** Forget a birth this long after the last iteration that saw its cookie (default 120 s). */
  birthMaxAgeMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
}

/**
 * The eBPF evidence source. One per process (the addon holds one loaded program set).
 * `open()` never throws for a missing addon, missing privilege or an unsupported kernel: it
 * returns `{ available: false, code, reason }`.
 */
export class KernelEvidenceSource {
  readonly available = true;
  readonly births: KernelBirthStore;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly now: () => number;
  /** Records in the last pass: sizes the next table (no rehash mid-pass). */
  private lastPassLength = 0;
  /** Told every drained batch of raw events (struct tcpdir_event[]), as drained. */
  private readonly eventListeners: Array<(raw: Buffer) => void> = [];
  /**
   * Where events are drained (drainEventsInto), reused: a Buffer per drain was a fresh mmapped
   * block of about a megabyte under churn, and with the addon's growing vector a page fault per
   * 4 KiB (a quarter of the server's system time, perf). Sized for 200 ms of 10k connections/s.
   */
  private scratch: Buffer | null = null;

  private constructor(private readonly binding: KernelBinding, opts: KernelSourceOptions) {
    this.now = opts.now ?? Date.now;
    this.births = new KernelBirthStore(opts.birthMaxAgeMs);
    const every = opts.drainIntervalMs ?? 500;
    if (opts.events !== false && every > 0) {
      this.timer = setInterval(() => this.drainQuietly(), every);
      this.timer.unref();
    }
  }

  static open(opts: KernelSourceOptions = {}): KernelEvidenceSource | KernelUnavailable {
    let binding: KernelBinding;
    try {
      binding = opts.binding ?? loadNative<KernelBinding>('tcpdir_kernel', opts.dir);
    } catch (err) {
      if (err instanceof NativeUnavailableError) return kernelUnavailable(err.code, err.message);
      throw err;
    }
    if (binding.recordSize !== KERNEL_RECORD_SIZE || binding.eventSize !== KERNEL_EVENT_SIZE) {
      return kernelUnavailable(
        'LAYOUT_MISMATCH',
        `tcpdir_kernel records are ${binding.recordSize}/${binding.eventSize} bytes, this build decodes ${KERNEL_RECORD_SIZE}/${KERNEL_EVENT_SIZE}`,
      );
    }
    try {
      binding.open({ events: opts.events !== false, lifecycle: opts.lifecycle === true });
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      return kernelUnavailable(typeof e.code === 'string' ? e.code : 'EOPEN', typeof e.message === 'string' ? e.message : String(err));
    }
    return new KernelEvidenceSource(binding, opts);
  }

  /** One iterator pass over the caller's netns, decoded; drains pending events into the birth store. */
  async iterate(): Promise<KernelRecord[]> {
    return (await this.scan()).records();
  }

  /**
   * One iterator pass over the caller's netns as an index by cookie that decodes records only
   * on demand (what the service uses per snapshot); drains pending events into the birth store
   * (ageing it is the owner's, with KernelRecordTable.attachBirths, once every pass is in). The
   * records stream in chunks as the kernel walks its table and are indexed (and given to `sink`,
   * e.g. to decode sockets) as they arrive: the JS work overlaps the walk instead of following it.
   */
  async scan(sink?: RecordSink): Promise<KernelRecordTable> {
    this.assertOpen('scan');
    // Sized from the last pass, or for the first from the kernel's socket counts.
    const expected = this.lastPassLength > 0 ? this.lastPassLength : tcpSocketsHint();
    const table = KernelRecordTable.empty(expected + (expected >> 3), this.births);
    let failure: unknown = null;
    const take = (chunk: Buffer): void => {
      if (failure !== null) return;
      try {
        const first = table.length;
        table.append(chunk);
        sink?.add(chunk, first);
      } catch (e) {
        failure = e; // thrown below: a throw inside the addon's callback would be uncaught
      }
    };
    const rest = await this.binding.iterate(take);
    if (rest.length > 0) take(rest); // a binding that does not stream, or a partial record (-> error)
    if (failure !== null) throw failure;
    this.lastPassLength = table.length;
    this.drainAll(this.now());
    return table;
  }

  /** One iterator pass over the netns of an open /proc/PID/ns/net fd (needs CAP_SYS_ADMIN).
   * Does not touch the birth store, whose ageing follows the caller's own netns. */
  async iterateInNetns(nsFd: number): Promise<KernelRecord[]> {
    return decodeKernelRecords(await this.iterateInNetnsRaw(nsFd));
  }

  /** The same, undecoded (struct tcpdir_sock_rec[]), for KernelRecordTable.from. */
  async iterateInNetnsRaw(nsFd: number): Promise<Buffer> {
    this.assertOpen('iterateInNetns');
    return this.binding.iterateInNetns(nsFd);
  }

  /** The timer's drain: into the birth store only; a malformed batch is dropped, not thrown. */
  private drainQuietly(): void {
    if (this.closed) return;
    try {
      this.drainAll(this.now());
    } catch {
      // A layout mismatch is caught at open(); nothing else can make a batch malformed.
    }
  }

  /** Moves pending events into the birth store and to the listeners, in chunks of the scratch buffer. */
  private drainAll(now: number): void {
    const b = this.binding;
    if (b.drainEventsInto === undefined) {
      this.births.ingestRaw(this.took(b.drainEvents()), now);
      return;
    }
    const scratch = (this.scratch ??= Buffer.allocUnsafeSlow(EVENT_SCRATCH_EVENTS * KERNEL_EVENT_SIZE));
    for (;;) {
      const n = b.drainEventsInto(scratch);
      if (n > 0) this.births.ingestRaw(this.took(scratch.subarray(0, n)), now);
      if (n < scratch.length) return; // all drained (a full scratch: maybe more)
    }
  }

  /** Moves pending tracepoint events into the birth store and returns them (decoded). */
  drain(): KernelEvent[] {
    if (this.closed) return [];
    const events = decodeKernelEvents(this.took(this.binding.drainEvents()));
    this.births.ingest(events, this.now());
    return events;
  }

  /**
   * Calls `fn` with every batch of raw events drained from now on (a recorder's feed). The batch
   * is valid only during the call (its memory is reused for the next): copy what is kept.
   */
  onEvents(fn: (raw: Buffer) => void): void {
    this.eventListeners.push(fn);
  }

  private took(raw: Buffer): Buffer {
    if (raw.length > 0) {
      for (const fn of this.eventListeners) {
        try {
          fn(raw);
        } catch {
          // a listener's failure is its own: the birth store still gets the batch
        }
      }
    }
    return raw;
  }

  /** Events lost because the ring buffer (kernel) or the native buffer (user) was full. */
  stats(): { kernelDrops: number; userDrops: number; pendingBytes: number } | null {
    return this.closed ? null : this.binding.stats();
  }

  /**
   * How many TCP changes the kernel counted so far in each namespace (nsfs inodes): equal counts
   * before two walks mean the second can only differ in what changes without one
   * (netns-walks.ts). Null when not counted (tracepoints not attached, or closed).
   */
  netnsChanges(inodes: number[]): Float64Array | null {
    if (this.closed || !this.binding.netnsChanges) return null;
    return this.binding.netnsChanges(inodes);
  }

  /**
   * Which processes hold which TCP sockets, read by the kernel in one walk of every process's
   * descriptors (what `ss -p` reads with a readlink per descriptor): null when the program is not
   * attached or the source is closed.
   */
  owners(): Promise<Map<number, readonly ProcessRef[]>> | null {
    if (this.closed || !this.binding.owners || this.binding.ownerSize !== KERNEL_OWNER_SIZE) return null;
    const pass = this.binding.owners();
    return pass === null ? null : pass.then(decodeOwners);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.binding.close();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new Error(`KernelEvidenceSource.${what}(): the source is closed`);
  }
}
