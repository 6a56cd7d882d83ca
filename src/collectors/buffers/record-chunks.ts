import type { CookieLookup } from './cookie-index';

/** Where one record is: its chunk's DataView and its byte offset there. */
export interface RecordPlace {
  dv: DataView;
  off: number;
}

/**
 * Fixed-size records kept in the chunks a streamed pass arrived in, read by record index without
 * concatenating the pass into one buffer.
 */
export class RecordChunks {
  private chunks: Array<{ first: number; buf: Buffer; dv: DataView }> = [];
  private lastChunk = 0;
  /** Records held. */
  length = 0;

  constructor(readonly recordSize: number) {}

  /** Appends a chunk of whole records. */
  push(buf: Buffer, dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)): void {
    this.chunks.push({ first: this.length, buf, dv });
    this.length += buf.length / this.recordSize;
  }

  /** Fills `out` with where record `i` is, and returns it. */
  at(i: number, out: RecordPlace): RecordPlace {
    const a = this.chunks;
    // Callers mostly read records in order (the next pass's decoder): try the last chunk first.
    let lo = this.lastChunk < a.length ? this.lastChunk : 0;
    const c = a[lo];
    if (i < c.first || i >= c.first + c.buf.length / this.recordSize) {
      let hi = a.length - 1;
      lo = 0;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (a[mid].first <= i) lo = mid;
        else hi = mid - 1;
      }
      this.lastChunk = lo;
    }
    out.dv = a[lo].dv;
    out.off = (i - a[lo].first) * this.recordSize;
    return out;
  }

  /** Every record in one buffer (record i at i * recordSize); the chunks become that one. */
  whole(): Buffer {
    if (this.chunks.length !== 1) {
      const buf = this.chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(this.chunks.map((c) => c.buf));
      this.chunks = [];
      this.lastChunk = 0;
      this.length = 0;
      this.push(buf);
    }
    return this.chunks[0].buf;
  }
}

/**
 * Finds a previous pass's records by cookie for the next pass's decoder. The kernel walks its
 * tables in much the same order each pass, so the record after the last one found is tried
 * before the cookie index.
 */
export class PreviousRecords {
  /** Where the record last found is (valid after find() returned >= 0). */
  readonly place: RecordPlace = { dv: new DataView(new ArrayBuffer(0)), off: 0 };
  private next = -1;

  /**
   * @param count records that may be returned (those with a socket decoded from them)
   * @param lookup the records by cookie (an object with a method, not a closure made per pass:
   *   a new function at this call site each pass would throw away find()'s optimized code)
   * @param cookieOffset where a record holds its cookie's two little-endian words
   */
  constructor(
    private readonly records: RecordChunks,
    private readonly count: number,
    private readonly lookup: CookieLookup,
    private readonly cookieOffset: number,
  ) {}

  /** Index of the record with cookie (lo, hi) below `count`, `place` set to it; -1 when none. */
  find(lo: number, hi: number): number {
    const place = this.place, c = this.cookieOffset;
    let p = this.next;
    if (p < 0 || p >= this.count || (this.records.at(p, place), place.dv.getUint32(place.off + c, true) !== lo || place.dv.getUint32(place.off + c + 4, true) !== hi)) {
      p = this.lookup.recordIndex(lo, hi);
      if (p >= this.count) p = -1;
      if (p >= 0) this.records.at(p, place);
    }
    this.next = p < 0 ? -1 : p + 1;
    return p;
  }
}
