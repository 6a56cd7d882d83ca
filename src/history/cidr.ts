// Addresses as 16-byte keys, so that an address or a CIDR is one BETWEEN range on an index.
// IPv4 is stored IPv4-mapped (::ffff:a.b.c.d): an IPv4 CIDR then also matches the IPv4-mapped
// IPv6 peers of dual-stack sockets, and the two spellings of one host compare equal.
import { isIP } from 'node:net';
import { parseIPv6 } from '../model/address';

/** The 16-byte key of an address, or null when `text` is no IP address. */
export function addressKey(text: string): Buffer | null {
  const kind = isIP(text);
  if (kind === 4) {
    const b = Buffer.alloc(16);
    b[10] = 0xff; b[11] = 0xff;
    text.split('.').forEach((x, i) => { b[12 + i] = Number(x); });
    return b;
  }
  if (kind === 6) {
    const bytes = parseIPv6(text);
    return bytes ? Buffer.from(bytes) : null;
  }
  return null;
}

/** Inclusive key range [lo, hi]. */
export interface AddressRange { lo: Buffer; hi: Buffer }

/**
 * The key range of an address ("10.0.0.1", "fd00::1") or a CIDR ("10.0.0.0/8", "fd00::/64"), or
 * null when it is neither. Host bits in a CIDR are ignored (10.1.2.3/8 is 10.0.0.0/8).
 */
export function addressRange(text: string): AddressRange | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const key = addressKey(addr);
  if (!key) return null;
  if (slash < 0) return { lo: key, hi: key };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const v4 = isIP(addr) === 4;
  const prefix = Number(prefixText);
  if (prefix > (v4 ? 32 : 128)) return null;
  const bits = v4 ? prefix + 96 : prefix;
  const lo = Buffer.from(key), hi = Buffer.from(key);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i)); // prefix bits that fall in byte i
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    lo[i] &= mask;
    hi[i] = (hi[i] & mask) | (~mask & 0xff);
  }
  return { lo, hi };
}
