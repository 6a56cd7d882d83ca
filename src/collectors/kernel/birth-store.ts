import { CookieIndex, cookieWords, type CookieLookup } from '../buffers/cookie-index';
import { cookieText } from '../buffers/record-text';
import { BIRTH_TRANSITION, transitionText } from '../../model/kernel-facts';
import type { KernelBirth, KernelEvent } from '../../model/kernel';
import { TCP_STATES, TcpStateCode } from '../../model/tcp-state';
import { checkLength, checkVersion, family, state } from './decode';
import { AF_INET, AF_INET6, EVT, KERNEL_EVENT_SIZE, KERNEL_LAYOUT_VERSION } from './layout';

// A birth's transition as one byte: old state << 4 | new state (states are 1..12, so 0 means
// none); BIRTH_TRANSITION says which changes begin a life. Under churn the store holds 100k+
// births: an object or string per birth would be most of its memory and of the collector's work.
const SYN_RECV_TO_ESTABLISHED = (TcpStateCode.SYN_RECV << 4) | TcpStateCode.ESTABLISHED;

/** The birth a transition code tells of, stored at `seenAt`. */
export function birthOf(transition: number, seenAt: number): KernelBirth {
  return { transition: transitionText(transition), code: transition, seenAt };
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
      if (BIRTH_TRANSITION[t] !== 0 && cookieWords(e.cookie, this.words)) this.record(this.words.lo, this.words.hi, t, now);
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
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let n = 0;
    for (let off = 0; off < buf.length; off += KERNEL_EVENT_SIZE, n++) {
      const v = buf[off + EVT.version], f = buf[off + EVT.family], o = buf[off + EVT.oldState], s = buf[off + EVT.newState];
      // Checked by comparisons; the checkers run only to throw their error (three events a
      // connection life go through here: the calls were most of this loop).
      if (v !== KERNEL_LAYOUT_VERSION || (f !== AF_INET && f !== AF_INET6) || o === 0 || o >= TCP_STATES.length || s === 0 || s >= TCP_STATES.length) {
        checkVersion(v, 'kernel state-change event', off);
        family(f, 'kernel state-change event', off);
        state(o, 'kernel state-change event', off);
        state(s, 'kernel state-change event', off);
      }
      const t = (o << 4) | s;
      if (BIRTH_TRANSITION[t] !== 0) this.record(dv.getUint32(off, true), dv.getUint32(off + 4, true), t, now);
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
