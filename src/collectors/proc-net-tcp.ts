import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { formatIPv4, formatIPv6, stateName, type AddressFamily, type Socket } from '../model';

/** A /proc/net/tcp{,6} line that is not what the kernel prints; names the file and 1-based line. */
export class ProcParseError extends Error {
  readonly code = 'EPROCPARSE';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'ProcParseError';
  }
}

// The kernel prints each 32-bit address word with %08X of the in-memory (network-order) word read
// as a host integer, so on little-endian hosts every 4-byte group comes out byte-reversed.
const LITTLE_ENDIAN = endianness() === 'LE';
// tm->when is in clock_t ticks (USER_HZ, 100 on every Linux ABI); netlink reports milliseconds.
const MS_PER_TICK = 10;

function isHex(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isDec(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Address hex as printed by /proc/net/tcp{,6} -> bytes in network order (caller checked the hex). */
function addressBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let w = 0; w < out.length; w += 4) {
    for (let i = 0; i < 4; i++) {
      const byte = parseInt(hex.substr((w + i) * 2, 2), 16);
      out[LITTLE_ENDIAN ? w + 3 - i : w + i] = byte;
    }
  }
  return out;
}

/** Splits "HEX:HEX" into two parts of the given lengths (0 = any non-empty length), or null. */
function pair(tok: string, lenA: number, lenB: number): [string, string] | null {
  const c = tok.indexOf(':');
  if (c < 0) return null;
  const a = tok.slice(0, c);
  const b = tok.slice(c + 1);
  if (!isHex(a) || !isHex(b)) return null;
  if ((lenA && a.length !== lenA) || (lenB && b.length !== lenB)) return null;
  return [a, b];
}

/**
 * Parses the text of /proc/net/tcp (family IPV4) or /proc/net/tcp6 (IPV6). Pure.
 * `fileName` only labels errors. Throws ProcParseError on any line the kernel would not print.
 *
 * procfs has no cookie, tcp_info or v6only; LISTEN rows carry the accept-queue length in
 * rx_queue but not the backlog, so `wqueue` of a listener is tx_queue (0), not the backlog.
 */
export function parseProcNetTcp(text: string, family: AddressFamily, fileName: string): Socket[] {
  const addrLen = family === 'IPV4' ? 8 : 32;
  const fmt = family === 'IPV4' ? formatIPv4 : formatIPv6;
  const lines = text.split('\n');
  if (lines.length === 0 || !lines[0].trimStart().startsWith('sl')) {
    throw new ProcParseError(fileName, 1, 'missing "sl local_address ..." header');
  }
  // Most rows share a few addresses (loopback, wildcard, the host's own): decode each once.
  const addrCache = new Map<string, string>();
  const addr = (hex: string): string => {
    let s = addrCache.get(hex);
    if (s === undefined) {
      s = fmt(addressBytes(hex));
      addrCache.set(hex, s);
    }
    return s;
  };
  const seen = new Map<string, number>();
  const out: Socket[] = [];
  const famTag = family === 'IPV4' ? '4' : '6';
  for (let n = 1; n < lines.length; n++) {
    const raw = lines[n];
    // The kernel pads rows with spaces to a fixed width; the file ends with "\n".
    if (raw.trim() === '') {
      if (n === lines.length - 1) break;
      throw new ProcParseError(fileName, n + 1, 'empty line');
    }
    const f = raw.trim().split(/ +/);
    const bad = (why: string): never => {
      throw new ProcParseError(fileName, n + 1, `${why}: ${JSON.stringify(raw.trim().slice(0, 120))}`);
    };
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode [refcnt ptr ...]
    if (f.length < 10) bad(`truncated row (${f.length} fields, need at least 10)`);
    if (!/^\d+:$/.test(f[0])) bad('bad slot number');
    const local = pair(f[1], addrLen, 4) ?? bad('bad local_address');
    const remote = pair(f[2], addrLen, 4) ?? bad('bad rem_address');
    if (!isHex(f[3]) || f[3].length !== 2) bad('bad state');
    const code = parseInt(f[3], 16);
    if (code < 1 || code > 12) bad(`unknown TCP state 0x${f[3]}`);
    const queues = pair(f[4], 8, 8) ?? bad('bad tx_queue:rx_queue');
    const timer = pair(f[5], 2, 0) ?? bad('bad tr:tm->when');
    if (!isHex(f[6])) bad('bad retrnsmt');
    if (!isDec(f[7])) bad('bad uid');
    if (!isDec(f[8])) bad('bad timeout');
    if (!isDec(f[9])) bad('bad inode');

    const state = stateName(code);
    const localAddress = addr(local[0]);
    const localPort = parseInt(local[1], 16);
    const remoteAddress = addr(remote[0]);
    const remotePort = parseInt(remote[1], 16);
    const inode = Number(f[9]);
    // The tuple names a connection for its whole life; listeners sharing a port (SO_REUSEPORT)
    // differ only by inode, which a listener keeps until it closes.
    let id = state === 'LISTEN'
      ? `p:${famTag}:${localAddress}:${localPort}:L${inode}`
      : `p:${famTag}:${localAddress}:${localPort}:${remoteAddress}:${remotePort}`;
    const dup = seen.get(id);
    if (dup !== undefined) {
      // Same tuple twice in one read (a TIME_WAIT being replaced, or a race with the reader).
      seen.set(id, dup + 1);
      id = `${id}#${dup + 1}`;
    } else {
      seen.set(id, 1);
    }
    out.push({
      id,
      cookie: null,
      family,
      state,
      localAddress,
      localPort,
      remoteAddress,
      remotePort,
      inode,
      uid: Number(f[7]),
      timer: parseInt(timer[0], 16),
      retrans: parseInt(f[6], 16),
      expiresMs: parseInt(timer[1], 16) * MS_PER_TICK,
      rqueue: parseInt(queues[1], 16),
      wqueue: parseInt(queues[0], 16),
      v6only: null,
      tcpInfo: null,
    });
  }
  return out;
}

/** Reads and parses `<root>/net/tcp` and `<root>/net/tcp6`. A missing tcp6 (IPv6 disabled) is empty. */
export async function readProcNetTcp(root = '/proc'): Promise<Socket[]> {
  const p4 = join(root, 'net', 'tcp');
  const p6 = join(root, 'net', 'tcp6');
  const [t4, t6] = await Promise.all([
    readFile(p4, 'latin1'),
    readFile(p6, 'latin1').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    }),
  ]);
  const v4 = parseProcNetTcp(t4, 'IPV4', p4);
  return t6 === null ? v4 : v4.concat(parseProcNetTcp(t6, 'IPV6', p6));
}
