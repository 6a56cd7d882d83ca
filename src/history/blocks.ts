// Life blocks: the lives a flush writes already closed (churn: opened and closed within one flush,
// almost all of them under load) packed into one immutable row of fixed-width columns, instead of
// a row and four index entries each. A row per life cost 7.2 µs of SQLite per life; a block costs
// one insert per flush. Plain data in, plain data out: no SQL here.
//
// data: a header of four u32 [version, n, string-table bytes, key bytes], then columns
//   f64 × 7n  opened (NaN: null), closed, firstSeen, confidence, bytesSent, bytesReceived (NaN: null),
//             cookie: the recorder's keys `k:<cookie>:<openedAt>` are rebuilt from it (NaN: the key
//             is in the key list), 8 bytes instead of ~27 of JSON text
//   i32 × 7n  pid, retransmits (-1: null), netns, localAddress, remoteAddress, command, rule
//             (indexes into the string table, -1: null)
//   u16 × 2n  localPort, remotePort
//   u8  × n   flags: family, direction, observedBy, certain, preExisting
//   the string table and the other keys, each a JSON array of strings (V8's JSON is the fastest
//   codec here).
// ports: u16 [count of local ports, the distinct local ports sorted, the distinct remote ports
//   sorted], so a one-port query skips a block without decoding it; peers: the distinct remote
//   addresses' 16-byte keys (cidr.ts), sorted, for address and CIDR queries; names: the distinct
//   netns and command texts (JSON), for namespace and process queries.
// Typed arrays use the machine's byte order (little-endian on every platform tcpdir runs on).
import { addressKey } from './cidr';
import { keyOf, type LifeDirection, type ObservedBy, type StoredLife, type WrittenLife } from './record';

const VERSION = 1;
const HEADER = 16;
export const MAX_BLOCK_LIVES = 65_535;

const DIRECTIONS: readonly LifeDirection[] = ['INBOUND', 'OUTBOUND', 'UNKNOWN'];
const DIRECTION_CODE: Record<string, number> = { INBOUND: 0, OUTBOUND: 1, UNKNOWN: 2 };
const OBSERVED: readonly ObservedBy[] = ['KERNEL', 'SNAPSHOT'];

// flags bits
const F_IPV6 = 1, F_DIR_SHIFT = 1, F_DIR_MASK = 3 << F_DIR_SHIFT, F_SNAPSHOT = 8, F_CERTAIN = 16, F_PRE = 32;

export interface EncodedBlock {
  minStarted: number;
  maxStarted: number;
  maxClosed: number;
  count: number;
  ports: Buffer;
  peers: Buffer;
  names: string;
  data: Buffer;
}

