import { AddressTextCache, cookieText } from './record-text';
import { CookieIndex, cookieWords, type CookieLookup } from './cookie-index';
import { RecordChunks } from './record-chunks';
import { birthFromTransition, KERNEL_CODE_UNANSWERED, KERNEL_DIRECTIONS, kernelDirection } from '../model/kernel';
import type { KernelBirth, KernelBirthIndex, KernelDirection, KernelDirectionInput, KernelEvent, KernelRecord, KernelRecordIndex } from '../model/kernel';
import type { AddressFamily, Socket } from '../model/socket';
import { TCP_STATES, TcpStateCode } from '../model/tcp-state';
import type { TcpStateName } from '../model/tcp-state';
import { loadNative, NativeUnavailableError } from './native';
import { kernelUnavailable, type KernelUnavailable } from './kernel-unavailable';

// Layouts of native/kernel/tcpdir_records.h (struct tcpdir_sock_rec / struct tcpdir_event).
export const KERNEL_RECORD_SIZE = 96;
export const KERNEL_EVENT_SIZE = 56;
export const KERNEL_LAYOUT_VERSION = 2;

const SOCK_BINDADDR_LOCK = 4;
const SOCK_BINDPORT_LOCK = 8;
const SOCK_CONNECT_BIND = 16;
const F_SHARES_LISTENER = 0x02;
const F_BUCKET_NOT_READ = 0x20;
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
    bucketRead: (flags & F_BUCKET_NOT_READ) === 0,
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

const DIRECTION_CODE = new Map<KernelDirection, number>(KERNEL_DIRECTIONS.map((d, i) => [d, i]));

/** A KERNEL_DIRECTIONS index as the classifier's code: +1 inbound, -1 outbound, 0 when the rule
 * is none or the handshake state (which the classifier's own handshake rule reads). */
const VERDICT_OF_CODE = Int8Array.from(KERNEL_DIRECTIONS, (d) =>
  d.rule === null || d.rule === 'handshake-state' ? 0 : d.direction === 'INBOUND' ? 1 : d.direction === 'OUTBOUND' ? -1 : 0);

/** kernelDirection's answer (a KERNEL_DIRECTIONS index) by packed facts (see append); 255: not asked yet. */
const DIRECTION_MEMO = new Uint8Array(256 << 7).fill(255);

/**
 * One or more iterator passes, kept as the raw bytes and indexed by cookie. Building it reads
 * only the few bytes kernelDirection needs and stores one direction code per record; a full
 * KernelRecord (addresses, cookies as strings) is decoded only by `get`, i.e. when an API field
 * asks for it. Lookups take the canonical decimal cookie (as Socket.cookie and
 * KernelRecord.cookie are). The tracepoint's births of the pass's sockets are attached to it
 * (attachBirths), one code per record, so a snapshot needs no copy of the birth store.
 */
export class KernelRecordTable implements KernelRecordIndex, CookieLookup {
  private codes: Uint8Array;
  private readonly addrs = new AddressCache();
  /** Cookie -> index of its (last) record. */
  private readonly index: CookieIndex;
  /** Records appended so far. */
  private n = 0;
  /** The records as appended (or, once `buffer` was asked for, as one chunk). */
  readonly chunks = new RecordChunks(KERNEL_RECORD_SIZE);
  /** Per record: birth transition code (see KernelBirthStore), 0 for none; null until attachBirths. */
  private birthCodes: Uint8Array | null = null;
  private birthAt: Float64Array | null = null;
  private birthCount = 0;
  /** The birth store append() marks records in, and this table's pass number there. */
  private marking: { store: KernelBirthStore; pass: number } | null = null;
  private readonly words = { lo: 0, hi: 0 };
  // One scratch input for kernelDirection, refilled per record: no object per record.
  private readonly input: { -readonly [K in keyof KernelDirectionInput]: KernelDirectionInput[K] } = {
    state: 'CLOSE', connectBind: false, explicitPortBind: false, portAllocatedByConnect: false,
    twConnectBind: null, sharesListenerPort: false, acceptBacklogInherited: false,
  };

  private constructor(expected: number) {
    this.codes = new Uint8Array(Math.max(expected, 16));
    this.index = new CookieIndex(expected);
    const table = this;
    this.births = {
      get size() {
        return table.birthCount;
      },
      get: (cookie) => {
        const i = this.birthIndexOf(cookie);
        return i < 0 || this.birthCodes![i] === 0 ? undefined : birthOf(this.birthCodes![i], this.birthAt![i]);
      },
      direction: (cookie) => {
        const i = this.birthIndexOf(cookie);
        return i < 0 ? 0 : BIRTH_DIRECTION[this.birthCodes![i]];
      },
    };
  }

