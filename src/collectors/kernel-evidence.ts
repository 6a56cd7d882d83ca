import { AddressTextCache, cookieText } from './record-text';
import { birthFromTransition, KERNEL_DIRECTIONS, kernelDirection } from '../model/kernel';
import type { KernelBirth, KernelDirection, KernelDirectionInput, KernelEvent, KernelRecord, KernelRecordIndex } from '../model/kernel';
import type { AddressFamily } from '../model/socket';
import { TCP_STATES } from '../model/tcp-state';
import type { TcpStateName } from '../model/tcp-state';
import { loadNative, NativeUnavailableError } from './native';

// Layouts of native/kernel/tcpdir_records.h (struct tcpdir_sock_rec / struct tcpdir_event).
export const KERNEL_RECORD_SIZE = 96;
export const KERNEL_EVENT_SIZE = 56;
export const KERNEL_LAYOUT_VERSION = 2;

const SOCK_BINDADDR_LOCK = 4;
const SOCK_BINDPORT_LOCK = 8;
const SOCK_CONNECT_BIND = 16;
const F_SHARES_LISTENER = 0x02;
const F_TW_CONNECT_BIND = 0x04;
const F_TW_CB_KNOWN = 0x08;
const AF_INET = 2;
const AF_INET6 = 10;

/** What tcpdir_kernel.node exports (native/kernel/kernel_addon.cc). */
export interface KernelBinding {
  /** Loads and attaches the programs; throws an Error with `code` (EPERM, ENOBTF, EVERIFIER, ...). */
  open(options?: { events?: boolean; allTransitions?: boolean; wakeupBytes?: number }): void;
  /** With onChunk, whole records stream to it as read; the promise then holds what was not sent. */
  iterate(onChunk?: (chunk: Buffer) => void): Promise<Buffer>;
  iterateInNetns(fd: number): Promise<Buffer>;
  drainEvents(): Buffer;
  stats(): { kernelDrops: number; userDrops: number; pendingBytes: number; eventsAttached: boolean } | null;
  close(): void;
  readonly recordSize: number;
  readonly eventSize: number;
}

/** A buffer from the kernel addon does not hold whole, well-formed records. */
export class KernelDecodeError extends Error {
  readonly code = 'KERNEL_DECODE';
  constructor(message: string) {
    super(message);
    this.name = 'KernelDecodeError';
  }
}

function family(code: number, what: string, off: number): AddressFamily {
  if (code === AF_INET) return 'IPV4';
  if (code === AF_INET6) return 'IPV6';
  throw new KernelDecodeError(`${what} at byte ${off}: unknown address family ${code}`);
}

function state(code: number, what: string, off: number): TcpStateName {
  const name = TCP_STATES[code];
  if (!name) throw new KernelDecodeError(`${what} at byte ${off}: unknown TCP state ${code}`);
  return name;
}

/** The cookie at `off` of a record as decimal text (see cookieText). */
function cookieAt(buf: Buffer, off: number): string {
  return cookieText(buf.readUInt32LE(off), buf.readUInt32LE(off + 4));
}

/** Address text of records in one buffer (see AddressTextCache), by family name. */
export class AddressCache {
  private cache: AddressTextCache | null = null;
  private buf: Buffer | null = null;
  get(fam: AddressFamily, buf: Buffer, off: number): string {
    if (buf !== this.buf) (this.buf = buf), (this.cache = new AddressTextCache(buf));
    return fam === 'IPV4' ? this.cache!.v4At(off) : this.cache!.v6At(off);
  }
}

function checkLength(buf: Buffer, size: number, what: string): void {
  if (buf.length % size !== 0) {
    throw new KernelDecodeError(
      `${what} buffer of ${buf.length} bytes is not a whole number of ${size}-byte records (truncated?)`,
    );
  }
}

function checkVersion(v: number, what: string, off: number): void {
  if (v !== KERNEL_LAYOUT_VERSION) {
    throw new KernelDecodeError(`${what} at byte ${off}: layout version ${v}, expected ${KERNEL_LAYOUT_VERSION}`);
  }
}