/** Packs closed lives (at most MAX_BLOCK_LIVES). Throws on a malformed life, as an insert would. */
export function encodeBlock(lives: readonly WrittenLife[], remoteKey: (address: string) => Buffer): EncodedBlock {
  const n = lives.length;
  if (n === 0 || n > MAX_BLOCK_LIVES) throw new RangeError(`a block holds 1 to ${MAX_BLOCK_LIVES} lives, not ${n}`);
  const fixed = HEADER + n * (7 * 8 + 7 * 4 + 2 * 2 + 1);
  const ab = new ArrayBuffer(fixed);
  const f64 = new Float64Array(ab, HEADER, 7 * n);
  const i32 = new Int32Array(ab, HEADER + 56 * n, 7 * n);
  const u16 = new Uint16Array(ab, HEADER + 84 * n, 2 * n);
  const u8 = new Uint8Array(ab, HEADER + 88 * n, n);
  const strings: string[] = [];
  const index = new Map<string, number>();
  const str = (s: string | null): number => {
    if (s === null) return -1;
    let i = index.get(s);
    if (i === undefined) {
      if (typeof s !== 'string') throw new TypeError(`a block string must be text, not ${typeof s}`);
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  // Consecutive lives mostly share each of these: the last one's index, without a Map lookup.
  let lastNetns: string | null = null, netnsI = -1, lastLocal = '', localI = -1, lastRemote = '', remoteI = -1;
  let lastCommand: string | null = null, commandI = -1, lastRule: string | null = null, ruleI = -1;
  const remotes: string[] = [], names: string[] = [];
  const seen = new Uint8Array(n * 5 + 1); // by string index: 1 remote, 2 name
  const keys: string[] = [];
  let minStarted = Infinity, maxStarted = -Infinity, maxClosed = -Infinity;
  for (let i = 0; i < n; i++) {
    const l = lives[i];
    const dir = DIRECTION_CODE[l.direction];
    if (dir === undefined) throw new TypeError(`a life's direction must be one of ${DIRECTIONS.join(', ')}, not ${String(l.direction)}`);
    if (l.closedAt === null || typeof l.closedAt !== 'number') throw new TypeError('a block holds closed lives only');
    const fromKernel = 'cookie' in l;
    if (!fromKernel && typeof l.key !== 'string') throw new TypeError('a life needs a key');
    const started = l.openedAt ?? l.firstSeenAt;
    if (typeof started !== 'number' || !Number.isFinite(started)) throw new TypeError('a life needs a start time');
    if (started < minStarted) minStarted = started;
    if (started > maxStarted) maxStarted = started;
    if (l.closedAt > maxClosed) maxClosed = l.closedAt;
    const cookie = fromKernel ? kernelCookie(l.cookie, l.openedAt) : recorderCookie(l.key, l.openedAt);
    f64[6 * n + i] = cookie;
    if (cookie !== cookie) keys.push(keyOf(l));
    f64[i] = l.openedAt ?? NaN;
    f64[n + i] = l.closedAt;
    f64[2 * n + i] = l.firstSeenAt;
    f64[3 * n + i] = l.confidence;
    f64[4 * n + i] = l.bytesSent ?? NaN;
    f64[5 * n + i] = l.bytesReceived ?? NaN;
    i32[i] = l.pid ?? -1;
    i32[n + i] = l.retransmits ?? -1;
    i32[2 * n + i] = l.netns === lastNetns && i > 0 ? netnsI : (netnsI = str(lastNetns = l.netns));
    i32[3 * n + i] = l.localAddress === lastLocal && i > 0 ? localI : (localI = str(lastLocal = l.localAddress));
    i32[4 * n + i] = l.remoteAddress === lastRemote && i > 0 ? remoteI : (remoteI = str(lastRemote = l.remoteAddress));
    i32[5 * n + i] = l.command === lastCommand && i > 0 ? commandI : (commandI = str(lastCommand = l.command));
    i32[6 * n + i] = l.rule === lastRule && i > 0 ? ruleI : (ruleI = str(lastRule = l.rule));
    u16[i] = l.localPort;
    u16[n + i] = l.remotePort;
    u8[i] = (l.family === 'IPV6' ? F_IPV6 : 0) | (dir << F_DIR_SHIFT) | (l.observedBy === 'SNAPSHOT' ? F_SNAPSHOT : 0) |
      (l.certain ? F_CERTAIN : 0) | (l.preExisting ? F_PRE : 0);
  }
  for (let i = 0; i < n; i++) {
    const r = i32[4 * n + i], ns = i32[2 * n + i], c = i32[5 * n + i];
    if (!(seen[r] & 1)) { seen[r] |= 1; remotes.push(strings[r]); }
    if (ns >= 0 && !(seen[ns] & 2)) { seen[ns] |= 2; names.push(strings[ns]); }
    if (c >= 0 && !(seen[c] & 2)) { seen[c] |= 2; names.push(strings[c]); }
  }
  const peers = Buffer.concat(remotes.map(remoteKey).sort(Buffer.compare));
  const stringText = JSON.stringify(strings);
  const tail = Buffer.from(stringText + JSON.stringify(keys));
  const stringBytes = Buffer.byteLength(stringText);
  new Uint32Array(ab, 0, 4).set([VERSION, n, stringBytes, tail.length - stringBytes]);
  const data = Buffer.concat([Buffer.from(ab), tail]);
  const lp = distinct(u16.subarray(0, n)), rp = distinct(u16.subarray(n));
  const ports = new Uint16Array(1 + lp.length + rp.length);
  ports[0] = lp.length;
  ports.set(lp, 1);
  ports.set(rp, 1 + lp.length);
  return { minStarted, maxStarted, maxClosed, count: n, ports: Buffer.from(ports.buffer), peers, names: JSON.stringify(names), data };
}

/**
 * c when key is `k:<c>:<openedAt>` exactly (c a safe integer, both in canonical decimal), else
 * NaN. Read digit by digit: a slice, a Number() and a template per life cost ~0.4 µs under churn.
 */
function recorderCookie(key: string, openedAt: number | null): number {
  if (openedAt === null || !Number.isSafeInteger(openedAt) || openedAt < 0 || key.charCodeAt(0) !== 107 || key.charCodeAt(1) !== 58) return NaN;
  let i = 2, c = 0;
  const len = key.length;
  for (; i < len; i++) {
    const d = key.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    c = c * 10 + d;
  }
  // No digits, a leading zero (not what `${c}` writes), past 2^53, or no ':' after the cookie.
  if (i === 2 || (key.charCodeAt(2) === 48 && i > 3) || !Number.isSafeInteger(c) || key.charCodeAt(i) !== 58) return NaN;
  let o = 0;
  const start = ++i;
  for (; i < len; i++) {
    const d = key.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    o = o * 10 + d;
  }
  if (i === start || (key.charCodeAt(start) === 48 && i > start + 1) || o !== openedAt) return NaN;
  return c;
}

/** A ClosedKernelLife's cookie when its key `k:<cookie>:<openedAt>` can be rebuilt from it, else NaN. */
function kernelCookie(cookie: number, openedAt: number): number {
  return Number.isSafeInteger(cookie) && cookie >= 0 && Number.isSafeInteger(openedAt) && openedAt >= 0 ? cookie : NaN;
}

/** The distinct values of `a`, sorted (a copy). */
function distinct(a: Uint16Array): Uint16Array {
  const s = a.slice().sort();
  let k = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[k - 1]) s[k++] = s[i];
  return s.subarray(0, k);
}

/** Which ports a block holds, read from its ports column without decoding the block. */
export function blockHasPort(ports: Buffer, port: number, side: 'local' | 'remote' | 'either'): boolean {
  const u = aligned(ports, 2);
  const all = new Uint16Array(u.buffer, u.byteOffset, u.byteLength >> 1);
  const nLocal = all[0];
  if (side !== 'remote' && sortedHas(all, 1, 1 + nLocal, port)) return true;
  return side !== 'local' && sortedHas(all, 1 + nLocal, all.length, port);
}

function sortedHas(a: Uint16Array, lo: number, end: number, v: number): boolean {
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < end && a[lo] === v;
}

/** Whether a block's peers column holds a key in [lo, hi]. */
export function blockHasPeer(peers: Buffer, lo: Buffer, hi: Buffer): boolean {
  let a = 0, b = peers.length >> 4;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (peers.compare(lo, 0, 16, mid << 4, (mid << 4) + 16) < 0) a = mid + 1;
    else b = mid;
  }
  return a < peers.length >> 4 && peers.compare(hi, 0, 16, a << 4, (a << 4) + 16) <= 0;
}

