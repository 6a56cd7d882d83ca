/** Finds a record by its cookie's two 32-bit words: its index, or -1. */
export interface CookieLookup {
  recordIndex(lo: number, hi: number): number;
}

/**
 * Socket cookie -> non-negative int, as an open-addressing table over typed arrays keyed by the
 * cookie's two 32-bit words. With 100k sockets a Map keyed by decimal strings (or by Numbers
 * beyond 2^31, which V8 boxes) cost more to build, probe and collect than the classifier's
 * rules together. Linear probing; a removed key leaves a tombstone until the next rehash.
 */
export class CookieIndex implements CookieLookup {
  private keys: Uint32Array;
  /** Value per slot; EMPTY or GONE (tombstone) when it holds no key. */
  private vals: Int32Array;
  private mask: number;
  /** Keys held. */
  size = 0;
  /** Slots not EMPTY (keys and tombstones): what bounds probe lengths. */
  private used = 0;

  constructor(expected = 0) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  /** The slot holding cookie (lo, hi), or -1. */
  private slotOf(lo: number, hi: number): number {
    const keys = this.keys, vals = this.vals;
    let k = cookieHash(lo, hi) & this.mask;
    for (;;) {
      const v = vals[k];
      if (v === EMPTY) return -1;
      if (v !== GONE && keys[2 * k] === lo && keys[2 * k + 1] === hi) return k;
      k = (k + 1) & this.mask;
    }
  }

  /** The value of cookie (lo, hi), or -1. */
  get(lo: number, hi: number): number {
    const k = this.slotOf(lo, hi);
    return k < 0 ? -1 : this.vals[k];
  }

  /** get(), for an index whose values are record indexes (a CookieLookup). */
  recordIndex(lo: number, hi: number): number {
    return this.get(lo, hi);
  }

  /** Sets the value of cookie (lo, hi); returns the previous value, or -1 when it is new. */
  set(lo: number, hi: number, value: number): number {
    if ((this.used + 1) * 2 > this.vals.length) this.rehash();
    const keys = this.keys, vals = this.vals;
    let k = cookieHash(lo, hi) & this.mask;
    let free = -1;
    for (;;) {
      const v = vals[k];
      if (v === EMPTY) break;
      if (v === GONE) {
        if (free < 0) free = k;
      } else if (keys[2 * k] === lo && keys[2 * k + 1] === hi) {
        vals[k] = value;
        return v;
      }
      k = (k + 1) & this.mask;
    }
    if (free >= 0) k = free;
    else this.used++;
    keys[2 * k] = lo;
    keys[2 * k + 1] = hi;
    vals[k] = value;
    this.size++;
    return -1;
  }

  /** Removes cookie (lo, hi); returns its value, or -1 when it was not there. */
  delete(lo: number, hi: number): number {
    const k = this.slotOf(lo, hi);
    if (k < 0) return -1;
    const v = this.vals[k];
    this.vals[k] = GONE;
    this.size--;
    return v;
  }

  /** Grows when half full of keys, else only sweeps the tombstones out. */
  private rehash(): void {
    const keys = this.keys, vals = this.vals;
    let cap = vals.length;
    while (this.size * 4 >= cap) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.used = this.size;
    for (let k = 0; k < vals.length; k++) {
      const v = vals[k];
      if (v < 0) continue;
      let j = cookieHash(keys[2 * k], keys[2 * k + 1]) & this.mask;
      while (this.vals[j] !== EMPTY) j = (j + 1) & this.mask;
      this.keys[2 * j] = keys[2 * k];
      this.keys[2 * j + 1] = keys[2 * k + 1];
      this.vals[j] = v;
    }
  }

  /** Every value, in slot order (no particular order). */
  *values(): IterableIterator<number> {
    const vals = this.vals;
    for (let k = 0; k < vals.length; k++) if (vals[k] >= 0) yield vals[k];
  }
}

const EMPTY = -1;
const GONE = -2;

function cookieHash(lo: number, hi: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
  return h ^ (h >>> 16);
}

const TWO32 = 4294967296;

/**
 * The two 32-bit words of a decimal cookie (Socket.cookie, KernelRecord.cookie), written into
 * `out`; false when the text is not a u64 in decimal.
 */
export function cookieWords(cookie: string, out: { lo: number; hi: number }): boolean {
  const n = +cookie;
  if (n <= Number.MAX_SAFE_INTEGER) {
    if (!(n >= 0) || n !== Math.floor(n)) return false;
    out.hi = Math.floor(n / TWO32);
    out.lo = n - out.hi * TWO32;
    return true;
  }
  // At or above 2^53 a Number is inexact: take the words from the exact decimal text.
  let b: bigint;
  try {
    b = BigInt(cookie);
  } catch {
    return false;
  }
  if (b >= 1n << 64n) return false;
  out.lo = Number(b & 0xffffffffn);
  out.hi = Number(b >> 32n);
  return true;
}