/** Decodes the record at `off` (already validated by checkRecord). */
function decodeRecordAt(buf: Buffer, off: number, addrs: AddressCache): KernelRecord {
  const fam = family(buf[off + 72], 'kernel socket record', off);
  const st = state(buf[off + 73], 'kernel socket record', off);
  const userLocks = buf[off + 74];
  const flags = buf[off + 75];
  const hasListener = buf.readUInt32LE(off + 8) !== 0 || buf.readUInt32LE(off + 12) !== 0;
  const hasBucketListener = buf.readUInt32LE(off + 16) !== 0 || buf.readUInt32LE(off + 20) !== 0;
  const maxAckBacklog = buf.readUInt32LE(off + 64);
  const connectBind = (userLocks & SOCK_CONNECT_BIND) !== 0;
  const portAllocatedByConnect = buf.readInt8(off + 76) === -1;
  const twConnectBind = st === 'TIME_WAIT' && (flags & F_TW_CB_KNOWN) !== 0 ? (flags & F_TW_CONNECT_BIND) !== 0 : null;
  const shares = (flags & F_SHARES_LISTENER) !== 0;
  return {
    cookie: cookieAt(buf, off),
    family: fam,
    state: st,
    localAddress: addrs.get(fam, buf, off + 24),
    localPort: buf.readUInt16LE(off + 68),
    remoteAddress: addrs.get(fam, buf, off + 40),
    remotePort: buf.readUInt16LE(off + 70),
    inode: buf.readUInt32LE(off + 56),
    uid: buf.readUInt32LE(off + 60),
    userLocks,
    connectBind,
    portAllocatedByConnect,
    twConnectBind,
    connectChosePort: connectBind || portAllocatedByConnect || twConnectBind === true,
    explicitPortBind: (userLocks & SOCK_BINDPORT_LOCK) !== 0,
    explicitAddressBind: (userLocks & SOCK_BINDADDR_LOCK) !== 0,
    sharesListenerPort: shares,
    sharedListenerCookie: shares && hasBucketListener ? cookieAt(buf, off + 16) : null,
    maxAckBacklog,
    acceptBacklogInherited: st !== 'LISTEN' && maxAckBacklog > 0,
    listenerCookie: hasListener ? cookieAt(buf, off + 8) : null,
  };
}

/** Decodes one iterator pass (struct tcpdir_sock_rec[]). Pure. */
export function decodeKernelRecords(buf: Buffer): KernelRecord[] {
  checkLength(buf, KERNEL_RECORD_SIZE, 'kernel socket record');
  const out = new Array<KernelRecord>(buf.length / KERNEL_RECORD_SIZE);
  const addrs = new AddressCache();
  for (let i = 0, off = 0; off < buf.length; i++, off += KERNEL_RECORD_SIZE) {
    checkVersion(buf[off + 79], 'kernel socket record', off);
    out[i] = decodeRecordAt(buf, off, addrs);
  }
  return out;
}

const TWO32 = 4294967296;
const DIRECTION_CODE = new Map<KernelDirection, number>(KERNEL_DIRECTIONS.map((d, i) => [d, i]));

/** kernelDirection's answer (a KERNEL_DIRECTIONS index) by packed facts (see append); 255: not asked yet. */
const DIRECTION_MEMO = new Uint8Array(256 << 7).fill(255);

function cookieHash(lo: number, hi: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
  return h ^ (h >>> 16);
}

/**
 * One or more iterator passes, kept as the raw bytes and indexed by cookie. Building it reads
 * only the few bytes kernelDirection needs and stores one direction code per record; a full
 * KernelRecord (addresses, cookies as strings) is decoded only by `get`, i.e. when an API field
 * asks for it. The index is an open-addressing table over typed arrays keyed by the cookie's two
 * 32-bit words: with 100k sockets a Map of 100k Numbers cost more to build and probe (and to
 * collect) than the classifier's rules together. Lookups take the canonical decimal cookie (as
 * Socket.cookie and KernelRecord.cookie are).
 */
export class KernelRecordTable implements KernelRecordIndex {
  private codes: Uint8Array;
  private readonly addrs = new AddressCache();
  /** Slot k: cookie words at 2k, 2k+1; record index + 1 in `slotIndex[k]` (0: empty). */
  private slotKeys: Uint32Array;
  private slotIndex: Int32Array;
  private mask: number;
  private count = 0;
  /** Records appended so far. */
  private n = 0;
  private chunks: Buffer[] = [];
  // One scratch input for kernelDirection, refilled per record: no object per record.
  private readonly input: { -readonly [K in keyof KernelDirectionInput]: KernelDirectionInput[K] } = {
    state: 'CLOSE', connectBind: false, explicitPortBind: false, portAllocatedByConnect: false,
    twConnectBind: null, sharesListenerPort: false, acceptBacklogInherited: false,
  };