  /**
   * An empty table sized for about `expected` records, to fill with append() (a streamed pass).
   * With `births`, append() notes which stored births its records belong to as they arrive, so
   * attachBirths after the pass need not look each one up (see KernelBirthStore.settle).
   */
  static empty(expected = 0, births?: KernelBirthStore): KernelRecordTable {
    const t = new KernelRecordTable(expected);
    if (births) t.marking = { store: births, pass: births.beginPass() };
    return t;
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
    return this.chunks.whole();
  }

  /**
   * Indexes whole records (one chunk of a streamed pass, or a whole pass). Later records with the
   * same cookie win. Throws KernelDecodeError on a malformed buffer; the table is then unusable.
   */
  append(chunk: Buffer): void {
    checkLength(chunk, KERNEL_RECORD_SIZE, 'kernel socket record');
    const m = chunk.length / KERNEL_RECORD_SIZE;
    if (m === 0) return;
    if (this.birthCodes) throw new Error('KernelRecordTable.append after attachBirths');
    if (this.n + m > this.codes.length) {
      const codes = new Uint8Array(Math.max(this.codes.length * 2, this.n + m));
      codes.set(this.codes.subarray(0, this.n));
      this.codes = codes;
    }
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const input = this.input;
    const marking = this.marking;
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
      const lo = dv.getUint32(off, true), hi = dv.getUint32(off + 4, true);
      this.index.set(lo, hi, i);
      if (marking !== null) marking.store.mark(lo, hi, i, marking.pass);
    }
    this.chunks.push(chunk, dv);
    this.n += m;
  }

  get size(): number {
    return this.index.size;
  }


  // The classifier asks births.direction and then direction for one cookie: the second lookup
  // is a string compare, not a parse and a probe.
  private lastCookie = '';
  private lastIndex = -1;

  private indexOf(cookie: string): number {
    if (cookie === this.lastCookie) return this.lastIndex;
    const i = cookieWords(cookie, this.words) ? this.index.get(this.words.lo, this.words.hi) : -1;
    if (this.birthCodes !== null) (this.lastCookie = cookie), (this.lastIndex = i); // appends may still come before
    return i;
  }

  /** Index of the record with cookie words (lo, hi) (the last one, when a cookie repeats), or -1. */
  recordIndex(lo: number, hi: number): number {
    return this.index.get(lo, hi);
  }

  /**
   * Copies the births of this table's sockets out of the store (which keeps changing after this
   * snapshot), one code per record, and lets the store forget what this pass shows is gone (see
   * KernelBirthStore.settle). Call once, after the last append, with every namespace the
   * tracepoint reports appended.
   */
  attachBirths(store: KernelBirthStore, now: number, bornBefore: number): void {
    const b = store.settle(this, this.n, now, bornBefore, this.marking?.store === store ? this.marking.pass : -1);
    this.birthCodes = b.transitions;
    this.birthAt = b.seenAt;
    this.birthCount = b.count;
  }

  /** The births attached by attachBirths, by cookie. */
  readonly births: KernelBirthIndex;

  private birthIndexOf(cookie: string): number {
    return this.birthCount === 0 ? -1 : this.indexOf(cookie);
  }

  has(cookie: string): boolean {
    return this.indexOf(cookie) >= 0;
  }

  /** The sockets decoded from this table's records, in record order (see codesAt). */
  private recordSockets: readonly Socket[] | null = null;

  /** Tells the table which Socket objects its records were decoded into (socket k: record k). */
  setRecordSockets(sockets: readonly Socket[]): void {
    this.recordSockets = sockets;
  }

  /**
   * The kernel's word on sockets by position, without cookie lookups (KernelRecordIndex.codesAt):
   * births (as attachBirths attached them) first, then the iterator's rules, as the classifier's
   * kernelCodes. `sockets[i]` is answered only when it is the object decoded from record
   * `positions[i]` (a snapshot listing this pass's sockets in record order); else
   * KERNEL_CODE_UNANSWERED.
   */
  codesAt(positions: Int32Array, sockets: readonly Socket[], out: Int8Array): void {
    const own = this.recordSockets;
    // A cookie seen twice in the passes (the later record wins) would make positions ambiguous.
    if (own === null || this.index.size !== this.n) {
      out.fill(KERNEL_CODE_UNANSWERED, 0, sockets.length);
      return;
    }
    const births = this.birthCount === 0 ? null : this.birthCodes!;
    const codes = this.codes;
    for (let i = 0; i < sockets.length; i++) {
      const k = positions[i];
      if (own[k] !== sockets[i]) {
        out[i] = KERNEL_CODE_UNANSWERED;
        continue;
      }
      const b = births === null ? 0 : BIRTH_DIRECTION[births[k]];
      out[i] = b !== 0 ? b : VERDICT_OF_CODE[codes[k]];
    }
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
    for (const i of this.index.values()) yield cookieAt(this.buffer, i * KERNEL_RECORD_SIZE);
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

// A birth-revealing transition as one byte: old state << 4 | new state (states are 1..12, so
// 0 means none). Its direction (+1 inbound, -1 outbound, 0 none) and "OLD->NEW" text are
// tabulated once: under churn the store holds 100k+ births, and an object or string per birth
// would be most of its memory and of the collector's work.
const BIRTH_DIRECTION = new Int8Array(256);
const TRANSITION_TEXT: string[] = new Array<string>(256).fill('');
for (let o = 1; o < TCP_STATES.length; o++) {
  for (let n = 1; n < TCP_STATES.length; n++) {
    const d = birthFromTransition(TCP_STATES[o] as TcpStateName, TCP_STATES[n] as TcpStateName);
    BIRTH_DIRECTION[(o << 4) | n] = d === 'INBOUND' ? 1 : d === 'OUTBOUND' ? -1 : 0;
    TRANSITION_TEXT[(o << 4) | n] = `${TCP_STATES[o]}->${TCP_STATES[n]}`;
  }
}
const SYN_RECV_TO_ESTABLISHED = (TcpStateCode.SYN_RECV << 4) | TcpStateCode.ESTABLISHED;

/** The birth a (birth-revealing) transition code tells of, stored at `seenAt`. */
function birthOf(transition: number, seenAt: number): KernelBirth {
  return { direction: BIRTH_DIRECTION[transition] > 0 ? 'INBOUND' : 'OUTBOUND', transition: TRANSITION_TEXT[transition], seenAt };
}

/**
 * How each socket was born, by cookie, from drained tracepoint events. TIME_WAIT creation and
 * expiry raise no event, so entries are aged out when an iteration has not seen the cookie for
 * `maxAgeMs`. Clock values are passed in so the store stays deterministic under test. Kept in
 * columns (typed arrays, one entry per birth, reused once freed) behind a CookieIndex: the store
 * is walked after every pass and holds a birth for every socket born while tcpdir runs.
 */
export class KernelBirthStore {
  private readonly index = new CookieIndex();
  private lo = new Uint32Array(64);
  private hi = new Uint32Array(64);
  /** Transition code per entry; 0: the entry is free. */
  private transition = new Uint8Array(64);
  private seenAt = new Float64Array(64);
  private lastSeen = new Float64Array(64);
  /** Per entry: the last pass that marked it (see mark) and the record it had there. */
  private markedPass = new Int32Array(64);
  private markedRecord = new Int32Array(64);
  /** Per entry: the number of passes begun when it was stored (a clock that never steps back). */
  private storedAtPass = new Int32Array(64);
  private passes = 0;
  /** Entries ever used (live or free); free ones are listed in `free`. */
  private top = 0;
  private free: number[] = [];
  private readonly words = { lo: 0, hi: 0 };

  constructor(readonly maxAgeMs = 120_000) {}

  get size(): number {
    return this.index.size;
  }

  /** Records the births the events reveal. A later handshake (a socket reused after
   * disconnect or after listening) replaces an earlier one; SYN_RECV->ESTABLISHED alone
   * only fills a gap, since a simultaneous open also passes through it. */
  ingest(events: readonly KernelEvent[], now: number): void {
    for (const e of events) {
      const t = (TcpStateCode[e.oldState] << 4) | TcpStateCode[e.newState];
      if (BIRTH_DIRECTION[t] !== 0 && cookieWords(e.cookie, this.words)) this.record(this.words.lo, this.words.hi, t, now);
    }
  }

  /** One birth-revealing transition (see ingest). */
  private record(lo: number, hi: number, transition: number, now: number): void {
    const prev = this.index.get(lo, hi);
    if (prev >= 0 && transition === SYN_RECV_TO_ESTABLISHED) {
      this.lastSeen[prev] = now;
      return;
    }
    const e = prev >= 0 ? prev : this.allocate();
    if (prev < 0) {
      this.index.set(lo, hi, e);
      this.markedPass[e] = 0; // an entry reused for a new cookie keeps no mark of the old one
    }
    this.lo[e] = lo;
    this.hi[e] = hi;
    this.transition[e] = transition;
    this.seenAt[e] = now;
    this.lastSeen[e] = now;
    this.storedAtPass[e] = this.passes;
  }

  private allocate(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.top === this.transition.length) {
      const cap = this.top * 2;
      const grow = <T extends Uint32Array | Int32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.lo = grow(this.lo, (n) => new Uint32Array(n));
      this.hi = grow(this.hi, (n) => new Uint32Array(n));
      this.transition = grow(this.transition, (n) => new Uint8Array(n));
      this.seenAt = grow(this.seenAt, (n) => new Float64Array(n));
      this.lastSeen = grow(this.lastSeen, (n) => new Float64Array(n));
      this.markedPass = grow(this.markedPass, (n) => new Int32Array(n));
      this.markedRecord = grow(this.markedRecord, (n) => new Int32Array(n));
      this.storedAtPass = grow(this.storedAtPass, (n) => new Int32Array(n));
    }
    return this.top++;
  }

  /** A number for a new iterator pass, for mark() and settle(). */
  beginPass(): number {
    return ++this.passes;
  }

  /**
   * Notes that record `recordIndex` of pass `pass` has cookie (lo, hi), when a birth is stored
   * for it: called for every record as a pass streams in, while the kernel is still walking, so
   * that settle() after the pass finds the marked births' records without a lookup each.
   */
  mark(lo: number, hi: number, recordIndex: number, pass: number): void {
    const e = this.index.get(lo, hi);
    if (e < 0) return;
    this.markedPass[e] = pass;
    this.markedRecord[e] = recordIndex;
  }

  private remove(e: number): void {
    this.index.delete(this.lo[e], this.hi[e]);
    this.transition[e] = 0;
    this.free.push(e);
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
      state(buf[off + 53], 'kernel state-change event', off);
      state(buf[off + 54], 'kernel state-change event', off);
      const t = (buf[off + 53] << 4) | buf[off + 54];
      if (BIRTH_DIRECTION[t] !== 0) this.record(buf.readUInt32LE(off), buf.readUInt32LE(off + 4), t, now);
    }
    return n;
  }

  get(cookie: string): KernelBirth | undefined {
    const e = cookieWords(cookie, this.words) ? this.index.get(this.words.lo, this.words.hi) : -1;
    return e < 0 ? undefined : birthOf(this.transition[e], this.seenAt[e]);
  }

  /** Every stored birth, by decimal cookie (copies). */
  *entries(): IterableIterator<[string, KernelBirth]> {
    for (let e = 0; e < this.top; e++) if (this.transition[e] !== 0) yield [cookieText(this.lo[e], this.hi[e]), birthOf(this.transition[e], this.seenAt[e])];
  }

  /**
   * After an iteration covering every namespace the tracepoint reports (`seen`, with `records`
   * records): returns the births of the sockets it saw, by record index, and refreshes them;
   * forgets the births of sockets it did not see that were born (ingested) before `bornBefore`,
   * the iteration's start, since those are gone, and any unseen for maxAgeMs. Under churn this
   * keeps the store at about one snapshot interval of connections. One walk of the store. With
   * the iteration's `pass` (its records were mark()ed as they came), a birth marked by it needs
   * no lookup; one not marked is looked up only when it may have been stored after its record
   * came by (stored since the pass began) or a later pass overwrote the mark; and "before the
   * iteration" is told by pass numbers rather than by the wall clock, which may step back.
   */
  settle(seen: CookieLookup, records: number, now: number, bornBefore: number, pass = -1): { transitions: Uint8Array; seenAt: Float64Array; count: number } {
    const transitions = new Uint8Array(records);
    const seenAt = new Float64Array(records);
    let count = 0;
    for (let e = 0; e < this.top; e++) {
      const t = this.transition[e];
      if (t === 0) continue;
      let i = -1;
      const before = pass > 0 ? this.storedAtPass[e] < pass : this.seenAt[e] < bornBefore;
      if (pass > 0 && this.markedPass[e] === pass) i = this.markedRecord[e];
      else if (pass <= 0 || !before || this.markedPass[e] > pass) i = seen.recordIndex(this.lo[e], this.hi[e]);
      if (i >= 0) {
        this.lastSeen[e] = now;
        transitions[i] = t;
        seenAt[i] = this.seenAt[e];
        count++;
      } else if (before || now - this.lastSeen[e] > this.maxAgeMs) {
        this.remove(e);
      }
    }
    return { transitions, seenAt, count };
  }
}

/** Receives each chunk of a streamed pass after the table indexed it (records first..). */
export interface RecordSink {
  add(chunk: Buffer, firstIndex: number): void;
}

export type { KernelUnavailable } from './kernel-unavailable';

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
      binding.open({ events: opts.events !== false, allTransitions: opts.allTransitions === true });
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
    const table = KernelRecordTable.empty(this.lastPassLength + (this.lastPassLength >> 3), this.births);
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