/** A decoded block: columns as typed arrays over one copy of the data. */
export class DecodedBlock {
  readonly n: number;
  readonly opened: Float64Array;
  readonly closed: Float64Array;
  readonly firstSeen: Float64Array;
  readonly confidence: Float64Array;
  readonly bytesSent: Float64Array;
  readonly bytesReceived: Float64Array;
  readonly cookie: Float64Array;
  readonly pid: Int32Array;
  readonly retransmits: Int32Array;
  readonly netns: Int32Array;
  readonly localAddress: Int32Array;
  readonly remoteAddress: Int32Array;
  readonly command: Int32Array;
  readonly rule: Int32Array;
  readonly localPort: Uint16Array;
  readonly remotePort: Uint16Array;
  readonly flags: Uint8Array;
  readonly strings: string[];
  private keysText: string;
  private keys: string[] | null = null;

  constructor(readonly id: number, data: Buffer) {
    const u = aligned(data, 8);
    const ab = u.buffer, o = u.byteOffset;
    const [version, n, stringBytes, keyBytes] = new Uint32Array(ab, o, 4);
    if (version !== VERSION) throw new Error(`life block ${id} has version ${version}, this tcpdir reads ${VERSION}`);
    this.n = n;
    const f = (c: number) => new Float64Array(ab, o + HEADER + c * 8 * n, n);
    const i = (c: number) => new Int32Array(ab, o + HEADER + 56 * n + c * 4 * n, n);
    [this.opened, this.closed, this.firstSeen, this.confidence, this.bytesSent, this.bytesReceived, this.cookie] = [0, 1, 2, 3, 4, 5, 6].map(f);
    [this.pid, this.retransmits, this.netns, this.localAddress, this.remoteAddress, this.command, this.rule] = [0, 1, 2, 3, 4, 5, 6].map(i);
    this.localPort = new Uint16Array(ab, o + HEADER + 84 * n, n);
    this.remotePort = new Uint16Array(ab, o + HEADER + 86 * n, n);
    this.flags = new Uint8Array(ab, o + HEADER + 88 * n, n);
    const tail = Buffer.from(ab, o + HEADER + 89 * n, stringBytes + keyBytes);
    this.strings = JSON.parse(tail.toString('utf8', 0, stringBytes)) as string[];
    this.keysText = tail.toString('utf8', stringBytes);
  }

