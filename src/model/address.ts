import { isIP } from 'node:net';

/** IPv4 from 4 bytes in network order. */
export function formatIPv4(b: ArrayLike<number>, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * RFC 5952 text of 16 bytes in network order: lower-case hex, the longest run (>= 2) of
 * zero groups compressed (the first on a tie), IPv4-mapped addresses as ::ffff:a.b.c.d.
 */
export function formatIPv6(b: ArrayLike<number>, off = 0): string {
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, off + 12)}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

/** 16 bytes of an IPv6 text address, or null when it is not one. */
export function parseIPv6(text: string): Uint8Array | null {
  if (isIP(text) !== 6) return null;
  let s = text;
  const out = new Uint8Array(16);
  // A trailing dotted quad occupies the last two groups.
  const dot = s.lastIndexOf('.');
  let tailV4: number[] | null = null;
  if (dot >= 0) {
    const colon = s.lastIndexOf(':');
    tailV4 = s.slice(colon + 1).split('.').map(Number);
    s = `${s.slice(0, colon + 1)}0:0`;
  }
  const [left, right] = s.includes('::') ? s.split('::') : [s, null];
  const lg = left ? left.split(':') : [];
  const rg = right === null ? [] : right ? right.split(':') : [];
  const groups = [...lg, ...new Array<string>(8 - lg.length - rg.length).fill('0'), ...rg];
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i], 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** Canonical text of an address as tcpdir prints it, or null when `text` is no IP address. */
export function canonicalAddress(text: string): string | null {
  const t = text.trim();
  const kind = isIP(t);
  if (kind === 4) return t.split('.').map((x) => String(Number(x))).join('.');
  if (kind === 6) {
    const b = parseIPv6(t);
    return b ? formatIPv6(b) : null;
  }
  return null;
}

/** `::ffff:a.b.c.d` -> `a.b.c.d`; anything else unchanged. */
export function unmapIPv4(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

export function isIPv4Mapped(addr: string): boolean {
  return addr.startsWith('::ffff:') && addr.includes('.');
}

export function isWildcard(addr: string): boolean {
  return addr === '0.0.0.0' || addr === '::';
}

export function isLoopback(addr: string): boolean {
  const a = unmapIPv4(addr);
  return a === '::1' || a.startsWith('127.');
}

/** `addr:port` with IPv6 in brackets. */
export function formatEndpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