  private constructor(expected: number) {
    this.codes = new Uint8Array(Math.max(expected, 16));
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.slotKeys = new Uint32Array(cap * 2);
    this.slotIndex = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** An empty table sized for about `expected` records, to fill with append() (a streamed pass). */
  static empty(expected = 0): KernelRecordTable {
    return new KernelRecordTable(expected);
  }

  /** Indexes iterator passes (e.g. the own namespace's and every entered one's). Later records
   * with the same cookie win. Throws KernelDecodeError on a malformed buffer. */
  static from(buffers: readonly Buffer[]): KernelRecordTable {
    for (const b of buffers) checkLength(b, KERNEL_RECORD_SIZE, 'kernel socket record');
    let total = 0;
    for (const b of buffers) total += b.length / KERNEL_RECORD_SIZE;
    const t = new KernelRecordTable(total);
    for (const b of buffers) t.append(b);
    return t;
  }

  /** Records appended so far (a cookie seen twice counts twice; `size` counts cookies). */
  get length(): number {
    return this.n;
  }

  /** Every record appended, as one buffer (record i at i * KERNEL_RECORD_SIZE). */
  get buffer(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [this.chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  /**
   * Indexes whole records (one chunk of a streamed pass, or a whole pass). Later records with the
   * same cookie win. Throws KernelDecodeError on a malformed buffer; the table is then unusable.
   */
  append(chunk: Buffer): void {
    checkLength(chunk, KERNEL_RECORD_SIZE, 'kernel socket record');
    const m = chunk.length / KERNEL_RECORD_SIZE;
    if (m === 0) return;
    if (this.n + m > this.codes.length) {
      const codes = new Uint8Array(Math.max(this.codes.length * 2, this.n + m));
      codes.set(this.codes.subarray(0, this.n));
      this.codes = codes;
    }
    while ((this.count + m) * 2 > this.slotIndex.length) this.rehash();
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const input = this.input;
    const base = this.n * KERNEL_RECORD_SIZE; // byte offsets in errors count from the pass's start
    for (let j = 0, off = 0; j < m; j++, off += KERNEL_RECORD_SIZE) {
      checkVersion(chunk[off + 79], 'kernel socket record', base + off);
      family(chunk[off + 72], 'kernel socket record', base + off);
      const st = state(chunk[off + 73], 'kernel socket record', base + off);
      const userLocks = chunk[off + 74];
      const flags = chunk[off + 75];
      const i = this.n + j;
      // kernelDirection reads 7 facts; packed with the state they index a memo of its answers
      // (the same function, asked once per combination instead of once per socket).
      const connectBind = (userLocks & SOCK_CONNECT_BIND) !== 0;
      const explicitPortBind = (userLocks & SOCK_BINDPORT_LOCK) !== 0;
      const portAllocatedByConnect = chunk[off + 76] === 0xff; // fastreuse == -1 (int8)
      const tw = st === 'TIME_WAIT' && (flags & F_TW_CB_KNOWN) !== 0 ? ((flags & F_TW_CONNECT_BIND) !== 0 ? 2 : 1) : 0;
      const sharesListenerPort = (flags & F_SHARES_LISTENER) !== 0;
      const acceptBacklogInherited = st !== 'LISTEN' && dv.getUint32(off + 64, true) > 0;
      const key = (chunk[off + 73] << 7) | (tw << 5) | (+connectBind << 4) | (+explicitPortBind << 3) |
        (+portAllocatedByConnect << 2) | (+sharesListenerPort << 1) | +acceptBacklogInherited;
      let code = DIRECTION_MEMO[key];
      if (code === 255) {
        input.state = st;
        input.connectBind = connectBind;
        input.explicitPortBind = explicitPortBind;
        input.portAllocatedByConnect = portAllocatedByConnect;
        input.twConnectBind = tw === 0 ? null : tw === 2;
        input.sharesListenerPort = sharesListenerPort;
        input.acceptBacklogInherited = acceptBacklogInherited;
        DIRECTION_MEMO[key] = code = DIRECTION_CODE.get(kernelDirection(input))!;
      }
      this.codes[i] = code;
      // Later records with the same cookie win (a socket seen again in an entered namespace).
      const k = this.slot(dv.getUint32(off, true), dv.getUint32(off + 4, true));
      if (this.slotIndex[k] === 0) this.count++;
      this.slotIndex[k] = i + 1;
    }
    this.n += m;
    this.chunks.push(chunk);
  }

  private rehash(): void {
    const keys = this.slotKeys, idx = this.slotIndex;
    const cap = idx.length * 2;
    this.slotKeys = new Uint32Array(cap * 2);
    this.slotIndex = new Int32Array(cap);
    this.mask = cap - 1;
    for (let k = 0; k < idx.length; k++) {
      if (idx[k] === 0) continue;
      this.slotIndex[this.slot(keys[2 * k], keys[2 * k + 1])] = idx[k];
    }
  }

  /** The slot holding cookie (lo, hi), or the empty slot where it goes. */
  private slot(lo: number, hi: number): number {
    const keys = this.slotKeys, idx = this.slotIndex;
    let k = cookieHash(lo, hi) & this.mask;
    for (;;) {
      if (idx[k] === 0 || (keys[2 * k] === lo && keys[2 * k + 1] === hi)) {
        keys[2 * k] = lo;
        keys[2 * k + 1] = hi;
        return k;
      }
      k = (k + 1) & this.mask;
    }
  }

  get size(): number {
    return this.count;
  }

  private indexOf(cookie: string): number {
    const n = +cookie;
    let lo: number, hi: number;
    if (n <= Number.MAX_SAFE_INTEGER) {
      if (!(n >= 0) || n !== Math.floor(n)) return -1; // not a decimal cookie
      hi = Math.floor(n / TWO32);
      lo = n - hi * TWO32;
    } else {
      // At or above 2^53 a Number is inexact: take the words from the exact decimal text.
      let b: bigint;
      try { b = BigInt(cookie); } catch { return -1; }
      if (b >= 1n << 64n) return -1;
      lo = Number(b & 0xffffffffn);
      hi = Number(b >> 32n);
    }
    return this.recordIndex(lo, hi);
  }

  /** Index of the record with cookie words (lo, hi) (the last one, when a cookie repeats), or -1. */
  recordIndex(lo: number, hi: number): number {
    // Probe without writing (slot() would claim an empty slot for the key).
    const keys = this.slotKeys, idx = this.slotIndex;
    let k = cookieHash(lo, hi) & this.mask;
    for (;;) {
      const v = idx[k];
      if (v === 0) return -1;
      if (keys[2 * k] === lo && keys[2 * k + 1] === hi) return v - 1;
      k = (k + 1) & this.mask;
    }
  }

  has(cookie: string): boolean {
    return this.indexOf(cookie) >= 0;
  }

  get(cookie: string): KernelRecord | undefined {
    const i = this.indexOf(cookie);
    return i < 0 ? undefined : decodeRecordAt(this.buffer, i * KERNEL_RECORD_SIZE, this.addrs);
  }

  direction(cookie: string): KernelDirection | undefined {
    const i = this.indexOf(cookie);
    return i < 0 ? undefined : KERNEL_DIRECTIONS[this.codes[i]];
  }

  *cookies(): IterableIterator<string> {
    for (let k = 0; k < this.slotIndex.length; k++) {
      if (this.slotIndex[k] !== 0) yield cookieAt(this.buffer, (this.slotIndex[k] - 1) * KERNEL_RECORD_SIZE);
    }
  }

  /** Every record, decoded (same as decodeKernelRecords on the buffer). */
  records(): KernelRecord[] {
    return decodeKernelRecords(this.buffer);
  }
}

/** Decodes drained tracepoint events (struct tcpdir_event[]). Pure. */
export function decodeKernelEvents(buf: Buffer): KernelEvent[] {
  checkLength(buf, KERNEL_EVENT_SIZE, 'kernel state-change event');
  const out = new Array<KernelEvent>(buf.length / KERNEL_EVENT_SIZE);
  const addrs = new AddressCache();
  for (let i = 0, off = 0; off < buf.length; i++, off += KERNEL_EVENT_SIZE) {
    checkVersion(buf[off + 55], 'kernel state-change event', off);
    const fam = family(buf[off + 52], 'kernel state-change event', off);
    out[i] = {
      cookie: cookieAt(buf, off),
      monotonicNs: buf.readBigUInt64LE(off + 8).toString(),
      family: fam,
      oldState: state(buf[off + 53], 'kernel state-change event', off),
      newState: state(buf[off + 54], 'kernel state-change event', off),
      localAddress: addrs.get(fam, buf, off + 16),
      localPort: buf.readUInt16LE(off + 48),
      remoteAddress: addrs.get(fam, buf, off + 32),
      remotePort: buf.readUInt16LE(off + 50),
    };
  }
  return out;
}

// "OLD->NEW" text, one string per pair: under churn the store holds 100k+ births, and a string
// per birth would be most of its memory.
const transitionTexts = new Map<TcpStateName, Map<TcpStateName, string>>();
function transitionText(oldState: TcpStateName, newState: TcpStateName): string {
  let m = transitionTexts.get(oldState);
  if (!m) transitionTexts.set(oldState, (m = new Map()));
  let t = m.get(newState);
  if (t === undefined) m.set(newState, (t = `${oldState}->${newState}`));
  return t;
}

/**
 * How each socket was born, by cookie, from drained tracepoint events. TIME_WAIT creation and
 * expiry raise no event, so entries are aged out when an iteration has not seen the cookie for
 * `maxAgeMs`. Clock values are passed in so the store stays deterministic under test.
 */
export class KernelBirthStore {
  private readonly births = new Map<string, KernelBirth & { lastSeen: number }>();

  constructor(readonly maxAgeMs = 120_000) {}

  get size(): number {
    return this.births.size;
  }

  /** Records the births the events reveal. A later handshake (a socket reused after
   * disconnect or after listening) replaces an earlier one; SYN_RECV->ESTABLISHED alone
   * only fills a gap, since a simultaneous open also passes through it. */
  ingest(events: readonly KernelEvent[], now: number): void {
    for (const e of events) {
      const direction = birthFromTransition(e.oldState, e.newState);
      if (direction) this.record(e.cookie, direction, e.oldState, e.newState, now);
    }
  }

  /** One birth-revealing transition (see ingest). */
  private record(cookie: string, direction: KernelBirth['direction'], oldState: TcpStateName, newState: TcpStateName, now: number): void {
    const prev = this.births.get(cookie);
    if (prev && oldState === 'SYN_RECV' && newState === 'ESTABLISHED') {
      prev.lastSeen = now;
      return;
    }
    this.births.set(cookie, { direction, transition: transitionText(oldState, newState), seenAt: now, lastSeen: now });
  }

  /**
   * ingest() straight from drained event bytes (struct tcpdir_event[]): under churn thousands of
   * events a second arrive, and decoding each into a KernelEvent (addresses, BigInt timestamps)
   * only to read its cookie and states was most of the server's garbage. Throws KernelDecodeError.
   */
  ingestRaw(buf: Buffer, now: number): number {
    checkLength(buf, KERNEL_EVENT_SIZE, 'kernel state-change event');
    let n = 0;
    for (let off = 0; off < buf.length; off += KERNEL_EVENT_SIZE, n++) {
      checkVersion(buf[off + 55], 'kernel state-change event', off);
      family(buf[off + 52], 'kernel state-change event', off);
      const oldState = state(buf[off + 53], 'kernel state-change event', off);
      const newState = state(buf[off + 54], 'kernel state-change event', off);
      const direction = birthFromTransition(oldState, newState);
      if (direction) this.record(cookieAt(buf, off), direction, oldState, newState, now);
    }
    return n;
  }

  get(cookie: string): KernelBirth | undefined {
    const b = this.births.get(cookie);
    return b && { direction: b.direction, transition: b.transition, seenAt: b.seenAt };
  }

  /**
   * The stored birth itself, not a copy (its direction, transition and seenAt never change once
   * stored: a new birth replaces the entry), for copying many into a snapshot cheaply.
   */
  peek(cookie: string): KernelBirth | undefined {
    return this.births.get(cookie);
  }

  /** Every stored birth by cookie (the stored objects, as peek). */
  entries(): IterableIterator<[string, KernelBirth]> {
    return this.births.entries();
  }

  /**
   * Forgets the births of sockets that are gone: born (ingested) before `bornBefore`, the start
   * of an iteration covering every namespace the tracepoint reports, which did not see them.
   * Under churn this keeps the store at about one snapshot interval of connections instead of
   * maxAgeMs of them.
   */
  prune(alive: (cookie: string) => boolean, bornBefore: number): void {
    for (const [c, b] of this.births) if (b.seenAt < bornBefore && !alive(c)) this.births.delete(c);
  }

  /** Refreshes the cookies an iteration saw and forgets those unseen for maxAgeMs. */
  markSeen(cookies: Iterable<string> | KernelRecordIndex, now: number): void {
    if ('has' in cookies) {
      // Walk the (usually much smaller) store and ask the index, not the other way round.
      for (const [c, b] of this.births) if (cookies.has(c)) b.lastSeen = now;
    } else {
      for (const c of cookies) {
        const b = this.births.get(c);
        if (b) b.lastSeen = now;
      }
    }
    for (const [c, b] of this.births) if (now - b.lastSeen > this.maxAgeMs) this.births.delete(c);
  }
}

/** Receives each chunk of a streamed pass after the table indexed it (records first..). */
export interface RecordSink {
  add(chunk: Buffer, firstIndex: number): void;
}

export interface KernelUnavailable {
  available: false;
  /** NATIVE_UNAVAILABLE (addon not built), EPERM, ENOBTF, EVERIFIER, EALREADY, ... */
  code: string;
  reason: string;
}

export interface KernelSourceOptions {
  /** Directory holding tcpdir_kernel.node; default build/Release. */
  dir?: string;
  /** A binding to use instead of loading one. */
  binding?: KernelBinding;
  /** Attach the state-change tracepoint (default true). */
  events?: boolean;
  /** Send every TCP state change, not only those that tell how a socket was born (default false). */
  allTransitions?: boolean;
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
      if (err instanceof NativeUnavailableError) return { available: false, code: err.code, reason: err.message };
      throw err;
    }
    if (binding.recordSize !== KERNEL_RECORD_SIZE || binding.eventSize !== KERNEL_EVENT_SIZE) {
      return {
        available: false,
        code: 'LAYOUT_MISMATCH',
        reason: `tcpdir_kernel records are ${binding.recordSize}/${binding.eventSize} bytes, this build decodes ` +
          `${KERNEL_RECORD_SIZE}/${KERNEL_EVENT_SIZE}: rebuild the addon`,
      };
    }
    try {
      binding.open({ events: opts.events !== false, allTransitions: opts.allTransitions === true });
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      return {
        available: false,
        code: typeof e.code === 'string' ? e.code : 'EOPEN',
        reason: typeof e.message === 'string' ? e.message : String(err),
      };
    }
    return new KernelEvidenceSource(binding, opts);
  }

  /** One iterator pass over the caller's netns, decoded; refreshes and ages the birth store. */
  async iterate(): Promise<KernelRecord[]> {
    return (await this.scan()).records();
  }

  /**
   * One iterator pass over the caller's netns as an index by cookie that decodes records only
   * on demand (what the service uses per snapshot); refreshes and ages the birth store. The
   * records stream in chunks as the kernel walks its table and are indexed (and given to `sink`,
   * e.g. to decode sockets) as they arrive: the JS work overlaps the walk instead of following it.
   */
  async scan(sink?: RecordSink): Promise<KernelRecordTable> {
    this.assertOpen('scan');
    const table = KernelRecordTable.empty(this.lastPassLength + (this.lastPassLength >> 3));
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
    this.births.ingestRaw(this.binding.drainEvents(), this.now());
    this.births.markSeen(table, this.now());
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
      this.births.ingestRaw(this.binding.drainEvents(), this.now());
    } catch {
      // A layout mismatch is caught at open(); nothing else can make a batch malformed.
    }
  }

  /** Moves pending tracepoint events into the birth store and returns them (decoded). */
  drain(): KernelEvent[] {
    if (this.closed) return [];
    const events = decodeKernelEvents(this.binding.drainEvents());
    this.births.ingest(events, this.now());
    return events;
  }

  /** Events lost because the ring buffer (kernel) or the native buffer (user) was full. */
  stats(): { kernelDrops: number; userDrops: number; pendingBytes: number } | null {
    return this.closed ? null : this.binding.stats();
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