  started(i: number): number {
    const o = this.opened[i];
    return o === o ? o : this.firstSeen[i]; // NaN: pre-existing
  }

  direction(i: number): LifeDirection { return DIRECTIONS[(this.flags[i] & F_DIR_MASK) >> F_DIR_SHIFT]; }

  private keysOf: (Buffer | null)[] | null = null;

  /** The 16-byte key of string k as a remote address (computed once per decoded block). */
  remoteKey(k: number): Buffer | null {
    if (this.keysOf === null) this.keysOf = new Array<Buffer | null>(this.strings.length);
    let key = this.keysOf[k];
    if (key === undefined) key = this.keysOf[k] = addressKey(this.strings[k]);
    return key;
  }

  /** The string table index of `s`, or -2 when the block does not hold it. */
  indexOf(s: string): number {
    const i = this.strings.indexOf(s);
    return i < 0 ? -2 : i;
  }

  /** Approximate bytes held (for a bounded cache). */
  get bytes(): number { return this.n * 89 + this.keysText.length + 64 * this.strings.length; }

  /** Life i's key: rebuilt from its cookie, or from the key list (where life i's is preceded by
   * those of the earlier lives without a cookie). */
  key(i: number): string {
    const c = this.cookie[i];
    if (c === c) return `k:${c}:${this.opened[i]}`;
    if (this.keys === null) {
      const list = JSON.parse(this.keysText) as string[];
      this.keysText = '';
      this.keys = new Array<string>(this.n);
      for (let j = 0, k = 0; j < this.n; j++) if (this.cookie[j] !== this.cookie[j]) this.keys[j] = list[k++];
    }
    return this.keys[i];
  }

  /** Life i as the store returns it; its id is `b<block>.<i>`. */
  life(i: number): StoredLife {
    const s = (x: number): string | null => (x < 0 ? null : this.strings[x]);
    const num = (x: number): number | null => (x === x ? x : null);
    const flags = this.flags[i];
    return {
      id: `b${this.id}.${i}`, key: this.key(i), netns: s(this.netns[i]), family: flags & F_IPV6 ? 'IPV6' : 'IPV4',
      localAddress: this.strings[this.localAddress[i]], localPort: this.localPort[i],
      remoteAddress: this.strings[this.remoteAddress[i]], remotePort: this.remotePort[i],
      direction: this.direction(i), confidence: this.confidence[i], certain: (flags & F_CERTAIN) !== 0, rule: s(this.rule[i]),
      openedAt: num(this.opened[i]), closedAt: this.closed[i], firstSeenAt: this.firstSeen[i], preExisting: (flags & F_PRE) !== 0,
      pid: this.pid[i] < 0 ? null : this.pid[i], command: s(this.command[i]),
      bytesSent: num(this.bytesSent[i]), bytesReceived: num(this.bytesReceived[i]),
      retransmits: this.retransmits[i] < 0 ? null : this.retransmits[i], observedBy: OBSERVED[flags & F_SNAPSHOT ? 1 : 0],
    };
  }
}

/** `b` itself when its offset suits typed arrays of `align` bytes, else a copy that does. */
function aligned(b: Buffer, align: number): Uint8Array {
  return b.byteOffset % align === 0 ? b : new Uint8Array(b);
}
