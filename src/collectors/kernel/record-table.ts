import { CookieIndex, cookieWords, type CookieLookup } from '../buffers/cookie-index';
import { RecordChunks } from '../buffers/record-chunks';
import { KERNEL_FACTS_UNANSWERED } from '../../model/kernel';
import type { KernelBirthIndex, KernelRecord, KernelRecordIndex } from '../../model/kernel';
import type { Socket } from '../../model/socket';
import { AddressCache, checkLength, checkVersion, cookieAt, decodeKernelRecords, decodeRecordAt, family, state } from './decode';
import { birthOf, type KernelBirthStore } from './birth-store';
import { F_SHARES_LISTENER, F_TW_CB_KNOWN, F_TW_CONNECT_BIND, KERNEL_RECORD_SIZE, REC, SOCK_BINDPORT_LOCK, SOCK_CONNECT_BIND } from './layout';

/**
 * One or more iterator passes, kept as the raw bytes and indexed by cookie. Building it reads
 * only the few bytes the direction rules need and stores them packed, one uint16 per record
 * (packKernelFacts: facts only, the classifier decides what they mean); a full
 * KernelRecord (addresses, cookies as strings) is decoded only by `get`, i.e. when an API field
 * asks for it. Lookups take the canonical decimal cookie (as Socket.cookie and
 * KernelRecord.cookie are). The tracepoint's births of the pass's sockets are attached to it
 * (attachBirths), one code per record, so a snapshot needs no copy of the birth store.
 */
export class KernelRecordTable implements KernelRecordIndex, CookieLookup {
  private facts16: Uint16Array;
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

  private constructor(expected: number) {
    this.facts16 = new Uint16Array(Math.max(expected, 16));
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
      transition: (cookie) => {
        const i = this.birthIndexOf(cookie);
        return i < 0 ? 0 : this.birthCodes![i];
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
    if (this.n + m > this.facts16.length) {
      const facts = new Uint16Array(Math.max(this.facts16.length * 2, this.n + m));
      facts.set(this.facts16.subarray(0, this.n));
      this.facts16 = facts;
    }
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const marking = this.marking;
    const base = this.n * KERNEL_RECORD_SIZE; // byte offsets in errors count from the pass's start
    for (let j = 0, off = 0; j < m; j++, off += KERNEL_RECORD_SIZE) {
      checkVersion(chunk[off + REC.version], 'kernel socket record', base + off);
      family(chunk[off + REC.family], 'kernel socket record', base + off);
      const st = state(chunk[off + REC.state], 'kernel socket record', base + off);
      const userLocks = chunk[off + REC.userLocks];
      const flags = chunk[off + REC.flags];
      const i = this.n + j;
      // The 7 facts the direction rules read, packed as packKernelFacts packs them.
      const connectBind = (userLocks & SOCK_CONNECT_BIND) !== 0;
      const explicitPortBind = (userLocks & SOCK_BINDPORT_LOCK) !== 0;
      const portAllocatedByConnect = chunk[off + REC.fastreuse] === 0xff; // fastreuse == -1 (int8)
      const tw = st === 'TIME_WAIT' && (flags & F_TW_CB_KNOWN) !== 0 ? ((flags & F_TW_CONNECT_BIND) !== 0 ? 2 : 1) : 0;
      const sharesListenerPort = (flags & F_SHARES_LISTENER) !== 0;
      const acceptBacklogInherited = st !== 'LISTEN' && dv.getUint32(off + REC.maxAckBacklog, true) > 0;
      const key = (chunk[off + REC.state] << 7) | (tw << 5) | (+connectBind << 4) | (+explicitPortBind << 3) |
        (+portAllocatedByConnect << 2) | (+sharesListenerPort << 1) | +acceptBacklogInherited;
      this.facts16[i] = key;
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

  /** The sockets decoded from this table's records, in record order (see factsAt). */
  private recordSockets: readonly Socket[] | null = null;

  /** Tells the table which Socket objects its records were decoded into (socket k: record k). */
  setRecordSockets(sockets: readonly Socket[]): void {
    this.recordSockets = sockets;
  }

  /**
   * The facts of sockets by position, without cookie lookups (KernelRecordIndex.factsAt): packed
   * facts into `facts[i]` and the attached birth's transition code into `births[i]`.
   * `sockets[i]` is answered only when it is the object decoded from record `positions[i]` (a
   * snapshot listing this pass's sockets in record order); else KERNEL_FACTS_UNANSWERED.
   */
  factsAt(positions: Int32Array, sockets: readonly Socket[], facts: Int32Array, births: Uint8Array): void {
    const own = this.recordSockets;
    // A cookie seen twice in the passes (the later record wins) would make positions ambiguous.
    if (own === null || this.index.size !== this.n) {
      facts.fill(KERNEL_FACTS_UNANSWERED, 0, sockets.length);
      return;
    }
    const born = this.birthCount === 0 ? null : this.birthCodes!;
    const packed = this.facts16;
    for (let i = 0; i < sockets.length; i++) {
      const k = positions[i];
      if (own[k] !== sockets[i]) {
        facts[i] = KERNEL_FACTS_UNANSWERED;
        continue;
      }
      facts[i] = packed[k];
      births[i] = born === null ? 0 : born[k];
    }
  }

  get(cookie: string): KernelRecord | undefined {
    const i = this.indexOf(cookie);
    return i < 0 ? undefined : decodeRecordAt(this.buffer, i * KERNEL_RECORD_SIZE, this.addrs);
  }

  facts(cookie: string): number | undefined {
    const i = this.indexOf(cookie);
    return i < 0 ? undefined : this.facts16[i];
  }

  *cookies(): IterableIterator<string> {
    for (const i of this.index.values()) yield cookieAt(this.buffer, i * KERNEL_RECORD_SIZE);
  }

  /** Every record, decoded (same as decodeKernelRecords on the buffer). */
  records(): KernelRecord[] {
    return decodeKernelRecords(this.buffer);
  }
}
