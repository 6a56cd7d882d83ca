/**
 * JSON written straight into bytes, as JSON.stringify would write it, for answers of tens of
 * megabytes: no string per value, row or chunk to build, join, flatten and encode again (at 40k
 * rows the objects, JSON.stringify over them and those strings took a third of a cold `list --json`).
 */
export class JsonBytes {
  private buf: Buffer;
  private spare: Buffer;
  /** Bytes written into the current buffer. */
  size = 0;

  /** `chunk`: how much to write at a time; each buffer has a quarter more, for the value that crosses it. */
  constructor(private readonly chunk = 1 << 20) {
    this.buf = Buffer.allocUnsafe(Math.ceil(chunk * 1.25));
    this.spare = Buffer.allocUnsafe(Math.ceil(chunk * 1.25));
  }

  /** A chunk's worth is written: time to take it. */
  get full(): boolean {
    return this.size >= this.chunk;
  }

  /**
   * The bytes written so far. Writing goes on in the other of two buffers, so these stay intact
   * until the next take: write them out before then.
   */
  take(): Buffer {
    const full = this.buf;
    this.buf = this.spare;
    this.spare = full;
    const out = full.subarray(0, this.size);
    this.size = 0;
    return out;
  }

  /** Text known to be JSON already, in ASCII (keys and punctuation made once). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    if (this.size + n > this.buf.length) this.grow(n);
    const b = this.buf;
    let o = this.size;
    for (let i = 0; i < n; i++) b[o++] = bytes[i];
    this.size = o;
  }

  /** Any value, as JSON.stringify writes it (undefined as null, as in a list). */
  value(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else if (typeof v === 'number') this.number(v);
    else if (v === null || v === undefined) this.raw(NULL);
    else if (v === true) this.raw(TRUE);
    else if (v === false) this.raw(FALSE);
    else this.utf8(JSON.stringify(v) ?? 'null');
  }

  string(s: string): void {
    const n = s.length;
    if (this.size + n + 2 > this.buf.length) this.grow(n + 2);
    // A long string (an evidence sentence) is checked by one regular expression and copied by
    // V8 in one call: a loop over its characters took a fifth of a cold 40k-row list.
    if (n > LONG && !NEEDS_ESCAPE.test(s)) {
      const b = this.buf;
      b[this.size] = 34;
      const o = this.size + 1 + b.write(s, this.size + 1, n, 'latin1');
      b[o] = 34;
      this.size = o + 1;
      return;
    }
    const b = this.buf;
    let o = this.size;
    b[o++] = 34;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Escapes, and anything past ASCII (UTF-8, lone surrogates): JSON.stringify's text for it.
      if (c < 32 || c === 34 || c === 92 || c > 126) return this.utf8(JSON.stringify(s));
      b[o++] = c;
    }
    b[o++] = 34;
    this.size = o;
  }

  number(v: number): void {
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) this.uint(v);
    else this.plain(Number.isFinite(v) ? String(v) : 'null');
  }

  private uint(v: number): void {
    if (this.size + 10 > this.buf.length) this.grow(10);
    let len = 1;
    for (let d = 10; d <= v; d *= 10) len++;
    const b = this.buf;
    const o = this.size;
    for (let p = o + len - 1; p >= o; p--) {
      b[p] = 48 + (v % 10);
      v = (v / 10) | 0;
    }
    this.size = o + len;
  }

  /** Text in ASCII without escapes (a number's). */
  private plain(s: string): void {
    const n = s.length;
    if (this.size + n > this.buf.length) this.grow(n);
    const b = this.buf;
    let o = this.size;
    for (let i = 0; i < n; i++) b[o++] = s.charCodeAt(i);
    this.size = o;
  }

  private utf8(s: string): void {
    const n = Buffer.byteLength(s);
    if (this.size + n > this.buf.length) this.grow(n);
    this.size += this.buf.write(s, this.size);
  }

  /** Room for `n` more bytes in a bigger buffer (a value longer than the slack). */
  private grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.size + n));
    this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
  }
}

/**
 * A JSON list of `count` items and a newline, handed to `write` a chunk at a time; the next chunk
 * is made while the last is written. Stops when `write` answers false (the reader has gone).
 */
export async function writeJsonList(count: number, item: (i: number, out: JsonBytes) => void, write: (chunk: Buffer) => Promise<boolean>, chunk?: number): Promise<void> {
  const out = new JsonBytes(chunk);
  let writing: Promise<boolean> = Promise.resolve(true);
  out.raw(OPEN_LIST);
  for (let i = 0; i < count; i++) {
    if (i > 0) out.raw(COMMA);
    item(i, out);
    if (out.full) {
      if (!(await writing)) return;
      writing = write(out.take());
    }
  }
  out.raw(CLOSE_LIST_LINE);
  if (await writing) await write(out.take());
}

/** ASCII text as bytes, for JsonBytes.raw. */
export const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Past this length a string is written by `NEEDS_ESCAPE` and one copy rather than a loop. */
const LONG = 24;
/** What JSON.stringify escapes, and anything past ASCII (written as UTF-8, or escaped when a lone surrogate). */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/;

const NULL = ascii('null');
const TRUE = ascii('true');
const FALSE = ascii('false');
const OPEN_LIST = ascii('[');
const COMMA = ascii(',');
const CLOSE_LIST_LINE = ascii(']\n');
