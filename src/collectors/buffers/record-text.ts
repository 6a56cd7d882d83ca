import { formatIPv4, formatIPv6 } from '../../model/address';

/**
 * A socket cookie (u64, as two little-endian 32-bit words) as decimal text. Cookies are counters
 * far below 2^53, exact as a Number: BigInt only beyond.
 */
export function cookieText(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * 4294967296 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

interface V6Entry { w0: number; w1: number; w2: number; w3: number; text: string }

/**
 * Address text for binary records (sock_diag and eBPF records alike), each distinct address
 * formatted once per decode: most sockets share a few (every loopback connection, every
 * listener on ::). Keys are int32 words, so a hit allocates nothing (less garbage, fewer
 * scavenges than a string key per lookup).
 */
export class AddressTextCache {
  private readonly v4 = new Map<number, string>();
  private readonly mapped = new Map<number, string>(); // ::ffff:a.b.c.d by its IPv4 word
  private readonly low = new Map<number, string>(); // ::, ::1 and other addresses with 96 zero bits
  private readonly v6 = new Map<number, V6Entry[]>(); // anything else, by a hash of the four words

  constructor(private readonly buf: Buffer, private readonly dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)) {}

  /** The IPv4 address in the 4 bytes at `off` (network order). */
  v4At(off: number): string {
    const k = this.dv.getInt32(off, false);
    let s = this.v4.get(k);
    if (s === undefined) this.v4.set(k, (s = formatIPv4(this.buf, off)));
    return s;
  }

  /** The IPv6 address in the 16 bytes at `off` (network order), RFC 5952 text. */
  v6At(off: number): string {
    const dv = this.dv;
    const w0 = dv.getInt32(off, false), w1 = dv.getInt32(off + 4, false);
    const w2 = dv.getInt32(off + 8, false), w3 = dv.getInt32(off + 12, false);
    if (w0 === 0 && w1 === 0 && (w2 === 0xffff || w2 === 0)) {
      const m = w2 === 0 ? this.low : this.mapped;
      let s = m.get(w3);
      if (s === undefined) m.set(w3, (s = formatIPv6(this.buf, off)));
      return s;
    }
    const h = (Math.imul(Math.imul(Math.imul(w0, 31) ^ w1, 31) ^ w2, 31) ^ w3) | 0;
    let bucket = this.v6.get(h);
    if (bucket === undefined) this.v6.set(h, (bucket = []));
    for (let j = 0; j < bucket.length; j++) {
      const e = bucket[j];
      if (e.w0 === w0 && e.w1 === w1 && e.w2 === w2 && e.w3 === w3) return e.text;
    }
    const text = formatIPv6(this.buf, off);
    bucket.push({ w0, w1, w2, w3, text });
    return text;
  }
}
